"""`make smoke` against the embedded stack: the same script DevOps runs after a deploy, over HTTP, with
local tokens, so its requests are the product's real ones (and every AWS call they cause is judged
against the template's policies by the permission proof)."""

from __future__ import annotations

import pytest

from callguard_cli import smoke
from local.client import fetch_token, http
from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_smoke_passes_against_a_working_stack_and_erases_what_it_stored(stack: RunningStack) -> None:
    run = smoke.Smoke(
        api_url=stack.api_url,
        token=fetch_token("platform", stack.state_file),
        agent_token=fetch_token("agent", stack.state_file),
        compliance_token=fetch_token("compliance", stack.state_file),
        approver_token=fetch_token("compliance", stack.state_file, user="smoke-approver"),  # four-eyes
        wait_seconds=60,
    )
    assert run.run(), run.report()
    outcomes = {step: outcome for step, outcome, _ in run.results}
    assert outcomes == {
        "health": "ok",
        "ingest": "ok",
        "routing": "ok",
        "agent view": "ok",
        "privacy request": "ok",
        "alarm notification": "skipped",  # needs CloudWatch alarms in a real account
    }, run.report()
    # the erasure removed the smoke call: the agent view no longer finds it
    gone = http("GET", f"{stack.api_url}/v1/calls/{run.call_id}", token=fetch_token("agent", stack.state_file))
    assert gone.status == 404


def test_smoke_names_the_failing_step_and_exits_nonzero(
    stack: RunningStack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = smoke.main([], {"API_URL": stack.api_url, "TOKEN": "not-a-token", "SMOKE_WAIT_SECONDS": "2"})
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("health")
    assert " ok " in lines[0]
    ingest = next(line for line in lines if line.startswith("ingest"))
    assert "FAIL" in ingest
    assert "HTTP 401" in ingest
    assert "'unauthorized'" in ingest
    assert "not-a-token" not in out


def test_smoke_without_url_or_token_prints_usage() -> None:
    assert smoke.main([], {}) == 2
