"""POST /v1/calls through the real handler with API Gateway proxy events (moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.names import Env
from tests.functional.conftest import scan_all
from tests.support import PLANTED, FakeContext, LogCapture, api_event, call_body, load_handler

pytestmark = pytest.mark.functional


@pytest.fixture
def ingest(aws: dict[str, Any]) -> Any:
    module = load_handler("ingest")
    module.dependencies(aws["clients"])
    return module


def post(ingest: Any, body: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = ingest.lambda_handler(api_event("POST", "/v1/calls", body, **kwargs), FakeContext())
    return response["statusCode"], json.loads(response["body"]) if response["body"] else {}


def count_calls(aws: dict[str, Any]) -> int:
    ddb = aws["session"].client("dynamodb")
    return int(
        ddb.scan(
            TableName=aws["env"][Env.CALLS_TABLE],
            Select="COUNT",
            FilterExpression="sk = :call",
            ExpressionAttributeValues={":call": {"S": "CALL"}},
        )["Count"]
    )


def stored_anything(aws: dict[str, Any]) -> bool:
    """True when any table holds an item, any bucket an object version, or the queue a message."""
    session = aws["session"]
    ddb, s3 = session.client("dynamodb"), session.client("s3")
    tables = ddb.list_tables()["TableNames"]
    if any(ddb.scan(TableName=t, Select="COUNT")["Count"] for t in tables):
        return True
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    if any(s3.list_object_versions(Bucket=b).get("Versions") for b in buckets):
        return True
    return bool(queued_messages(aws))


def transcript_versions(aws: dict[str, Any]) -> list[dict[str, Any]]:
    s3 = aws["session"].client("s3")
    return list(s3.list_object_versions(Bucket=aws["env"][Env.TRANSCRIPTS_BUCKET]).get("Versions", []))


def forget_idempotency_records(aws: dict[str, Any]) -> None:
    ddb = aws["session"].client("dynamodb")
    table = aws["env"][Env.IDEMPOTENCY_TABLE]
    for item in ddb.scan(TableName=table)["Items"]:
        ddb.delete_item(TableName=table, Key={"id": item["id"]})


def queued_messages(aws: dict[str, Any]) -> list[dict[str, Any]]:
    sqs = aws["session"].client("sqs")
    response = sqs.receive_message(QueueUrl=aws["env"][Env.ANALYSIS_QUEUE_URL], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def test_accepts_a_call_with_the_contract_shape(ingest: Any, aws: dict[str, Any]) -> None:
    status, body = post(ingest, call_body())
    assert status == 202
    assert set(body) == {"call_id", "subject_id", "status", "analysis"}
    assert body["call_id"] == "cc-2026-000123"
    assert body["status"] == "accepted"
    assert body["analysis"] == "queued"
    assert body["subject_id"].startswith("sub_")
    assert stored_anything(aws)  # the emptiness probe of the bad-input tests does see a stored call
    assert queued_messages(aws) == [{"call_id": "cc-2026-000123"}]


def test_same_body_again_gives_the_same_answer_and_one_record(ingest: Any, aws: dict[str, Any]) -> None:
    first = post(ingest, call_body())
    second = post(ingest, call_body())
    assert first == second
    assert count_calls(aws) == 1
    assert len(transcript_versions(aws)) == 1


def test_same_body_after_the_idempotency_record_expired_is_still_recognised(ingest: Any, aws: dict[str, Any]) -> None:
    first = post(ingest, call_body())
    forget_idempotency_records(aws)
    assert post(ingest, call_body()) == first
    assert count_calls(aws) == 1


def test_different_body_with_the_same_call_id_is_a_conflict(ingest: Any, aws: dict[str, Any]) -> None:
    post(ingest, call_body())
    status, body = post(ingest, call_body(channel="chat"))
    assert status == 409
    assert body["error"]["code"] == "call_conflict"
    # also once the idempotency record is gone: the call item's keyed fingerprint decides
    forget_idempotency_records(aws)
    status, body = post(ingest, call_body(channel="chat"))
    assert status == 409
    assert count_calls(aws) == 1


def test_two_formats_of_one_phone_number_give_one_subject(ingest: Any) -> None:
    _, a = post(ingest, call_body(call_id="a-1", caller={"phone": PLANTED["phone_national"]}))
    _, b = post(ingest, call_body(call_id="a-2", caller={"phone": PLANTED["phone"]}))
    assert a["subject_id"] == b["subject_id"]


def test_only_an_authenticated_identifier_joins_a_history(ingest: Any) -> None:
    # Contract change (issue 14): identifiers seen together used to merge histories for good;
    # now only an identifier the platform authenticated (caller.verification) does.
    proven = {"identifiers": ["customer_id"], "method": "app_login"}
    _, a = post(ingest, call_body(call_id="b-1", caller={"customer_id": "K-1", "phone": PLANTED["phone"],
                                                          "verification": proven}))  # fmt: skip
    _, b = post(ingest, call_body(call_id="b-2", caller={"customer_id": "K-1", "email": PLANTED["email"],
                                                          "verification": proven}))  # fmt: skip
    _, c = post(
        ingest, call_body(call_id="b-3", caller={"phone": PLANTED["phone_national"], "email": PLANTED["email"]})
    )
    _, d = post(ingest, call_body(call_id="b-4", caller={"customer_id": "K-1"}))  # claimed, not authenticated
    _, e = post(ingest, call_body(call_id="b-5", caller={"email": PLANTED["email"].upper(), "phone": PLANTED["phone"]}))
    assert a["subject_id"] == b["subject_id"]  # one person, proven twice
    assert len({a["subject_id"], c["subject_id"], d["subject_id"]}) == 3  # shown or stated: never joined
    assert e["subject_id"] == c["subject_id"]  # the same unproven identifiers: the same caller-ID history


@pytest.mark.parametrize(
    "verification",
    [
        {"identifiers": ["email"], "method": "sso"},  # an identifier the caller does not carry
        {"identifiers": [], "method": "sso"},
        {"identifiers": ["phone"], "method": "caller_id"},  # caller ID is no method of proof
        {"identifiers": ["phone", "phone"], "method": "ivr_pin"},
    ],
)
def test_a_verification_must_name_carried_identifiers_and_a_known_method(
    ingest: Any, aws: dict[str, Any], verification: dict[str, Any]
) -> None:
    status, body = post(ingest, call_body(caller={"phone": PLANTED["phone"], "verification": verification}))
    assert (status, body["error"]["code"]) == (422, "validation_failed")
    assert not stored_anything(aws)


def test_nothing_personal_is_stored_in_plaintext(ingest: Any, aws: dict[str, Any]) -> None:
    status, _ = post(ingest, call_body())
    assert status == 202
    stored = scan_all(aws["session"])
    assert stored  # the scan saw the stored call
    for value in PLANTED.values():
        assert value not in stored
        assert value.lower() not in stored.lower()
    for fragment in ("Mustermann", "DE89370400440532013000", "4915123456789", "K-4711"):
        assert fragment not in stored


def test_sealed_transcript_opens_with_the_subject_key_and_call_id(ingest: Any, aws: dict[str, Any]) -> None:
    _, body = post(ingest, call_body())
    service = ingest.dependencies().service
    call = service.calls.get("cc-2026-000123")
    assert call is not None
    assert call.transcript is not None
    blob = service.transcripts.get(dict(call.transcript))
    segments = json.loads(service.keyring.open(body["subject_id"], blob, aad="cc-2026-000123"))
    assert segments[1]["text"] == PLANTED["transcript"]
    from callguard.security.crypto import SealedDataError

    with pytest.raises(SealedDataError):
        service.keyring.open(body["subject_id"], blob, aad="another-call")


def test_recording_false_stores_no_text(ingest: Any, aws: dict[str, Any]) -> None:
    consent = {"recording": False, "ai_analysis": True, "ai_disclosure_given": True}
    status, body = post(ingest, call_body(consent=consent))
    assert status == 202
    assert body["analysis"] == "skipped"
    assert transcript_versions(aws) == []
    call = ingest.dependencies().service.calls.get("cc-2026-000123")
    assert call.transcript is None
    assert call.analysis_skip_reason == "no_recording_consent"


@pytest.mark.parametrize(
    ("consent", "reason"),
    [
        ({"recording": True, "ai_analysis": False, "ai_disclosure_given": True}, "no_ai_consent"),
        ({"recording": True, "ai_analysis": True, "ai_disclosure_given": False}, "no_ai_disclosure"),
    ],
)
def test_analysis_skipped_without_ai_consent(
    ingest: Any, aws: dict[str, Any], consent: dict[str, bool], reason: str
) -> None:
    status, body = post(ingest, call_body(consent=consent))
    assert (status, body["analysis"]) == (202, "skipped")
    assert queued_messages(aws) == []
    assert ingest.dependencies().service.calls.get("cc-2026-000123").analysis_skip_reason == reason


def test_objected_subject_gets_no_analysis(ingest: Any, aws: dict[str, Any]) -> None:
    _, first = post(ingest, call_body(call_id="o-1"))
    aws["session"].client("dynamodb").update_item(
        TableName=aws["env"][Env.SUBJECTS_TABLE],
        Key={"pk": {"S": f"SUBJECT#{first['subject_id']}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET objected_at = :t",
        ExpressionAttributeValues={":t": {"S": "2026-11-27T11:00:00+00:00"}},
    )
    _, second = post(ingest, call_body(call_id="o-2"))
    assert second["analysis"] == "skipped"


BAD_BODIES = [
    ("missing identifiers", call_body(caller={}), 422),
    ("invalid call_id", call_body(call_id="has spaces/and?"), 422),
    ("too long call_id", call_body(call_id="x" * 129), 422),
    ("invalid phone", call_body(caller={"phone": "12"}), 422),
    ("invalid email", call_body(caller={"email": "not-an-address"}), 422),
    ("invalid speaker", call_body(segments=[{"speaker": "robot", "start_ms": 0, "end_ms": 1, "text": "x"}]), 422),
    ("naive timestamp", call_body(started_at="2026-11-27T10:00:00"), 422),
    ("garbage timestamp", call_body(started_at="yesterday"), 422),
    ("ended before started", call_body(ended_at="2026-11-27T09:00:00Z"), 422),
    (
        "segment ends before it starts",
        call_body(segments=[{"speaker": "agent", "start_ms": 5, "end_ms": 1, "text": "x"}]),
        422,
    ),
    ("unknown field", {**call_body(), "is_admin": True}, 422),
    (
        "unknown nested field",
        call_body(consent={"recording": True, "ai_analysis": True, "ai_disclosure_given": True, "x": 1}),
        422,
    ),
    (
        "control characters",
        call_body(segments=[{"speaker": "agent", "start_ms": 0, "end_ms": 1, "text": "a\x00b"}]),
        422,
    ),
    ("control characters in metadata", call_body(metadata={"k": "a\x1bb"}), 422),
    ("too much metadata", call_body(metadata={f"k{i}": "v" for i in range(21)}), 422),
    (
        "consent as string",
        call_body(consent={"recording": "yes", "ai_analysis": True, "ai_disclosure_given": True}),
        422,
    ),
    ("array body", [call_body()], 422),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_input_is_rejected_and_stores_nothing(
    ingest: Any, aws: dict[str, Any], case: str, body: Any, status: int
) -> None:
    got, payload = post(ingest, body)
    assert got == status, case
    assert set(payload) == {"error", "request_id"}
    assert payload["error"]["code"] == "validation_failed"
    assert payload["error"]["message"]
    assert payload["error"]["details"]
    assert not stored_anything(aws)
    text = json.dumps(payload)
    for value in PLANTED.values():
        assert value not in text


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"raw": "{not json"}, 400, "malformed_json"),
        ({"raw": ""}, 400, "malformed_json"),
        ({"raw": b"\xff\xfe{}"}, 400, "malformed_json"),
        ({"raw": "[" * 5000 + "]" * 5000}, 400, "malformed_json"),
        ({"body": call_body(), "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"body": call_body(), "content_type": None}, 415, "unsupported_media_type"),
        (
            {"body": call_body(segments=[{"speaker": "agent", "start_ms": 0, "end_ms": 1, "text": "x" * 20000}] * 14)},
            413,
            "payload_too_large",
        ),
    ],
)
def test_transport_errors(ingest: Any, aws: dict[str, Any], kwargs: dict[str, Any], status: int, code: str) -> None:
    got, payload = post(ingest, **kwargs)
    assert (got, payload["error"]["code"]) == (status, code)
    assert payload["request_id"] == "test-request-id"
    assert not stored_anything(aws)


def test_validation_errors_do_not_echo_values(ingest: Any) -> None:
    secret = "Erika-Mustermann-Secret"
    body = call_body(caller={"phone": secret}, metadata={f"{secret} !": "x"})
    status, payload = post(ingest, body)
    assert status == 422
    assert secret not in json.dumps(payload)
    fields = {d["field"] for d in payload["error"]["details"]}
    assert "caller.phone" in fields
    assert "metadata.*.*" in fields  # the invented key is masked


def test_charset_parameter_is_accepted(ingest: Any) -> None:
    status, _ = post(ingest, call_body(), content_type="application/json; charset=utf-8")
    assert status == 202


def test_logs_hold_no_personal_data(ingest: Any, capsys: pytest.CaptureFixture[str]) -> None:
    logs = LogCapture()
    try:
        post(ingest, call_body())
        post(ingest, call_body(channel="chat"))
        post(ingest, call_body(caller={"phone": "Erika Mustermann"}))
    finally:
        logs.close()
    captured = capsys.readouterr()
    output = logs.text() + captured.out + captured.err
    assert "call accepted" in output  # the handler did log
    for value in PLANTED.values():
        assert value not in output
    assert "Mustermann" not in output


def test_an_invented_field_is_named_when_shaped_like_one_and_masked_otherwise(ingest: Any) -> None:
    caller = {**call_body()["caller"], "name": PLANTED["name"], "Erika Mustermann": "x", "iban42": "y"}
    status, payload = post(ingest, call_body(caller=caller))
    assert status == 422
    details = {(d["field"], d["issue"]) for d in payload["error"]["details"]}
    assert ("caller.name", "extra_forbidden") in details
    assert ("caller.*", "extra_forbidden") in details  # "Erika Mustermann" and "iban42" may be values
    text = json.dumps(payload, ensure_ascii=False)
    for value in (PLANTED["name"], "Erika", "iban42"):
        assert value not in text


def test_an_objection_that_lands_between_the_read_and_the_write_is_honoured(
    ingest: Any, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The profile is read once with the call and refreshed in step 1's transaction only if no objection or
    restriction arrived meanwhile; one that did cancels the transaction, and the call is decided again."""
    from callguard.storage.subjects import SubjectsRepository

    _, first = post(ingest, call_body(call_id="race-1"))
    resolve = SubjectsRepository.resolve
    raced: list[str] = []

    def resolve_then_object(self: SubjectsRepository, sighting: Any, now: Any) -> Any:
        resolution = resolve(self, sighting, now)
        if not raced:  # the objection is recorded right after this ingest read the profile
            raced.append(resolution.profile.subject_id)
            self.set_flag(resolution.profile.subject_id, "objected_at", now)
        return resolution

    monkeypatch.setattr(SubjectsRepository, "resolve", resolve_then_object)
    status, second = post(ingest, call_body(call_id="race-2"))
    assert (status, second["subject_id"]) == (202, first["subject_id"])
    assert raced == [first["subject_id"]]
    assert second["analysis"] == "skipped"
    assert ingest.dependencies().service.calls.get("race-2").analysis_skip_reason == "objected"
    assert [m["call_id"] for m in queued_messages(aws)] == ["race-1"]
