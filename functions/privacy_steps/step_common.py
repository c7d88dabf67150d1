"""Every step handler of the privacy workflow (one file per step, verb_noun) is built here, from one
table: parse the step input, call the step on the services wiring built for this invocation, answer.

A new invocation gets a new service graph (:meth:`callguard.clients.Lazy.per_invocation`): the
subject keys the keyring unwrapped and the counts an erasure certificate reports never reach the
next request's steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from callguard.clients import Lazy
from callguard.privacy_steps import PrivacySteps
from callguard.wiring import build_privacy_steps

__all__ = ["STEPS", "logger", "request_id_of", "step_handler", "steps"]

logger = Logger()
_REQUEST_ID = re.compile(r"^pr-[0-9a-f]{20}$")
steps: Lazy[PrivacySteps] = Lazy(build_privacy_steps)

Event = dict[str, Any]
Step = Callable[[PrivacySteps, str, Event], dict[str, Any]]


def request_id_of(event: Event) -> str:
    request_id = str(event.get("request_id", ""))
    if not _REQUEST_ID.match(request_id):
        raise ValueError("the step input holds no valid request id")
    return request_id


def _page(event: Event) -> int:
    page = event.get("page", 0)
    if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < 100_000:
        raise ValueError("the step input holds no valid page number")
    return page


def _error_name(event: Event) -> str:
    """The error's name only (never its message: a message could quote data)."""
    error = event.get("error") or {}
    return str(error.get("Error", "unknown"))[:100] if isinstance(error, dict) else "unknown"


#: step name → what it does with the request id and the rest of the step input
STEPS: dict[str, Step] = {
    "route_request": lambda s, r, e: s.route_request(r),
    "await_verification": lambda s, r, e: s.await_verification(r, str(e["task_token"])),
    "await_approval": lambda s, r, e: s.await_approval(r, str(e["task_token"])),
    "collect_subject_data": lambda s, r, e: s.collect_subject_data(r, _page(e)),
    "assemble_export": lambda s, r, e: s.assemble_export(r),
    "check_legal_hold": lambda s, r, e: s.check_legal_hold(r),
    "shred_subject_key": lambda s, r, e: s.shred_subject_key(r),
    "delete_subject_data": lambda s, r, e: s.delete_subject_data(r),
    "verify_erasure": lambda s, r, e: s.verify_erasure(r),
    "apply_restriction": lambda s, r, e: s.apply_restriction(r),
    "record_objection": lambda s, r, e: s.record_objection(r),
    "apply_rectification": lambda s, r, e: s.apply_rectification(r),
    "complete_request": lambda s, r, e: s.complete_request(r),
    "mark_rejected": lambda s, r, e: s.mark_rejected(r, str(e.get("reason", "rejected"))),
    "mark_failed": lambda s, r, e: s.mark_failed(r, _error_name(e)),
}


def step_handler(name: str) -> Callable[[Event, Any], dict[str, Any]]:
    """The Lambda handler of step ``name``."""
    step = STEPS[name]

    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @steps.per_invocation
    def lambda_handler(event: Event, context: Any) -> dict[str, Any]:
        request_id = request_id_of(event)
        logger.append_keys(request_id=request_id, step=name, **({"page": event["page"]} if "page" in event else {}))
        result = step(steps(), request_id, event)
        logger.info("step done", extra={"more": result["next_page"] is not None} if "next_page" in result else {})
        return result

    return lambda_handler
