"""POST /v1/calls/{call_id}/segments: sealed appends, incremental sentiment, escalation, suggestions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from callguard.calls.live import RESOLUTION_MIN_CALLS
from callguard.names import Env
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional


@pytest.fixture
def ingest(aws: dict[str, Any]) -> Any:
    module = load_handler("ingest")
    module.dependencies(aws["clients"])
    return module


def _start_live(ingest: Any, call_id: str, **overrides: Any) -> None:
    body = call_body(call_id=call_id, **overrides)
    del body["ended_at"]
    response = ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())
    assert response["statusCode"] == 202


def _segments(ingest: Any, call_id: str, *texts: str, speaker: str = "customer") -> tuple[int, dict[str, Any]]:
    segments = [
        {"speaker": speaker, "start_ms": 10_000 + i, "end_ms": 10_500 + i, "text": t} for i, t in enumerate(texts)
    ]
    event = api_event("POST", f"/v1/calls/{call_id}/segments", {"segments": segments})
    event["resource"] = "/v1/calls/{call_id}/segments"
    event["pathParameters"] = {"call_id": call_id}
    response = ingest.lambda_handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_segments_are_sealed_and_a_souring_mood_escalates(ingest: Any, aws: dict[str, Any]) -> None:
    _start_live(ingest, "live-1")
    status, first = _segments(ingest, "live-1", "Danke, das ist gut.")
    assert (status, first["live"]["sentiment"], first["live"]["escalate"]) == (200, "POSITIVE", False)
    _, second = _segments(ingest, "live-1", "Die Abbuchung ist falsch, das ärgert mich.")
    assert (second["live"]["sentiment"], second["live"]["escalate"]) == ("NEGATIVE", False)  # one sour remark
    _, third = _segments(ingest, "live-1", f"Mein Name ist {PLANTED['name']}, das ist unverschämt und falsch!")
    assert third["live"]["escalate"] is True  # the trend turned negative
    assert any("refund" in s.lower() or "charge" in s.lower() for s in third["live"]["suggestions"])

    service = ingest.dependencies().live
    call = service.calls.get("live-1")
    assert call is not None
    assert call.transcript is not None
    sealed = service.transcripts.get(dict(call.transcript))
    transcript = json.loads(service.keyring.open(call.subject_id, sealed, aad="live-1"))
    assert len(transcript) == 2 + 3  # ingested segments plus three appended
    assert transcript[-1]["text"].startswith("Mein Name ist")
    stored = repr(aws["session"].client("dynamodb").scan(TableName=aws["env"][Env.CALLS_TABLE])["Items"])
    assert PLANTED["name"] not in stored
    assert "unverschämt" not in stored


def test_no_ai_consent_means_no_comprehend_for_live_text(ingest: Any, aws: dict[str, Any]) -> None:
    _start_live(ingest, "live-2", consent={"recording": False, "ai_analysis": False, "ai_disclosure_given": True})
    aws["comprehend"].calls.clear()
    status, body = _segments(ingest, "live-2", "Das ärgert mich sehr.")
    assert status == 200
    assert body["live"]["sentiment"] == "NOT_ANALYSED"
    assert aws["comprehend"].calls == []
    versions = aws["session"].client("s3").list_object_versions(Bucket=aws["env"][Env.TRANSCRIPTS_BUCKET])
    assert "Versions" not in versions  # recording=false: no text stored


def test_without_recording_consent_live_text_never_reaches_comprehend(ingest: Any, aws: dict[str, Any]) -> None:
    """The consent policy: AI consent alone does not send unrecorded text to Comprehend."""
    _start_live(ingest, "live-4", consent={"recording": False, "ai_analysis": True, "ai_disclosure_given": True})
    aws["comprehend"].calls.clear()
    status, body = _segments(ingest, "live-4", "Das ärgert mich sehr.")
    assert (status, body["live"]["sentiment"]) == (200, "NOT_ANALYSED")
    assert aws["comprehend"].calls == []


def test_ended_and_unknown_calls_are_refused(ingest: Any) -> None:
    ended = ingest.lambda_handler(api_event("POST", "/v1/calls", call_body(call_id="done-1")), FakeContext())
    assert ended["statusCode"] == 202
    assert _segments(ingest, "done-1", "Hallo")[0] == 409
    assert _segments(ingest, "nope-1", "Hallo")[0] == 404
    status, body = _segments(ingest, "done-1")
    assert (status, body["error"]["code"]) == (422, "validation_failed")


def test_resolution_suggestions_are_aggregates_seen_in_several_calls(ingest: Any, aws: dict[str, Any]) -> None:
    calls = ingest.dependencies().live.calls
    now = datetime.now(UTC)
    for _ in range(RESOLUTION_MIN_CALLS):
        calls.record_resolution("billing", ["Rückbuchung veranlasst"], now)
    calls.record_resolution("billing", ["Herrn Mustermann angerufen"], now)  # seen once: never shown
    _start_live(ingest, "live-3")
    _, body = _segments(ingest, "live-3", "Die Rechnung ist falsch.")
    text = " ".join(body["live"]["suggestions"])
    assert f"Closed {RESOLUTION_MIN_CALLS} similar calls: Rückbuchung veranlasst" in text
    assert "Mustermann" not in text
