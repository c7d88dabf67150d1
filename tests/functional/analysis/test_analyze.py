"""The analyze function: SQS batches → consent check → redaction → Comprehend → analysis item."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.config import Config
from botocore.stub import Stubber

from callguard.clients import AwsClients
from callguard.names import Env
from tests.support import PLANTED, FakeContext, LogCapture, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

GERMAN_SEGMENTS = [
    {"speaker": "agent", "start_ms": 0, "end_ms": 2000, "text": "Guten Tag, Sie sprechen mit dem Kundenservice."},
    {
        "speaker": "customer",
        "start_ms": 2100,
        "end_ms": 9000,
        "text": "Mein Name ist Erika Mustermann, meine IBAN ist DE89 3704 0044 0532 0130 00. "
        "Die Abbuchung war doppelt, das ärgert mich sehr.",
    },
    {
        "speaker": "customer",
        "start_ms": 9100,
        "end_ms": 14000,
        "text": "Rufen Sie mich zurück unter null eins fünf eins, zwei drei vier fünf sechs sieben acht neun.",
    },
    {"speaker": "agent", "start_ms": 14100, "end_ms": 16000, "text": "Ich kümmere mich darum, Frau Mustermann."},
]
FORBIDDEN = ["Mustermann", "DE89", "0532 0130", "null eins fünf eins", "Erika", PLANTED["email"], PLANTED["phone"]]


@pytest.fixture
def handlers(aws: dict[str, Any]) -> dict[str, Any]:
    ingest, analyze, agent_view = (load_handler(n) for n in ("ingest", "analyze", "agent_view"))
    ingest.dependencies(aws["clients"])
    analyze.service(aws["clients"])
    agent_view.service(aws["clients"])
    return {"ingest": ingest, "analyze": analyze, "agent_view": agent_view}


def ingest(handlers: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    response = handlers["ingest"].lambda_handler(api_event("POST", "/v1/calls", call_body(**overrides)), FakeContext())
    assert response["statusCode"] == 202, response["body"]
    return json.loads(response["body"])


def sqs_event(*call_ids: str, raw: list[str] | None = None) -> dict[str, Any]:
    bodies = [json.dumps({"call_id": c}) for c in call_ids] + (raw or [])
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:analysis",
                "awsRegion": "eu-central-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def analysis_item(aws: dict[str, Any], call_id: str) -> dict[str, Any] | None:
    item = (
        aws["session"]
        .client("dynamodb")
        .get_item(TableName=aws["env"][Env.CALLS_TABLE], Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "ANALYSIS"}})
        .get("Item")
    )
    return None if item is None else json.loads(item["analysis"]["S"])


def view(handlers: dict[str, Any], call_id: str) -> tuple[int, dict[str, Any]]:
    event = api_event("GET", f"/v1/calls/{call_id}", scopes="callguard/calls:read")
    event["resource"] = "/v1/calls/{call_id}"
    event["pathParameters"] = {"call_id": call_id}
    event["requestContext"]["authorizer"]["claims"].update({"sub": "agent-sub-1", "username": "agent"})
    response = handlers["agent_view"].lambda_handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_german_call_is_analysed_with_redacted_text_only(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    ingest(handlers, call_id="de-1", segments=GERMAN_SEGMENTS)
    result = handlers["analyze"].lambda_handler(sqs_event("de-1"), FakeContext())
    assert result == {"batchItemFailures": []}
    analysis = analysis_item(aws, "de-1")
    assert analysis is not None
    assert analysis["status"] == "done"
    assert analysis["language"] == "de"
    texts = [s["text"] for s in analysis["segments"]]
    assert "[NAME]" in texts[1]
    assert "[IBAN]" in texts[1]
    assert "[PHONE]" in texts[2]
    assert set(analysis["pii_types"]) >= {"NAME", "IBAN", "PHONE"}
    assert analysis["sentiment"]["by_speaker"]["customer"] == "NEGATIVE"
    assert analysis["intent"]["name"] == "billing"
    assert "abbuchung" in analysis["intent"]["matched"]
    assert analysis["flags"]["followup"] is True
    dump = json.dumps(analysis, ensure_ascii=False)
    for value in FORBIDDEN:
        assert value not in dump
    # Comprehend never saw what the local detectors found
    sent = json.dumps(aws["comprehend"].calls)
    assert "Mustermann" not in sent


def test_agent_view_serves_redacted_segments_and_audits_the_read(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    ingest(handlers, call_id="de-2", segments=GERMAN_SEGMENTS)
    status, before = view(handlers, "de-2")
    assert status == 200
    assert before["analysis"]["status"] == "pending"
    assert "[IBAN]" in before["segments"][1]["text"]  # redacted on read, before any analysis
    handlers["analyze"].lambda_handler(sqs_event("de-2"), FakeContext())
    status, after = view(handlers, "de-2")
    assert after["analysis"]["status"] == "done"
    assert after["analysis"]["intent"]["name"] == "billing"
    assert after["routing"] is None
    for body in (before, after):
        text = json.dumps(body, ensure_ascii=False)
        for value in FORBIDDEN:
            assert value not in text
    audit = aws["session"].client("dynamodb").scan(TableName=aws["env"][Env.AUDIT_TABLE])["Items"]
    entries = [json.loads(i["entry"]["S"]) for i in audit]
    assert [e["action"] for e in entries] == ["read_call", "read_call"]
    assert {e["resource"] for e in entries} == {"call/de-2"}
    assert {e["actor"] for e in entries} == {"user:agent-sub-1"}
    assert all("Mustermann" not in json.dumps(i) for i in audit)


def test_unknown_call_is_404(handlers: dict[str, Any]) -> None:
    status, body = view(handlers, "does-not-exist")
    assert (status, body["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ({"consent": {"recording": True, "ai_analysis": False, "ai_disclosure_given": True}}, "no_ai_consent"),
        ({"profile": "objected_at"}, "objected"),
        ({"profile": "restricted_at"}, "restricted"),
    ],
)
def test_no_comprehend_call_without_consent_or_after_objection_or_restriction(
    handlers: dict[str, Any], aws: dict[str, Any], setup: dict[str, Any], reason: str
) -> None:
    overrides: dict[str, Any] = {"call_id": "skip-1", "segments": GERMAN_SEGMENTS}
    if "consent" in setup:
        overrides["consent"] = setup["consent"]
    body = ingest(handlers, **overrides)
    if "profile" in setup:  # the objection/restriction arrives after ingestion, before analysis
        aws["session"].client("dynamodb").update_item(
            TableName=aws["env"][Env.SUBJECTS_TABLE],
            Key={"pk": {"S": f"SUBJECT#{body['subject_id']}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression=f"SET {setup['profile']} = :t",
            ExpressionAttributeValues={":t": {"S": "2026-11-27T12:00:00+00:00"}},
        )
    aws["comprehend"].calls.clear()
    handlers["analyze"].lambda_handler(sqs_event("skip-1"), FakeContext())
    assert aws["comprehend"].calls == []
    assert analysis_item(aws, "skip-1") == {"status": "skipped", "reason": reason}


def test_partial_batch_failure_returns_only_the_failed_message_ids(
    handlers: dict[str, Any], aws: dict[str, Any]
) -> None:
    ingest(handlers, call_id="ok-1", segments=GERMAN_SEGMENTS)
    ingest(handlers, call_id="ok-2", segments=GERMAN_SEGMENTS[:1])
    result = handlers["analyze"].lambda_handler(
        sqs_event("ok-1", "ok-2", raw=["not json", '{"call_id": "bad id!"}']), FakeContext()
    )
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]}
    assert analysis_item(aws, "ok-1")["status"] == "done"  # type: ignore[index]
    assert analysis_item(aws, "ok-2")["status"] == "done"  # type: ignore[index]


def test_redelivery_is_idempotent(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    ingest(handlers, call_id="idem-1", segments=GERMAN_SEGMENTS)
    handlers["analyze"].lambda_handler(sqs_event("idem-1"), FakeContext())
    first = analysis_item(aws, "idem-1")
    aws["comprehend"].calls.clear()
    assert handlers["analyze"].lambda_handler(sqs_event("idem-1"), FakeContext()) == {"batchItemFailures": []}
    assert aws["comprehend"].calls == []  # nothing billed twice
    assert analysis_item(aws, "idem-1") == first


def test_comprehend_throttling_is_retried_and_never_loses_the_call(
    handlers: dict[str, Any], aws: dict[str, Any]
) -> None:
    ingest(handlers, call_id="thr-1", segments=GERMAN_SEGMENTS)
    real = aws["clients"].comprehend
    throttled = aws["session"].client(
        "comprehend",
        endpoint_url=real.meta.endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    stubber = Stubber(throttled)
    for _ in range(3):  # every attempt of the first call throttled: the batch item fails
        stubber.add_client_error("batch_detect_entities", "ThrottlingException", http_status_code=400)
    with stubber:
        handlers["analyze"].service(AwsClients(session=aws["session"], comprehend=throttled))
        failed = handlers["analyze"].lambda_handler(sqs_event("thr-1"), FakeContext())
    assert failed == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert analysis_item(aws, "thr-1") is None  # nothing half-written
    handlers["analyze"].service(aws["clients"])  # Comprehend answers again: the redelivery succeeds
    assert handlers["analyze"].lambda_handler(sqs_event("thr-1"), FakeContext()) == {"batchItemFailures": []}
    assert analysis_item(aws, "thr-1")["status"] == "done"  # type: ignore[index]


def test_batch_and_byte_limits_are_respected_for_long_calls(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    long_turn = "Die Rechnung ist falsch. " * 400  # ~10,000 bytes: split on sentences
    segments = [
        {
            "speaker": "customer" if i % 2 else "agent",
            "start_ms": i * 1000,
            "end_ms": i * 1000 + 900,
            "text": f"Satz {i}.",
        }
        for i in range(60)
    ] + [{"speaker": "customer", "start_ms": 61000, "end_ms": 90000, "text": long_turn}]
    ingest(handlers, call_id="long-1", segments=segments)
    # the emulator raises exactly what Comprehend would on a 26-document batch or a 5,001-byte document
    assert handlers["analyze"].lambda_handler(sqs_event("long-1"), FakeContext()) == {"batchItemFailures": []}
    batches = [n for op, n in aws["comprehend"].calls if op.startswith("Batch")]
    assert max(batches) <= 25
    assert len(analysis_item(aws, "long-1")["segments"]) == 61  # type: ignore[index]


def test_logs_of_analysis_hold_no_personal_data(
    handlers: dict[str, Any], aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    logs = LogCapture()
    try:
        ingest(handlers, call_id="log-1", segments=GERMAN_SEGMENTS)
        handlers["analyze"].lambda_handler(sqs_event("log-1", raw=["garbage"]), FakeContext())
        view(handlers, "log-1")
    finally:
        logs.close()
    output = capsys.readouterr()
    text = logs.text() + output.out + output.err
    assert "call analysed" in text
    for value in FORBIDDEN:
        assert value not in text


def test_a_later_resolved_call_closes_the_open_followup(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    ingest(handlers, call_id="fu-1", segments=GERMAN_SEGMENTS)  # negative, unresolved: a follow-up opens
    handlers["analyze"].lambda_handler(sqs_event("fu-1"), FakeContext())
    calls = handlers["analyze"].service().calls
    assert calls.followups_due("2999-01-01T00:00:00+00:00")[0]["call_id"] == "fu-1"
    resolved = [
        {"speaker": "customer", "start_ms": 0, "end_ms": 1000, "text": "Ich rufe wegen der Rechnung an."},
        {"speaker": "agent", "start_ms": 1100, "end_ms": 2000, "text": "Die Rückbuchung ist veranlasst."},
        {"speaker": "customer", "start_ms": 2100, "end_ms": 3000, "text": "Danke, das ist gelöst, super."},
    ]
    ingest(handlers, call_id="fu-2", segments=resolved)
    handlers["analyze"].lambda_handler(sqs_event("fu-2"), FakeContext())
    assert analysis_item(aws, "fu-2")["flags"]["resolved"] is True  # type: ignore[index]
    assert calls.followups_due("2999-01-01T00:00:00+00:00") == []  # closed, no longer listed


def test_followups_of_a_restricted_subject_are_not_listed(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    """Restriction (Art. 18) keeps a subject's follow-ups from agents as it keeps its calls."""
    event = api_event("GET", "/v1/followups", scopes="callguard/calls:read")
    event["resource"] = "/v1/followups"
    event["queryStringParameters"] = {"due_before": "2999-01-01T00:00:00Z"}

    def listed() -> list[str]:
        response = handlers["agent_view"].lambda_handler(event, FakeContext())
        assert response["statusCode"] == 200, response["body"]
        return [item["call_id"] for item in json.loads(response["body"])["items"]]

    kept = ingest(handlers, call_id="fu-keep", segments=GERMAN_SEGMENTS, caller={"phone": "+49 30 5550001"})
    held = ingest(handlers, call_id="fu-held", segments=GERMAN_SEGMENTS, caller={"phone": "+49 30 5550002"})
    handlers["analyze"].lambda_handler(sqs_event("fu-keep", "fu-held"), FakeContext())
    assert sorted(listed()) == ["fu-held", "fu-keep"]
    subjects = handlers["agent_view"].service().subjects
    subjects.set_flag(held["subject_id"], "restricted_at", datetime.now(UTC))
    assert listed() == ["fu-keep"]
    assert kept["subject_id"] != held["subject_id"]


