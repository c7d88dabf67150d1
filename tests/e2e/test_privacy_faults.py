"""A step that keeps failing is retried, then caught: the request ends failed with a reason.
An unverified request times out and is rejected."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import Synth
from tests.e2e.conftest import free_port
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    state = tmp_path_factory.mktemp("faults") / "state.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.e2e.privacy_faults",
            str(synth.outdir),
            str(free_port()),
            str(free_port()),
            str(state),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


def test_a_failing_task_is_retried_then_caught_into_failed_with_a_reason(report: dict[str, object]) -> None:
    failed = report["failed"]
    assert isinstance(failed, dict)
    assert failed["status"] == "failed"
    assert failed["result"] == {"reason": "PlantedStoreOutageError"}  # the error's name, never its message
    assert report["delete_attempts"] == 4  # the first attempt and three jittered retries


def test_an_unverified_request_times_out_and_is_rejected(report: dict[str, object]) -> None:
    timeout = report["timeout"]
    assert isinstance(timeout, dict)
    assert (timeout["status"], timeout["result"]) == ("rejected", {"reason": "verification_timeout"})
