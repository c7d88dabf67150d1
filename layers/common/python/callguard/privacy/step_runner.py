"""Every step handler of the privacy workflow (one file per step, ``functions/privacy_steps/<verb_noun>.py``)
is built here, from one table: parse the step input, call the step on the services wiring built for
this invocation, answer.

Each step function gets a logger and a service graph of its own (:class:`StepHandler`): in Lambda each
is its own process anyway; in the embedded stack, where they share one, a step still logs under its own
service name and never sees another step's invocation.

A new invocation gets a new service graph (:meth:`callguard.clients.Lazy.per_invocation`): the
subject keys the keyring unwrapped and the counts an erasure certificate reports never reach the
next request's steps.

With tenants listed, the step input names the request's tenant (the privacy API put it into the
execution input from the filer's token); the step acts for it (:func:`tenant_of`), so its subject keys
and pseudonyms are that tenant's. Without it (v1's input) the step acts for the default tenant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from callguard.clients import Lazy
from callguard.privacy.steps import PrivacySteps
from callguard.security.tenancy import DEFAULT_TENANT, TENANT_ID_PATTERN, acting_for
from callguard.wiring import build_privacy_steps

__all__ = ["STEPS", "StepHandler", "request_id_of", "step_handler", "tenant_of"]

_TENANT = re.compile(TENANT_ID_PATTERN)

_REQUEST_ID = re.compile(r"^pr-[0-9a-f]{20}$")

Event = dict[str, Any]
Step = Callable[[PrivacySteps, str, Event], dict[str, Any]]


def request_id_of(event: Event) -> str:
    request_id = str(event.get("request_id", ""))
    if not _REQUEST_ID.match(request_id):
        raise ValueError("the step input holds no valid request id")
    return request_id


def tenant_of(event: Event) -> str:
    """The tenant the step acts for: the execution input's (written by the privacy API from the filer's
    token), the default tenant when the input names none (v1)."""
    tenant = event.get("tenant", DEFAULT_TENANT)
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise ValueError("the step input holds no valid tenant")
    return tenant


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


class StepHandler:
    """The Lambda handler of one step: ``deps`` is its :class:`Lazy` service graph (``deps(clients)``
    injects clients, as for every other handler)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.step = STEPS[name]
        self.logger = Logger()  # reads this function's POWERTOOLS_SERVICE_NAME
        self.deps: Lazy[PrivacySteps] = Lazy(build_privacy_steps)
        self._invoke = self.logger.inject_lambda_context(clear_state=True, log_event=False)(
            self.deps.per_invocation(self._run)
        )

    def __call__(self, event: Event, context: Any) -> dict[str, Any]:
        return self._invoke(event, context)

    def _run(self, event: Event, context: Any) -> dict[str, Any]:
        request_id = request_id_of(event)
        page = {"page": event["page"]} if "page" in event else {}
        tenant = tenant_of(event)
        self.logger.append_keys(request_id=request_id, step=self.name, tenant=tenant, **page)
        with acting_for(tenant):
            result = self.step(self.deps(), request_id, event)
        self.logger.info("step done", extra={"more": result["next_page"] is not None} if "next_page" in result else {})
        return result


def step_handler(name: str) -> StepHandler:
    """The Lambda handler of step ``name``."""
    return StepHandler(name)
