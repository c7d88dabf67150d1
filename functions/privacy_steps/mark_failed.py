"""Marks the request failed with the error's name (never its message)."""

from __future__ import annotations

from typing import Any

from step_common import logger, request_id_of, steps


def _error_name(event: dict[str, Any]) -> str:
    error = event.get("error") or {}
    return str(error.get("Error", "unknown"))[:100] if isinstance(error, dict) else "unknown"


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = request_id_of(event)
    logger.append_keys(request_id=request_id, step="mark_failed")
    result = steps().mark_failed(request_id, _error_name(event))
    logger.info("step done")
    return result
