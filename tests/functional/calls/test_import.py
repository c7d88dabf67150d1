"""The importer against moto and the local Connect emulator: S3 event → the ingest service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callguard.calls.importer import ImportSettings
from callguard.clients import AwsClients
from callguard.names import Env
from local.connect import ConnectServer
from tests.functional.conftest import scan_all
from tests.support import FakeContext, LogCapture, load_handler

pytestmark = pytest.mark.functional

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "imports"
VOICE_DE = "11111111-2222-4333-8444-555555555501"
NO_CONSENT = "11111111-2222-4333-8444-555555555505"


def loaded_importer(account: dict[str, Any], connect: ConnectServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The importer handler of ``account`` (``aws`` or ``tenant_aws``), reading contacts from ``connect``."""
    settings = ImportSettings.from_env(account["env"][Env.IMPORT_SETTINGS]).model_copy(
        update={"connect_instance_arn": connect.instance_arn("eu-central-1", "123456789012")}
    )
    monkeypatch.setenv(Env.IMPORT_SETTINGS.value, settings.to_env())
    handler = load_handler("importer")
    session = account["session"]
    handler.service(
        AwsClients(
            session=session,
            comprehend=account["clients"].comprehend,
            connect=session.client("connect", endpoint_url=connect.url),
        )
    )
    return handler


@pytest.fixture
def importer(aws: dict[str, Any], connect: ConnectServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return loaded_importer(aws, connect, monkeypatch)


def bucket(aws: dict[str, Any]) -> str:
    return aws["env"][Env.IMPORT_BUCKET]


def drop(aws: dict[str, Any], key: str, body: bytes, **extra: Any) -> str | None:
    response = aws["session"].client("s3").put_object(Bucket=bucket(aws), Key=key, Body=body, **extra)
    version: str | None = response.get("VersionId")
    return version


def deliver(importer: Any, aws: dict[str, Any], *keys: str, shape: str = "eventbridge") -> list[dict[str, Any]]:
    """What the import queue hands the function: EventBridge's S3 events (or S3 notifications)."""
    records = []
    for i, key in enumerate(keys):
        if shape == "eventbridge":
            body = {
                "version": "0",
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {"bucket": {"name": bucket(aws)}, "object": {"key": key}},
            }
        else:
            from urllib.parse import quote_plus

            body = {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": bucket(aws)}, "object": {"key": quote_plus(key)}},
                    }
                ]
            }
        records.append(
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"r-{i}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:import",
                "awsRegion": "eu-central-1",
            }
        )
    result: dict[str, Any] = importer.lambda_handler({"Records": records}, FakeContext())
    return result["batchItemFailures"]  # type: ignore[no-any-return]


