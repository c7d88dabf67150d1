"""`make purge AS_OF=…`: the purge handler of the running stack, invoked through its Lambda
endpoint as EventBridge Scheduler would, printing only the JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import RunningStack
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _purge(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local", "purge", *args],
        cwd=ROOT,
        env={**os.environ, "CALLGUARD_LOCAL_STATE": str(stack.state_file)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_purge_runs_against_the_running_stack_and_prints_only_its_report(stack: RunningStack) -> None:
    as_of = datetime.now(UTC) + timedelta(days=1)
    done = _purge(stack, "--as-of", as_of.isoformat())
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # all of stdout is one JSON document
    assert report["complete"] is True
    assert datetime.fromisoformat(report["as_of"]) == as_of
    assert set(report["categories"]) >= {"transcripts", "calls", "subjects", "exports", "audit"}
    ddb = stack.client("dynamodb")
    privacy = next(t for t in ddb.list_tables()["TableNames"] if "Privacy" in t)
    stored = ddb.scan(
        TableName=privacy, FilterExpression="begins_with(pk, :p)", ExpressionAttributeValues={":p": {"S": "PURGE#"}}
    )["Items"]
    assert report["run_id"] in {json.loads(i["report"]["S"])["run_id"] for i in stored}


def test_a_bad_instant_is_refused_with_one_sentence_and_no_output(stack: RunningStack) -> None:
    done = _purge(stack, "--as-of", "2027-01-01T00:00:00")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "time zone" in done.stderr
    assert "Traceback" not in done.stderr
