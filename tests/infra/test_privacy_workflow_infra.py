"""The privacy workflow as synthesized: Standard, encrypted, traced, logged without execution
data; every task retried with jitter and caught; exports collected in a loop of pages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Synth

pytestmark = pytest.mark.infra


def _definition(machine: dict[str, Any]) -> dict[str, Any]:
    body = machine["Properties"]["DefinitionString"]
    if isinstance(body, dict):  # Fn::Join of strings and ARNs: ARNs become placeholders
        body = "".join(p if isinstance(p, str) else "ARN" for p in body["Fn::Join"][1])
    definition: dict[str, Any] = json.loads(body)
    return definition


@pytest.fixture(scope="module")
def machine(synth: Synth) -> dict[str, Any]:
    (found,) = synth.resources("AWS::StepFunctions::StateMachine").values()
    return found


def test_standard_encrypted_traced_and_logged_without_execution_data(machine: dict[str, Any]) -> None:
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["EncryptionConfiguration"]["Type"] == "CUSTOMER_MANAGED_KMS_KEY"


def test_every_task_retries_with_jitter_and_every_step_but_the_failure_mark_is_caught(
    machine: dict[str, Any],
) -> None:
    states = _definition(machine)["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert len(tasks) >= 14
    for name, state in tasks.items():
        if not name.startswith("Await"):  # the task-token waits are not retried, they time out
            retry_all = [r for r in state["Retry"] if r["ErrorEquals"] == ["States.ALL"]]
            assert retry_all[0]["JitterStrategy"] == "FULL", name
        if name != "MarkFailed":
            assert state["Catch"], name


def test_four_eyes_waits_before_releasing_an_export_and_before_shredding(machine: dict[str, Any]) -> None:
    states = _definition(machine)["States"]
    assert states["AssembleExport"]["Next"] == "AwaitApprovalAccess"
    assert states["LegalHold?"]["Default"] == "AwaitApprovalErasure"
    for name, then in (("AwaitApprovalAccess", "CompleteRequestAccess"), ("AwaitApprovalErasure", "ShredSubjectKey")):
        wait = states[name]
        assert wait["Resource"].endswith(":lambda:invoke.waitForTaskToken"), name
        assert wait["Next"] == then
        caught = {tuple(c["ErrorEquals"]): c["Next"] for c in wait["Catch"]}
        assert caught[("ApprovalRecordedError",)] == then  # given before the wait: go on at once
        assert states[caught[("States.Timeout",)]]["Parameters"]["reason"] == "approval_timeout"
    verification = {tuple(c["ErrorEquals"]): c["Next"] for c in states["AwaitVerification"]["Catch"]}
    assert verification[("VerificationRecordedError",)] == "RouteRequest"  # verified before the wait


def test_exports_are_collected_page_by_page_and_assembled_once(machine: dict[str, Any]) -> None:
    states = _definition(machine)["States"]
    collect = states["CollectSubjectData"]
    assert collect["Parameters"] == {"request_id.$": "$.request_id", "page.$": "$.collect.next_page"}
    assert collect["ResultPath"] == "$.collect"
    assert states["FirstPage"]["Next"] == "CollectSubjectData"
    assert collect["Next"] == "MorePages?"
    more = states["MorePages?"]
    assert more["Choices"][0]["Next"] == "CollectSubjectData"
    assert more["Choices"][0]["IsNull"] is False
    assert more["Default"] == "AssembleExport"


def test_every_task_retries_lambda_throttling_first(machine: dict[str, Any]) -> None:
    """A flood of other invocations must not fail a privacy request: throttling is retried by every task,
    the task-token wait included (CDK's default list for it lacks TooManyRequestsException)."""
    tasks = {n: s for n, s in _definition(machine)["States"].items() if s["Type"] == "Task"}
    assert len(tasks) >= 14
    for name, state in tasks.items():
        first = state["Retry"][0]
        assert "Lambda.TooManyRequestsException" in first["ErrorEquals"], name
        assert first["MaxAttempts"] >= 3, name
        assert first.get("JitterStrategy") == "FULL", name


def test_synth_leaves_no_swallowed_error_behind(synth: Synth) -> None:
    """cdk.out/error.txt records the last error raised during synth, even a caught one: the CDK's
    intrinsic-function parser used to raise InvalidJsonPathExpression on "$.request_id" in the
    task-token payload (it stops at "_"); the payload now uses bracket notation."""
    assert not (synth.outdir / "error.txt").exists()
