"""Erasure: look again everywhere; fail loudly if anything remains; write the certificate."""

from __future__ import annotations

from typing import Any

from step_common import logger, request_id_of, steps


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = request_id_of(event)
    logger.append_keys(request_id=request_id, step="verify_erasure")
    result = steps().verify_erasure(request_id)
    logger.info("step done")
    return result
