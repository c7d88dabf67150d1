"""A step that keeps failing is retried, then caught: the request ends failed with a reason.
An unverified request times out and is rejected."""

from __future__ import annotations

import pytest

from tests.conftest import Synth
from tests.e2e.conftest import run_script_report

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return run_script_report(
        "tests.e2e.privacy_faults", synth, tmp_path_factory.mktemp("faults"), timeout=300, show_output=True
    )


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
