"""Access and portability: one page of the subject's data into a part object in the exports bucket."""

from __future__ import annotations

from typing import Any

from step_common import logger, request_id_of, steps


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = request_id_of(event)
    page = event.get("page", 0)
    if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < 100_000:
        raise ValueError("the step input holds no valid page number")
    logger.append_keys(request_id=request_id, step="collect_subject_data", page=page)
    result = steps().collect_subject_data(request_id, page)
    logger.info("step done", extra={"more": result["next_page"] is not None})
    return result
