"""The compliance CLI against the local stack over HTTP: request, status, verify, download, holds, audit."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from callguard_cli.__main__ import app
from local.client import fetch_token, http, wait_for_request
from tests.e2e.conftest import RunningStack
from tests.support import call_body

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_cli_runs_an_access_request_end_to_end(stack: RunningStack, tmp_path: Path) -> None:
    platform, compliance = fetch_token("platform", stack.state_file), fetch_token("compliance", stack.state_file)
    http("POST", f"{stack.api_url}/v1/calls", call_body(call_id="cli-1", caller={"phone": "+49 160 5557777"}), platform)
    runner = CliRunner()
    common = ["--api-url", stack.api_url, "--token", compliance]

    filed = runner.invoke(app, ["privacy", "request", "access", "--phone", "+49 160 5557777", *common])
    assert filed.exit_code == 0, filed.output
    request_id = re.search(r"request (pr-[0-9a-f]+)", filed.output).group(1)  # type: ignore[union-attr]

    for _ in range(50):
        status = runner.invoke(app, ["privacy", "status", request_id, *common])
        if "awaiting_verification" in status.output:
            break
        time.sleep(0.2)
    assert "awaiting_verification" in status.output
    early = runner.invoke(app, ["privacy", "download", request_id, "--wait", "1", "-o", str(tmp_path / "x"), *common])
    assert early.exit_code == 1  # not complete within the wait: said so, nothing written
    assert "has no export (status awaiting_verification)" in early.output
    assert not (tmp_path / "x").exists()
    verified = runner.invoke(app, ["privacy", "verify", request_id, "--reference", "ticket-77", *common])
    assert verified.exit_code == 0, verified.output
    wait_for_request(stack.api_url, compliance, request_id, {"awaiting_approval"})
    refused = runner.invoke(app, ["privacy", "approve", request_id, *common])  # the filer and verifier: no
    assert refused.exit_code != 0
    assert "four_eyes_violation" in refused.output
    second = ["--api-url", stack.api_url, "--token", fetch_token("compliance", stack.state_file, user="cli-second")]
    approved = runner.invoke(app, ["privacy", "approve", request_id, *second])
    assert approved.exit_code == 0, approved.output
    target = tmp_path / "export.json"  # issued while the workflow still runs: --wait waits for completion
    downloaded = runner.invoke(app, ["privacy", "download", request_id, "--wait", "120", "-o", str(target), *common])
    assert downloaded.exit_code == 0, downloaded.output
    status = runner.invoke(app, ["privacy", "status", request_id, *common])
    assert "│ completed" in status.output
    assert "calls" in status.output  # the result is shown
    assert [c["call_id"] for c in json.loads(target.read_text())["data"]["calls"]] == ["cli-1"]

    placed = runner.invoke(app, ["privacy", "hold", "add", "--phone", "+49 160 5557777", "--reason", "audit", *common])
    hold_id = re.search(r"hold (hold-[0-9a-f]+)", placed.output).group(1)  # type: ignore[union-attr]
    held = runner.invoke(app, ["privacy", "hold", "list", *common])
    assert held.exit_code == 0, held.output
    assert hold_id in held.output
    assert "5557777" not in held.output
    assert runner.invoke(app, ["privacy", "hold", "remove", hold_id, *common]).exit_code == 0
    listed = runner.invoke(app, ["privacy", "list", "--status", "completed", "--type", "access", "--all", *common])
    assert listed.exit_code == 0, listed.output
    assert request_id in listed.output
    wrong = runner.invoke(app, ["privacy", "list", "--status", "finished", *common])
    assert wrong.exit_code == 1
    assert "status" in wrong.output
    day = runner.invoke(app, ["audit", "day", time.strftime("%Y-%m-%d", time.gmtime()), *common])
    assert day.exit_code == 0, day.output
    assert "intact" in day.output


def test_cli_reports_bad_input_and_refusals_clearly(stack: RunningStack) -> None:
    runner = CliRunner()
    agent = fetch_token("agent", stack.state_file)
    refused = runner.invoke(app, ["privacy", "request", "access", "--phone", "+49 160 1", "--api-url", stack.api_url,
                                  "--token", agent])  # fmt: skip
    assert refused.exit_code == 1
    assert "403" in refused.output
    missing = runner.invoke(app, ["privacy", "request", "access", "--api-url", stack.api_url, "--token", agent])
    assert missing.exit_code == 2
    assert "--phone" in missing.output


def test_cli_verifies_the_audit_chain(stack: RunningStack) -> None:
    """No names given: the CLI finds the running stack's table, anchors bucket, key and endpoint."""
    day = time.strftime("%Y-%m-%d", time.gmtime())
    result = CliRunner().invoke(
        app,
        ["audit", "verify", day],
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "CALLGUARD_LOCAL_STATE": str(stack.state_file)},
    )
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