def call_item(aws: dict[str, Any], call_id: str) -> dict[str, Any] | None:
    ddb = aws["session"].client("dynamodb")
    key = {"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "CALL"}}
    item: dict[str, Any] | None = ddb.get_item(TableName=aws["env"][Env.CALLS_TABLE], Key=key).get("Item")
    return item


def calls_stored(aws: dict[str, Any]) -> list[str]:
    ddb = aws["session"].client("dynamodb")
    items = ddb.scan(TableName=aws["env"][Env.CALLS_TABLE])["Items"]
    return sorted(i["call_id"]["S"] for i in items if i["sk"]["S"] == "CALL")


def objects(aws: dict[str, Any], prefix: str = "") -> dict[str, dict[str, str]]:
    s3 = aws["session"].client("s3")
    out = {}
    for version in s3.list_object_versions(Bucket=bucket(aws), Prefix=prefix).get("Versions", []):
        head = s3.head_object(Bucket=bucket(aws), Key=version["Key"], VersionId=version["VersionId"])
        out[version["Key"]] = head.get("Metadata", {})
    return out


def analysis_messages(aws: dict[str, Any]) -> list[str]:
    sqs = aws["session"].client("sqs")
    got = sqs.receive_message(QueueUrl=aws["env"][Env.ANALYSIS_QUEUE_URL], MaxNumberOfMessages=10)
    return [json.loads(m["Body"])["call_id"] for m in got.get("Messages", [])]


def test_voice_file_becomes_a_sealed_call_with_consent_and_provenance(importer: Any, aws: dict[str, Any]) -> None:
    key = "Analysis/Voice/2026/11/27/voice-de_analysis_2026-11-27T09:04:10Z.json"
    drop(aws, key, (FIXTURES / "contact-lens-voice-de.json").read_bytes())
    logs = LogCapture()
    try:
        assert deliver(importer, aws, key) == []
    finally:
        logs.close()
    item = call_item(aws, VOICE_DE)
    assert item is not None
    assert item["channel"]["S"] == "voice"
    assert item["language"]["S"] == "de"
    assert item["agent_id"]["S"] == "a0000000-0000-4000-8000-000000000017"
    assert item["started_at"]["S"].startswith("2026-11-27T09:00:00")
    assert item["analysis_status"]["S"] == "queued"
    assert {k: v["BOOL"] for k, v in item["consent"]["M"].items()} == {
        "recording": True,
        "ai_analysis": True,
        "ai_disclosure_given": True,
    }
    speakers = [s["M"]["speaker"]["S"] for s in item["segments"]["L"]]
    assert speakers == ["bot", "agent", "customer", "agent", "customer", "agent", "customer"]
    imported = item["imported"]["M"]
    assert imported["format"]["S"] == "contact-lens"
    assert imported["output"]["S"] == "raw"
    assert analysis_messages(aws) == [VOICE_DE]
    # the raw file is never kept: the version the event named is gone from the stack's own bucket
    assert objects(aws) == {}
    # the transcript is stored only sealed; no plain text anywhere, nothing personal logged
    dump = scan_all(aws["session"])
    for secret in ("Mustermann", "DE89 3704", "0151 23456701", "Abschlagszahlung"):
        assert secret not in dump
        assert secret not in logs.text()


def test_same_file_twice_stores_once_and_answers_the_same(importer: Any, aws: dict[str, Any]) -> None:
    raw = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    for n in range(2):
        key = f"Analysis/Voice/2026/11/27/copy{n}_analysis.json"
        drop(aws, key, raw)
        assert deliver(importer, aws, key) == []
    # and the same event delivered again after the object is gone: nothing happens
    assert deliver(importer, aws, "Analysis/Voice/2026/11/27/copy0_analysis.json") == []
    assert calls_stored(aws) == [VOICE_DE]
    assert analysis_messages(aws) == [VOICE_DE]
    assert objects(aws) == {}


def test_redelivery_after_analysis_answers_the_first_answer(importer: Any, aws: dict[str, Any]) -> None:
    raw = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    drop(aws, "Analysis/Voice/a_analysis.json", raw)
    deliver(importer, aws, "Analysis/Voice/a_analysis.json")
    ddb = aws["session"].client("dynamodb")
    ddb.update_item(  # the analysis moved the call on meanwhile
        TableName=aws["env"][Env.CALLS_TABLE],
        Key={"pk": {"S": f"CALL#{VOICE_DE}"}, "sk": {"S": "CALL"}},
        UpdateExpression="SET analysis_status = :d",
        ExpressionAttributeValues={":d": {"S": "done"}},
    )
    drop(aws, "Analysis/Voice/b_analysis.json", raw)
    assert deliver(importer, aws, "Analysis/Voice/b_analysis.json") == []
    assert objects(aws) == {}


def test_consentless_contact_is_stored_without_text_or_analysis(importer: Any, aws: dict[str, Any]) -> None:
    key = "Analysis/Voice/2026/11/27/nc_analysis.json"
    drop(aws, key, (FIXTURES / "contact-lens-voice-de-no-consent.json").read_bytes())
    assert deliver(importer, aws, key) == []
    item = call_item(aws, NO_CONSENT)
    assert item is not None
    assert item["analysis_status"]["S"] == "skipped"
    assert item["analysis_skip_reason"]["S"] == "no_ai_consent"
    assert "transcript" not in item  # no recording consent: no transcript text is kept anywhere
    assert analysis_messages(aws) == []
    assert "Vertrag" not in scan_all(aws["session"])


def test_chat_and_transcribe_files_import_through_s3_notification_shape_too(importer: Any, aws: dict[str, Any]) -> None:
    chat_key = "Analysis/Chat/2026/11/26/chat file_analysis.json"  # a space: S3 notifications encode it
    tca_key = "CallAnalytics/2026/11/25/callguard-job.json"
    drop(aws, chat_key, (FIXTURES / "contact-lens-chat-en.json").read_bytes())
    drop(aws, tca_key, (FIXTURES / "transcribe-call-analytics-en.json").read_bytes())
    assert deliver(importer, aws, chat_key, tca_key, shape="s3") == []
    chat = call_item(aws, "11111111-2222-4333-8444-555555555503")
    tca = call_item(aws, "11111111-2222-4333-8444-555555555504")
    assert chat is not None
    assert tca is not None
    assert chat["channel"]["S"] == "chat"
    assert chat["language"]["S"] == "en"
    assert tca["imported"]["M"]["format"]["S"] == "transcribe"
    assert [s["M"]["speaker"]["S"] for s in tca["segments"]["L"]][:2] == ["agent", "customer"]


def test_redacted_twin_is_imported_only_when_the_raw_twin_is_unreadable(importer: Any, aws: dict[str, Any]) -> None:
    doc = json.loads((FIXTURES / "contact-lens-voice-de.json").read_text())
    redacted = json.loads((FIXTURES / "contact-lens-voice-de-redacted.json").read_text())
    redacted["CustomerMetadata"]["ContactId"] = VOICE_DE
    raw_key = "Analysis/Voice/2026/11/27/c_analysis_2026-11-27T09:04:10Z.json"
    red_key = "Analysis/Voice/Redacted/2026/11/27/c_analysis_redacted_2026-11-27T09:04:10Z.json"
    drop(aws, raw_key, json.dumps(doc).encode())
    drop(aws, red_key, json.dumps(redacted).encode())
    # both events; the redacted one first: the raw twin is readable, so it is left to the raw event
    assert deliver(importer, aws, red_key, raw_key) == []
    item = call_item(aws, VOICE_DE)
    assert item is not None
    assert item["imported"]["M"]["output"]["S"] == "raw"
    assert objects(aws) == {}  # neither twin is kept, nothing quarantined


def test_redacted_only_file_is_imported_and_flagged(importer: Any, aws: dict[str, Any]) -> None:
    key = "Analysis/Voice/Redacted/2026/11/27/r_analysis_redacted_2026-11-27T10:01:30Z.json"
    drop(aws, key, (FIXTURES / "contact-lens-voice-de-redacted.json").read_bytes())
    assert deliver(importer, aws, key) == []
    item = call_item(aws, "11111111-2222-4333-8444-555555555502")
    assert item is not None
    assert item["imported"]["M"]["output"]["S"] == "redacted"
    # the raw twin arriving later does not conflict: the call keeps its redacted import
    raw = json.loads((FIXTURES / "contact-lens-voice-de-redacted.json").read_text())
    raw["ContentMetadata"] = {"Output": "Raw"}
    raw["Transcript"][0]["Content"] = "Guten Tag, Kundenservice, mein Name ist Beispiel."
    raw_key = "Analysis/Voice/2026/11/27/r_analysis_2026-11-27T10:01:30Z.json"
    drop(aws, raw_key, json.dumps(raw).encode())
    assert deliver(importer, aws, raw_key) == []
    assert objects(aws) == {}


def bad_files() -> dict[str, bytes]:
    good = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    doc = json.loads(good)
    unknown = dict(doc, Version="7.0.0")
    nobody = dict(doc, Participants=[])
    foreign = json.loads(good)
    foreign["CustomerMetadata"]["InstanceId"] = "00000000-0000-4000-8000-000000000000"
    stranger = json.loads(good)
    stranger["CustomerMetadata"]["ContactId"] = "99999999-2222-4333-8444-555555555599"
    return {
        "not_json": good[:700],
        "unsupported_version": json.dumps(unknown).encode(),
        "missing_participants": json.dumps(nobody).encode(),
        "foreign_instance": json.dumps(foreign).encode(),
        "contact_not_found": json.dumps(stranger).encode(),
        "too_large": good + b" " * (21 * 1024 * 1024),
    }


def test_bad_files_land_in_quarantine_with_their_reason_and_nothing_is_stored(
    importer: Any, aws: dict[str, Any]
) -> None:
    keys = {}
    for reason, body in bad_files().items():
        keys[reason] = f"Analysis/Voice/2026/11/27/{reason}_analysis.json"
        drop(aws, keys[reason], body)
    assert deliver(importer, aws, *keys.values()) == []
    assert calls_stored(aws) == []
    quarantined = objects(aws, "callguard-quarantine/")
    assert quarantined == {
        f"callguard-quarantine/{reason}/{key}": {"callguard-reason": reason} for reason, key in keys.items()
    }
    # the originals are gone from the stack's own bucket; only the quarantine copies remain
    assert set(objects(aws)) == set(quarantined)
    assert analysis_messages(aws) == []


def test_a_connect_outage_is_retried_not_quarantined(
    importer: Any, aws: dict[str, Any], connect: ConnectServer
) -> None:
    key = "Analysis/Voice/2026/11/27/outage_analysis.json"
    drop(aws, key, (FIXTURES / "contact-lens-voice-de.json").read_bytes())
    connect.stop()  # the look-up cannot be made: the message returns to the queue
    assert deliver(importer, aws, key) == [{"itemIdentifier": "m-0"}]
    assert calls_stored(aws) == []
    assert objects(aws, "callguard-quarantine/") == {}
    assert key in objects(aws)


def test_files_outside_the_prefixes_are_not_read(importer: Any, aws: dict[str, Any]) -> None:
    drop(aws, "elsewhere/x.json", b"{}")
    assert deliver(importer, aws, "elsewhere/x.json") == []
    assert "elsewhere/x.json" in objects(aws)


def test_analysis_reuses_contact_lens_sentiment_instead_of_comprehend(importer: Any, aws: dict[str, Any]) -> None:
    key = "Analysis/Voice/2026/11/27/reuse_analysis.json"
    drop(aws, key, (FIXTURES / "contact-lens-voice-de.json").read_bytes())
    deliver(importer, aws, key)
    analyze = load_handler("analyze")
    analyze.service(aws["clients"])
    emulator = aws["comprehend"]
    emulator.calls.clear()
    outcome = analyze.service().analyze(VOICE_DE)
    assert outcome.status == "done"
    operations = {op for op, _ in emulator.calls}
    assert "BatchDetectSentiment" not in operations
    assert "BatchDetectEntities" in operations  # redaction still uses Comprehend where it can
    analysis = json.loads(
        aws["session"]
        .client("dynamodb")
        .get_item(
            TableName=aws["env"][Env.CALLS_TABLE],
            Key={"pk": {"S": f"CALL#{VOICE_DE}"}, "sk": {"S": "ANALYSIS"}},
        )["Item"]["analysis"]["S"]
    )
    assert analysis["sentiment_source"] == "contact-lens"
    assert analysis["sentiment"]["by_speaker"]["customer"] in {"MIXED", "NEGATIVE", "POSITIVE"}
    assert analysis["provider"]["categories"] == ["Abrechnung"]
    assert analysis["provider"]["issues"] == [2]
    assert "[IBAN]" in analysis["segments"][4]["text"]


def test_only_identifiers_the_contact_flow_authenticated_link_histories(
    importer: Any, aws: dict[str, Any], connect: ConnectServer
) -> None:
    directory = json.loads(connect.contacts_file.read_text())
    # a second contact of the same customer, authenticated the same way; and a third that only
    # claims the customer id (no verification): it must not join the history
    base = directory["contacts"][VOICE_DE]
    twin, claim = "11111111-2222-4333-8444-555555555511", "11111111-2222-4333-8444-555555555512"
    directory["contacts"][twin] = base
    directory["contacts"][claim] = dict(
        base, attributes={k: v for k, v in base["attributes"].items() if "verif" not in k}
    )
    connect.contacts_file.write_text(json.dumps(directory))
    doc = json.loads((FIXTURES / "contact-lens-voice-de.json").read_text())
    for n, contact in enumerate((VOICE_DE, twin, claim)):
        doc["CustomerMetadata"]["ContactId"] = contact
        drop(aws, f"Analysis/Voice/v{n}_analysis.json", json.dumps(doc).encode())
    assert deliver(importer, aws, *(f"Analysis/Voice/v{n}_analysis.json" for n in range(3))) == []
    first, second, third = (call_item(aws, c) for c in (VOICE_DE, twin, claim))
    assert first is not None and second is not None and third is not None  # noqa: PT018
    assert first["authenticated_by"]["S"] == "ivr_pin"
    assert second["subject_id"] == first["subject_id"]
    assert third["subject_id"] != first["subject_id"]
    assert "authenticated_by" not in third
