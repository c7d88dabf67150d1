"""Access and portability: stream the collected pages into one JSON export, remove the pages."""

from __future__ import annotations

from typing import Any

from step_common import logger, request_id_of, steps


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = request_id_of(event)
    logger.append_keys(request_id=request_id, step="assemble_export")
    result = steps().assemble_export(request_id)
    logger.info("step done")
    return result
