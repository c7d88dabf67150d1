"""Issue 15's acceptance: calls holding each kind of value the old detectors let through go
in over HTTP and through the analysis queue of the embedded stack; none of the planted values
is in the agent view, the stored analysis item, or any text sent to the Comprehend emulator.
The report names kinds and places only, so no assertion message can print a planted value."""

from __future__ import annotations

import pytest

from tests.conftest import Synth
from tests.e2e.conftest import run_script_report

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return run_script_report(
        "tests.e2e.redaction_acceptance", synth, tmp_path_factory.mktemp("acceptance"), timeout=400
    )


def test_every_call_was_accepted_and_analysed(report: dict[str, object]) -> None:
    kinds = report["kinds"]
    assert isinstance(kinds, int)
    assert kinds >= 25
    statuses = report["ingest_status"]
    assert isinstance(statuses, dict)
    assert set(statuses.values()) == {202}
    assert report["done"] == kinds
    assert report["analysis_items"] == kinds
    documents = report["comprehend_documents"]
    assert isinstance(documents, int)
    assert documents > 0


def test_no_planted_value_survives_in_the_view_the_analysis_or_comprehend(report: dict[str, object]) -> None:
    assert report["not_planted"] == []  # each value searched for is in the call that went in
    assert report["leaks"] == {}  # kind → places; never the values themselves