def _listed_followups(handlers: dict[str, Any]) -> list[str]:
    event = api_event("GET", "/v1/followups", scopes="callguard/calls:read")
    event["resource"] = "/v1/followups"
    event["queryStringParameters"] = {"due_before": "2999-01-01T00:00:00Z"}
    response = handlers["agent_view"].lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
    return [item["call_id"] for item in json.loads(response["body"])["items"]]


def _seen_macs(aws: dict[str, Any], call_id: str) -> set[str]:
    item = (
        aws["session"]
        .client("dynamodb")
        .get_item(TableName=aws["env"][Env.CALLS_TABLE], Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "CALL"}})
        .get("Item", {})
    )
    return set(item.get("seen_macs", {}).get("SS", []))


def test_the_followup_list_reads_each_subjects_state_once(
    handlers: dict[str, Any], aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many follow-ups of few subjects: the subject's state (profile and identifier rights) is read
    once per subject and identifiers, not once per follow-up — and again in the next listing."""
    callers = {
        "a": {"phone": "+49 30 5550011", "customer_id": "C-A"},
        "b": {"phone": "+49 30 5550012", "customer_id": "C-B"},
    }
    plan = {"fu-a1": "a", "fu-a2": "a", "fu-a3": "a", "fu-b1": "b", "fu-b2": "b"}
    subject_of = {}
    for call_id, who in plan.items():
        subject_of[call_id] = ingest(handlers, call_id=call_id, segments=GERMAN_SEGMENTS, caller=callers[who])[
            "subject_id"
        ]
        handlers["analyze"].lambda_handler(sqs_event(call_id), FakeContext())
    repository = type(handlers["agent_view"].service().subjects)
    reads: list[str] = []
    state = repository.state

    def counted(self: Any, subject_id: str, seen_macs: Any = ()) -> Any:
        reads.append(subject_id)
        return state(self, subject_id, seen_macs)

    monkeypatch.setattr(repository, "state", counted)
    listed = _listed_followups(handlers)
    assert len(listed) > len(set(subject_of.values())) == 2, listed  # more follow-ups than subjects
    assert sorted(reads) == sorted({subject_of[c] for c in listed})  # one read per subject
    _listed_followups(handlers)
    assert len(reads) == 2 * len({subject_of[c] for c in listed})  # nothing is remembered across listings


def test_a_restricted_identifier_hides_only_the_followups_of_calls_that_show_it(
    handlers: dict[str, Any], aws: dict[str, Any]
) -> None:
    """The same subject on two calls with different identifiers: a restriction recorded against the
    identifier seen on one call hides that call's follow-up, not the other's (as the view does)."""
    proven = {"identifiers": ["customer_id"], "method": "app_login"}  # joins both calls to one subject
    first = ingest(
        handlers,
        call_id="fu-id1",
        segments=GERMAN_SEGMENTS,
        caller={"customer_id": "C-ID", "phone": "+49 30 5550021", "verification": proven},
    )
    second = ingest(
        handlers,
        call_id="fu-id2",
        segments=GERMAN_SEGMENTS,
        caller={"customer_id": "C-ID", "phone": "+49 30 5550022", "verification": proven},
    )
    handlers["analyze"].lambda_handler(sqs_event("fu-id1", "fu-id2"), FakeContext())
    assert first["subject_id"] == second["subject_id"]
    only_second = _seen_macs(aws, "fu-id2") - _seen_macs(aws, "fu-id1")
    assert only_second, "the second call shows an identifier the first does not"
    listed = _listed_followups(handlers)
    assert {"fu-id1", "fu-id2"} <= set(listed), listed
    subjects = handlers["agent_view"].service().subjects
    for mac in only_second:
        subjects.set_identifier_flag(mac, "restricted_at", datetime.now(UTC))
    after = _listed_followups(handlers)
    assert "fu-id2" not in after
    assert [c for c in listed if c != "fu-id2"] == after
