"""Every step handler of the tenant offboarding workflow (``functions/offboarding/<step>.py``) is
built here from one table: read the tenant from the step input (the operator's execution input,
never a tenant's token), build that tenant's :class:`~callguard.privacy.offboarding.Offboarding`
for this invocation, run the step, log its progress (counts, never a key), answer.

A new invocation builds a new graph: no run state, cursor or count outlives it; everything a step
must remember is in the run journal (:class:`~callguard.storage.tenant_data.OffboardingRuns`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from callguard.clients import AwsClients
from callguard.privacy.offboarding import Offboarding
from callguard.wiring import build_offboarding

__all__ = ["STEPS", "OffboardingStep", "offboarding_step"]

Event = dict[str, Any]

#: step name → what it does (the state machine's states, in order)
STEPS: dict[str, Callable[[Offboarding], dict[str, Any]]] = {
    "start_offboarding": lambda o: o.start(),
    "shred_tenant_keys": lambda o: o.shred_keys(),
    "delete_tenant_data": lambda o: o.delete_data(),
    "verify_tenant_gone": lambda o: o.verify(),
    "issue_offboarding_certificate": lambda o: o.certify(),
}


class OffboardingStep:
    """The Lambda handler of one step; ``clients`` may be injected (tests, the local stack)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.step = STEPS[name]
        self.logger = Logger()  # reads this function's POWERTOOLS_SERVICE_NAME
        self.clients: AwsClients | None = None
        self._invoke = self.logger.inject_lambda_context(clear_state=True, log_event=False)(self._run)

    def __call__(self, event: Event, context: Any) -> dict[str, Any]:
        return self._invoke(event, context)

    def _run(self, event: Event, context: Any) -> dict[str, Any]:
        if self.clients is None:
            self.clients = AwsClients()
        offboarding = build_offboarding(self.clients, tenant=(event or {}).get("tenant"))
        self.logger.append_keys(tenant=offboarding.tenant, step=self.name)
        result = self.step(offboarding)
        progress: dict[str, object] = {
            k: result[k] for k in ("run_id", "phase", "more", "removed_so_far") if k in result
        }
        self.logger.info("step done", extra=progress)
        return result


def offboarding_step(name: str) -> OffboardingStep:
    """The Lambda handler of step ``name``."""
    return OffboardingStep(name)
