"""Four-eyes: stores the task token; the workflow waits until a second person approves (or times out)."""

from __future__ import annotations

from typing import Any

from step_common import logger, request_id_of, steps


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = request_id_of(event)
    logger.append_keys(request_id=request_id, step="await_approval")
    result = steps().await_approval(request_id, str(event["task_token"]))
    logger.info("step done")
    return result
