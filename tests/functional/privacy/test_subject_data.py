"""One deletion path: export everything of a subject, erase it everywhere, verify nothing remains."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.names import Env
from callguard.privacy.subject_data import ErasureIncompleteError, SubjectData, SubjectStores
from tests.functional.analysis.test_analyze import GERMAN_SEGMENTS, sqs_event
from tests.functional.conftest import scan_all
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

OTHER_PHONE = "+49 30 9988776"


@pytest.fixture
def planted(aws: dict[str, Any]) -> dict[str, Any]:
    """The planted subject in every store: calls (live appends: several object versions), analyses,
    follow-ups, routing decisions, idempotency records; plus an unrelated subject."""
    ingest, analyze, route = (load_handler(n) for n in ("ingest", "analyze", "route"))
    ingest.dependencies(aws["clients"])
    analyze.service(aws["clients"])
    route.service(aws["clients"])
    subject = None
    for n in range(3):
        body = call_body(call_id=f"p-{n}", segments=GERMAN_SEGMENTS)
        response = ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())
        subject = json.loads(response["body"])["subject_id"]
        analyze.lambda_handler(sqs_event(f"p-{n}"), FakeContext())
    live = call_body(call_id="p-live", segments=GERMAN_SEGMENTS[:1])
    del live["ended_at"]
    ingest.lambda_handler(api_event("POST", "/v1/calls", live), FakeContext())
    segment = {"speaker": "customer", "start_ms": 9000, "end_ms": 9500, "text": PLANTED["transcript"]}
    event = api_event("POST", "/v1/calls/p-live/segments", {"segments": [segment]})
    event["resource"], event["pathParameters"] = "/v1/calls/{call_id}/segments", {"call_id": "p-live"}
    assert ingest.lambda_handler(event, FakeContext())["statusCode"] == 200
    # the caller as on the calls: none of it authenticated, so the same identifiers find the same history
    decision = {"caller": call_body()["caller"], "channel": "voice", "utterance": "Die Rechnung ist falsch!"}
    route.lambda_handler(
        api_event("POST", "/v1/routing/decisions", decision, scopes="callguard/routing:decide"), FakeContext()
    )
    other = call_body(call_id="other-1", caller={"phone": OTHER_PHONE}, segments=GERMAN_SEGMENTS[:1])
    other_subject = json.loads(ingest.lambda_handler(api_event("POST", "/v1/calls", other), FakeContext())["body"])[
        "subject_id"
    ]
    service = ingest.dependencies().service
    env = aws["env"]
    stores = SubjectStores(
        dynamodb=aws["session"].client("dynamodb"),
        s3=aws["session"].client("s3"),
        calls_table=env[Env.CALLS_TABLE],
        subjects_table=env[Env.SUBJECTS_TABLE],
        keys_table=env[Env.KEYS_TABLE],
        idempotency_table=env[Env.IDEMPOTENCY_TABLE],
        transcripts_bucket=env[Env.TRANSCRIPTS_BUCKET],
        exports_bucket=env[Env.TRANSCRIPTS_BUCKET],  # no exports bucket in the stack yet: exports/ prefix unused
    )
    data = SubjectData(stores, service.calls, service.subjects, service.transcripts, service.keyring)
    return {"subject": subject, "other": other_subject, "data": data, "stores": stores}


def test_export_holds_every_call_of_the_subject_and_none_of_anyone_else(planted: dict[str, Any]) -> None:
    export = planted["data"].export(planted["subject"])
    assert sorted(c["call_id"] for c in export["calls"]) == ["p-0", "p-1", "p-2", "p-live"]
    live = next(c for c in export["calls"] if c["call_id"] == "p-live")
    assert live["transcript"][-1]["text"] == PLANTED["transcript"]  # decrypted for the data subject
    assert all(c["analysis"]["status"] == "done" for c in export["calls"] if c["call_id"] != "p-live")
    assert export["followups"]
    assert export["routing_decisions"]
    assert len(export["consent_history"]) == 4
    assert "other-1" not in json.dumps(export)


def test_erasure_removes_the_subject_everywhere_and_leaves_others(planted: dict[str, Any], aws: dict[str, Any]) -> None:
    data: SubjectData = planted["data"]
    subjects = data.closure(planted["subject"])
    before = data.inventory(subjects)
    assert before["subject_keys"] == 1
    assert before["calls"] >= 4 + 3 + 1
    assert before["transcript_versions"] >= 5  # live appends leave older versions behind
    assert before["idempotency"] >= 4

    assert data.shred_keys(subjects) == 1  # crypto-shredding first
    removed = data.delete_all(subjects)
    assert removed["calls"] == before["calls"]
    assert removed["transcript_versions"] == before["transcript_versions"]
    assert data.verify_gone(subjects) == {k: 0 for k in before}

    stored = scan_all(aws["session"])
    for value in (planted["subject"], "p-0", "p-live"):
        assert value not in stored
    assert planted["other"] in stored  # the other subject is untouched
    assert "other-1" in stored
    keys = aws["session"].client("dynamodb").scan(TableName=aws["env"][Env.KEYS_TABLE])["Items"]
    assert [k["subject_id"]["S"] for k in keys] == [planted["other"]]  # the wrapped key record is gone


def test_verification_fails_loudly_when_anything_remains(planted: dict[str, Any]) -> None:
    data: SubjectData = planted["data"]
    subjects = data.closure(planted["subject"])
    data.shred_keys(subjects)
    with pytest.raises(ErasureIncompleteError, match="calls") as info:
        data.verify_gone(subjects)  # nothing deleted yet apart from the key
    assert planted["subject"] not in str(info.value)
