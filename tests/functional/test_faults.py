"""Faults at every AWS call of ingestion, analysis and the purge: throttling and server errors
are retried with jittered exponential backoff; when a dependency stays down the request fails
cleanly (error shape, nothing personal, nothing half-written) and a re-run completes with
nothing lost or duplicated."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.names import Env
from callguard.wiring import build_retention_purge
from tests.faults import Faults, fast_retries
from tests.functional.analysis.test_analyze import GERMAN_SEGMENTS, sqs_event
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional


def _items(aws: dict[str, Any], table: Env, pk: str) -> list[dict[str, Any]]:
    ddb = aws["session"].client("dynamodb")
    return list(
        ddb.query(
            TableName=aws["env"][table], KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": pk}}
        )["Items"]
    )


def _versions(aws: dict[str, Any], prefix: str) -> int:
    listed = aws["session"].client("s3").list_object_versions(Bucket=aws["env"][Env.TRANSCRIPTS_BUCKET], Prefix=prefix)
    return len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))


@pytest.fixture
def faults(aws: dict[str, Any]) -> Faults:
    clients = aws["clients"]
    return Faults().attach(clients.dynamodb, clients.kms, clients.s3, clients.sqs)


def _ingest(ingest: Any, call_id: str, phone: str = PLANTED["phone"]) -> dict[str, Any]:
    body = call_body(call_id=call_id, caller={"phone": phone}, segments=GERMAN_SEGMENTS)
    response: dict[str, Any] = ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())
    return response


def test_every_ingest_call_survives_throttling_and_recovers_from_an_outage(
    aws: dict[str, Any], faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    assert _ingest(ingest, "clean-0")["statusCode"] == 202
    operations = sorted(faults.attempts)  # every AWS operation the first call of a new caller makes
    assert ("kms", "GenerateMac") in operations
    assert ("s3", "PutObject") in operations
    assert ("sqs", "SendMessage") in operations
    with fast_retries(monkeypatch) as delays:
        for n, (service, operation) in enumerate(operations):
            faults.fail(service, operation, times=2)  # throttled twice, then served
            answer = _ingest(ingest, f"transient-{n}", phone=f"+49 30 5551{n:03d}")  # a new caller each time
            assert answer["statusCode"] == 202, (service, operation)
            faults.clear()

            faults.fail(service, operation, kind="server")  # down for every attempt
            phone = f"+49 30 5552{n:03d}"
            failed = _ingest(ingest, f"outage-{n}", phone=phone)
            assert failed["statusCode"] >= 500, (service, operation)
            error = json.loads(failed["body"])
            assert set(error) == {"error", "request_id"}
            for value in PLANTED.values():
                assert value not in failed["body"]
            # nothing half-written: either no trace of the call, or the call complete with its transcript
            left = {i["sk"]["S"] for i in _items(aws, Env.CALLS_TABLE, f"CALL#outage-{n}")}
            assert left in (set(), {"CALL", "TRANSCRIPT"}), (service, operation, left)
            faults.clear()
            again = _ingest(ingest, f"outage-{n}", phone=phone)  # the platform retries the same call
            assert again["statusCode"] == 202, (service, operation)

            items = {i["sk"]["S"]: i for i in _items(aws, Env.CALLS_TABLE, f"CALL#outage-{n}")}
            assert set(items) == {"CALL", "TRANSCRIPT"}, (service, operation)
            subject = items["CALL"]["subject_id"]["S"]
            pointer = items["CALL"]["transcript"]["M"]
            assert _versions(aws, f"transcripts/{subject}/outage-{n}.sealed") == 1, (service, operation)
            assert pointer["key"]["S"] == items["TRANSCRIPT"]["object_key"]["S"]
    # standard retry mode: up to 5 attempts, full jitter (no two waits alike), growing bound
    assert faults.injected
    assert len(set(delays)) > len(delays) // 2
    assert max(delays) > min(delays)

    analyze = load_handler("analyze")
    analyze.service(aws["clients"])
    sqs = aws["session"].client("sqs")
    call_ids: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=aws["env"][Env.ANALYSIS_QUEUE_URL], MaxNumberOfMessages=10)
        if not messages.get("Messages"):
            break
        for message in messages["Messages"]:
            call_ids.append(json.loads(message["Body"])["call_id"])
            sqs.delete_message(QueueUrl=aws["env"][Env.ANALYSIS_QUEUE_URL], ReceiptHandle=message["ReceiptHandle"])
    assert f"outage-{len(operations) - 1}" in call_ids
    for call_id in call_ids:  # a call enqueued twice (an outage after the send) is analysed once
        assert analyze.lambda_handler(sqs_event(call_id), FakeContext()) == {"batchItemFailures": []}
    for call_id in set(call_ids):
        analyses = [i for i in _items(aws, Env.CALLS_TABLE, f"CALL#{call_id}") if i["sk"]["S"] == "ANALYSIS"]
        assert len(analyses) == 1, call_id


def test_an_analysis_whose_store_is_down_returns_to_the_queue_and_completes_later(
    aws: dict[str, Any], faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest, analyze = load_handler("ingest"), load_handler("analyze")
    ingest.dependencies(aws["clients"])
    analyze.service(aws["clients"])
    assert _ingest(ingest, "store-down")["statusCode"] == 202
    with fast_retries(monkeypatch):
        faults.fail("dynamodb", "TransactWriteItems", kind="server")
        failed = analyze.lambda_handler(sqs_event("store-down"), FakeContext())
        faults.clear()
    assert failed == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert faults.injected[("dynamodb", "TransactWriteItems")] == 6  # the first attempt and 5 retries
    assert not [i for i in _items(aws, Env.CALLS_TABLE, "CALL#store-down") if i["sk"]["S"] in {"ANALYSIS", "FOLLOWUP"}]
    assert analyze.lambda_handler(sqs_event("store-down"), FakeContext()) == {"batchItemFailures": []}
    stored = {i["sk"]["S"] for i in _items(aws, Env.CALLS_TABLE, "CALL#store-down")}
    assert "ANALYSIS" in stored


def test_the_purge_retries_unprocessed_items_and_a_failed_run_is_completed_by_the_next(
    aws: dict[str, Any], faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    for n in range(3):
        assert _ingest(ingest, f"purge-fault-{n}")["statusCode"] == 202
    as_of = datetime.now(UTC) + timedelta(days=91)
    purge = build_retention_purge(aws["clients"])
    monkeypatch.setattr("callguard.storage.dynamo.time.sleep", lambda _: None)  # the purge's own backoff
    with fast_retries(monkeypatch):
        faults.fail("dynamodb", "BatchWriteItem", kind="unprocessed", times=3)  # accepted, nothing written
        first = purge.run(as_of)
        assert first.complete
        assert faults.injected[("dynamodb", "BatchWriteItem")] == 3
        faults.fail("dynamodb", "BatchWriteItem", kind="server")
        with pytest.raises(Exception, match="InternalServerError"):
            purge.run(as_of + timedelta(days=300))  # analyses and subjects are due now, but the store is down
        faults.clear()
    second = purge.run(as_of + timedelta(days=300))
    assert second.complete
    for n in range(3):
        assert _items(aws, Env.CALLS_TABLE, f"CALL#purge-fault-{n}") == []
    assert first.categories["calls"].deleted == 3
    assert second.categories["subjects"].deleted == 1


def test_routing_answers_on_the_rules_when_the_language_service_is_down(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    route, ingest = load_handler("route"), load_handler("ingest")
    route.service(aws["clients"])
    ingest.dependencies(aws["clients"])
    caller = {"phone": "+49 30 5553000"}  # a caller with AI consent on record (unknown callers are never analysed)
    body = call_body(call_id="fault-route-1", caller=caller)
    assert ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())["statusCode"] == 202
    faults = Faults().attach(aws["clients"].comprehend)
    request = {"caller": caller, "channel": "voice", "utterance": "Die Rechnung ist falsch!"}
    with fast_retries(monkeypatch):
        faults.fail("comprehend", "DetectDominantLanguage", kind="server")
        answer = route.lambda_handler(
            api_event("POST", "/v1/routing/decisions", request, scopes="callguard/routing:decide"), FakeContext()
        )
    assert answer["statusCode"] == 200
    decision = json.loads(answer["body"])
    sentiment = next(r for r in decision["reasons"] if r["factor"] == "sentiment")
    assert sentiment["value"].startswith("unavailable")
    assert next(r for r in decision["reasons"] if r["factor"] == "intent")["value"] == "billing"  # rules still apply
    assert faults.injected[("comprehend", "DetectDominantLanguage")] > 1  # retried before giving up
