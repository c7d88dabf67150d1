"""`make bench` reports every goal of issue 17 beside its measure, and judges each from the numbers."""

from __future__ import annotations

import pytest

from bench.run import goals

pytestmark = pytest.mark.unit

THROUGHPUT = """| concurrent clients | requests | requests/s | p50 (ms) | p99 (ms) | throughput vs 1 client |
|---:|---:|---:|---:|---:|---:|
| 1 | 40 | 9.0 | 100.0 | 150.0 | 1.00 |
| 16 | 40 | 4.7 | 3000.0 | 6200.0 | 0.52 |"""


def _rows(text: str) -> dict[str, list[str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()[2:]]
    return {r[0]: r[1:] for r in rows}


def test_every_measure_of_the_issue_is_a_row_with_its_goal_and_verdict() -> None:
    text = goals(
        ("IngestApiIngestFunction", 33_800_000),
        {},
        {"ingest": 1.4, "route": 1.6},
        {"(a) new": ((17, 2, 13), (10, 2, 6)), "(c) known": ((9, 1, 6), (8, 1, 5))},
        {("German complaint, 8 short turns", "BatchDetectSentiment"): 2.0},
        THROUGHPUT,
    )
    rows = _rows(text)
    assert len(rows) == 5
    size, cold, calls, sentiment, load = rows.values()
    assert size[0].startswith("33.8 MB")
    assert size[-1] == "yes"
    assert cold[-1] == "no"  # route above 1.5
    assert "17 vs 10" in calls[0]
    assert calls[-1] == "no"
    assert sentiment[0] == "2.00x"
    assert sentiment[-1] == "yes"
    assert "p99 6.20 s" in load[0]
    assert load[-1] == "no"


def test_a_package_shipped_but_never_imported_fails_the_size_goal_whatever_the_size() -> None:
    text = goals(("Small", 1_000_000), {"PreToken": {"pydantic"}}, {}, {}, {}, "")
    size = _rows(text)["largest function, code + layers unzipped"]
    assert "PreToken: pydantic" in size[0]
    assert size[-1] == "no"
    assert _rows(text)["embedded stack, 16 concurrent ingest clients"][0] == "not measured"
