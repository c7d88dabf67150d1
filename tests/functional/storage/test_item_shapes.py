"""v1's items stay byte-identical in shape: existing data and other readers depend on them.

The scenario runs the real handlers and compares every item of the calls, subjects and keys
tables (kind and attribute types, see :mod:`tests.functional.item_shapes`) with the shapes main
wrote before the storage layer existed.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from callguard.names import Env
from tests.functional.analysis.test_analyze import GERMAN_SEGMENTS, sqs_event
from tests.functional.storage.item_shapes import FIXTURE, shapes
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

PROVEN = {"identifiers": ["customer_id"], "method": "app_login"}


def _ingest(ingest: Any, body: dict[str, Any]) -> None:
    response = ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())
    assert response["statusCode"] == 202, response["body"]


def _scenario(aws: dict[str, Any]) -> None:
    ingest, analyze, route = load_handler("ingest"), load_handler("analyze"), load_handler("route")
    ingest.dependencies(aws["clients"])
    analyze.service(aws["clients"])
    route.service(aws["clients"])
    both = {"customer_id": PLANTED["customer_id"], "phone": PLANTED["phone"], "verification": PROVEN}
    _ingest(ingest, call_body(call_id="shape-1", caller=both, segments=GERMAN_SEGMENTS))  # new, authenticated
    _ingest(ingest, call_body(call_id="shape-2", caller=both))  # known subject, with metadata
    other = {
        "customer_id": "K-SHAPE-2",
        "email": PLANTED["email"],
        "verification": {**PROVEN, "identifiers": ["customer_id", "email"]},
    }
    _ingest(ingest, call_body(call_id="shape-3", caller=other))
    both_proven = {**PROVEN, "identifiers": ["customer_id", "email"]}
    joining = {"customer_id": PLANTED["customer_id"], "email": PLANTED["email"], "verification": both_proven}
    _ingest(ingest, call_body(call_id="shape-4", caller=joining))  # two proven subjects meet: linked
    no_recording = {"recording": False, "ai_analysis": False, "ai_disclosure_given": False}
    _ingest(ingest, call_body(call_id="shape-5", caller={"phone": "+49 30 5550999"}, consent=no_recording))
    live = call_body(call_id="shape-6", caller={"phone": PLANTED["phone"]})
    del live["ended_at"]
    _ingest(ingest, live)
    segments = [{"speaker": "customer", "start_ms": 10_000, "end_ms": 10_500, "text": "Die Abbuchung ist falsch!"}]
    event = api_event("POST", "/v1/calls/shape-6/segments", {"segments": segments})
    event["resource"], event["pathParameters"] = "/v1/calls/{call_id}/segments", {"call_id": "shape-6"}
    assert ingest.lambda_handler(event, FakeContext())["statusCode"] == 200
    for call_id in ("shape-1", "shape-2", "shape-5"):
        assert analyze.lambda_handler(sqs_event(call_id), FakeContext()) == {"batchItemFailures": []}
    decision = {"caller": {"phone": PLANTED["phone"]}, "channel": "voice", "utterance": "Die Rechnung ist falsch!"}
    answer = route.lambda_handler(
        api_event("POST", "/v1/routing/decisions", decision, scopes="callguard/routing:decide"), FakeContext()
    )
    assert answer["statusCode"] == 200


def test_calls_subjects_and_keys_items_keep_their_v1_shapes(aws: dict[str, Any]) -> None:
    _scenario(aws)
    env = aws["env"]
    tables = {"calls": env[Env.CALLS_TABLE], "subjects": env[Env.SUBJECTS_TABLE], "keys": env[Env.KEYS_TABLE]}
    found = shapes(aws["session"].client("dynamodb"), tables)
    if os.environ.get("CALLGUARD_WRITE_ITEM_SHAPES") == "1":  # regenerating: an intended change only
        FIXTURE.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    assert found == json.loads(FIXTURE.read_text())
