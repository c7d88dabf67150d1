"""``callguard tenants offboard``: start the tenant offboarding workflow, show its progress, print its certificate.

The operator starts it (AWS credentials allowed to ``states:StartExecution`` on the offboarding state
machine), never a tenant's token: the API has no route for it. Against the running local stack when no
state machine is named (``make offboard TENANT=<id>``); against a deployed stack with
``--state-machine <ARN>`` (the stack's ``<stack name>-tenant-offboarding``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from callguard.names import OFFBOARDING_WORKFLOW_NAME

__all__ = ["OffboardingFailedError", "find_local_machine", "run_offboarding"]


class OffboardingFailedError(RuntimeError):
    """The execution ended without a certificate (the message: its status and error name)."""


def find_local_machine(sfn: Any) -> str:
    """The ARN of the running local stack's offboarding state machine."""
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"].endswith(f"-{OFFBOARDING_WORKFLOW_NAME}"):
                return str(machine["stateMachineArn"])
    raise OffboardingFailedError(
        "the running stack has no offboarding workflow: it exists only when the configuration lists tenants"
    )


def _progress(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The last step's answer (phase, counts so far; never a key), from the execution history."""
    try:
        events = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=20)["events"]
    except Exception:  # progress is a courtesy; the outcome comes from DescribeExecution
        return None
    for event in events:
        details = event.get("taskSucceededEventDetails") or event.get("lambdaFunctionSucceededEventDetails")
        if details and details.get("output"):
            output: dict[str, Any] = json.loads(details["output"])
            return output.get("Payload", output) if isinstance(output, dict) else None
    return None


def run_offboarding(
    sfn: Any,
    machine_arn: str,
    tenant: str,
    *,
    on_progress: Callable[[dict[str, Any]], None] = lambda _: None,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 3600.0,
) -> dict[str, Any]:
    """Start the offboarding of ``tenant`` and wait for its certificate (:class:`OffboardingFailedError`)."""
    name = f"offboard-{tenant}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"[:80]
    execution = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps({"tenant": tenant}))
    arn = execution["executionArn"]
    deadline = time.monotonic() + timeout_seconds
    last: dict[str, Any] | None = None
    while True:
        described = sfn.describe_execution(executionArn=arn)
        status = described["status"]
        if status == "SUCCEEDED":
            certificate: dict[str, Any] = json.loads(described["output"])
            return certificate
        if status != "RUNNING":
            error = described.get("error") or status
            raise OffboardingFailedError(f"the offboarding execution ended {status} ({error})")
        if time.monotonic() > deadline:
            raise OffboardingFailedError("the offboarding execution is still running; it resumes if started again")
        progress = _progress(sfn, arn)
        if progress and progress != last:
            on_progress(progress)
            last = progress
        time.sleep(poll_seconds)
