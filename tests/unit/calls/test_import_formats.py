"""The Contact Lens / Transcribe Call Analytics parsers: documented shapes in, strict refusals out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from callguard.calls.importer import ImportSettings, RejectedFileError, parse
from callguard.calls.importer.service import raw_twin_key, speaker_of

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "imports"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def reason_of(document: Any, **kwargs: Any) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(RejectedFileError) as caught:
        parse(raw, **kwargs)
    return caught.value.reason


def test_contact_lens_voice_maps_participants_offsets_language_and_insights() -> None:
    t = parse((FIXTURES / "contact-lens-voice-de.json").read_bytes())
    summary = (t.format, t.version, t.channel, t.language_code, t.redacted)
    assert summary == ("contact-lens", "1.1.0", "voice", "de-DE", False)
    assert t.contact_id == "11111111-2222-4333-8444-555555555501"
    assert [turn.role for turn in t.turns][:3] == ["SYSTEM", "AGENT", "CUSTOMER"]
    doc = fixture("contact-lens-voice-de.json")
    assert [(x.start_ms, x.end_ms) for x in t.turns] == [
        (i["BeginOffsetMillis"], i["EndOffsetMillis"]) for i in doc["Transcript"]
    ]
    assert t.turns[2].sentiment == "NEGATIVE"
    assert t.insights.categories == ("Abrechnung",)
    assert (t.insights.issues, t.insights.outcomes, t.insights.action_items) == ((2,), (5,), (5,))
    assert t.insights.sentiment_by_role == {"AGENT": 3.0, "CUSTOMER": -0.5}


def test_contact_lens_chat_keeps_messages_only_and_offsets_from_absolute_times() -> None:
    t = parse((FIXTURES / "contact-lens-chat-en.json").read_bytes())
    assert (t.channel, t.version, t.language_code) == ("chat", "CHAT-2022-11-30", "en-US")
    # the "participant joined" event carries no text and is no turn
    assert len(t.turns) == 7
    assert t.turns[0].start_ms == 0
    assert t.turns[1].start_ms == 10_380
    assert [turn.role for turn in t.turns][1:3] == ["AGENT", "CUSTOMER"]
    # summary items point at transcript item ids; they become turn indexes
    assert (t.insights.issues, t.insights.outcomes, t.insights.action_items) == ((2,), (5,), (5,))
    assert t.insights.sentiment_by_role == {"AGENT": 2.1, "CUSTOMER": -0.8}


def test_transcribe_call_analytics_reads_roles_on_each_turn() -> None:
    t = parse((FIXTURES / "transcribe-call-analytics-en.json").read_bytes())
    assert (t.format, t.channel, t.language_code, t.job_name) == (
        "transcribe",
        "voice",
        "en-GB",
        "callguard-11111111-2222-4333-8444-555555555504",
    )
    assert [x.role for x in t.turns] == ["AGENT", "CUSTOMER", "AGENT", "CUSTOMER", "AGENT", "CUSTOMER"]
    assert t.insights.categories == ("Move",)


def test_redacted_twin_is_flagged() -> None:
    assert parse((FIXTURES / "contact-lens-voice-de-redacted.json").read_bytes()).redacted is True


def test_truncated_json_is_refused() -> None:
    raw = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    assert reason_of(raw[: len(raw) // 2]) == "not_json"
    assert reason_of(b"\xff\xfe{}") == "not_json"
    assert reason_of(b"[1, 2]") == "unsupported_format"
    assert reason_of({"hello": "world"}) == "unsupported_format"


@pytest.mark.parametrize("version", ["1.0.0", "1.2.0", "2.0.0", "CHAT-2099-01-01", ""])
def test_unknown_contact_lens_version_is_refused(version: str) -> None:
    doc = fixture("contact-lens-voice-de.json")
    doc["Version"] = version
    assert reason_of(doc) == "unsupported_version"


def test_other_channels_and_versioned_transcribe_results_are_refused() -> None:
    doc = fixture("contact-lens-voice-de.json")
    doc["Channel"] = "EMAIL"
    assert reason_of(doc) == "unsupported_channel"
    tca = fixture("transcribe-call-analytics-en.json")
    tca["Version"] = "2.0"
    assert reason_of(tca) == "unsupported_version"


def test_missing_or_unknown_participants_are_refused() -> None:
    doc = fixture("contact-lens-voice-de.json")
    doc["Participants"] = []
    assert reason_of(doc) == "missing_participants"
    doc = fixture("contact-lens-voice-de.json")
    doc["Transcript"][1]["ParticipantId"] = "someone-else"
    assert reason_of(doc) == "missing_participants"
    chat = fixture("contact-lens-chat-en.json")
    chat["Participants"] = []
    assert reason_of(chat) == "missing_participants"
    tca = fixture("transcribe-call-analytics-en.json")
    del tca["Participants"]
    assert reason_of(tca) == "invalid_file"


def test_shape_errors_name_the_field_never_the_value() -> None:
    doc = fixture("contact-lens-voice-de.json")
    doc["Transcript"][4]["BeginOffsetMillis"] = "DE89 3704 0044 0532 0130 00"
    with pytest.raises(RejectedFileError) as caught:
        parse(json.dumps(doc).encode())
    assert caught.value.reason == "invalid_file"
    assert "Transcript.4.BeginOffsetMillis" in str(caught.value)
    assert "DE89" not in str(caught.value)


def test_incomplete_job_and_reversed_turn_are_refused() -> None:
    doc = fixture("contact-lens-voice-de.json")
    doc["JobStatus"] = "FAILED"
    assert reason_of(doc) == "invalid_file"
    doc = fixture("contact-lens-voice-de.json")
    doc["Transcript"][0]["EndOffsetMillis"] = 0
    doc["Transcript"][0]["BeginOffsetMillis"] = 500
    assert reason_of(doc) == "invalid_file"


def test_format_named_at_drop_must_match() -> None:
    raw = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    assert reason_of(raw, expected="transcribe") == "format_mismatch"
    assert parse(raw, expected="contact-lens").format == "contact-lens"


def test_control_characters_in_turns_become_spaces() -> None:
    doc = fixture("contact-lens-voice-de.json")
    doc["Transcript"][1]["Content"] = "Guten\x00Tag\x1b"
    assert parse(json.dumps(doc).encode()).turns[1].text == "Guten Tag "


@pytest.mark.parametrize(
    ("role", "speaker"),
    [("AGENT", "agent"), ("CUSTOMER", "customer"), ("SYSTEM", "bot"), ("CUSTOM_BOT", "bot"), ("SUPERVISOR", "bot")],
)
def test_roles_map_to_speakers(role: str, speaker: str) -> None:
    assert speaker_of(role) == speaker


def test_raw_twin_key_follows_the_contact_lens_layout() -> None:
    redacted = "Analysis/Voice/Redacted/2026/11/27/c-1_analysis_redacted_2026-11-27T09:04:10Z.json"
    assert raw_twin_key(redacted) == "Analysis/Voice/2026/11/27/c-1_analysis_2026-11-27T09:04:10Z.json"
    assert raw_twin_key("Analysis/Voice/2026/11/27/c-1_analysis_2026-11-27T09:04:10Z.json") is None


def test_settings_refuse_a_quarantine_inside_an_import_prefix_and_patterns_without_group() -> None:
    with pytest.raises(ValidationError):
        ImportSettings(prefixes=("Analysis/",), quarantine_prefix="Analysis/quarantine/")
    with pytest.raises(ValidationError):
        ImportSettings(transcribe_contact_id_pattern=r"[0-9a-f-]{36}")
    settings = ImportSettings.from_env(ImportSettings(redacted_only=True).to_env())
    assert settings.redacted_only is True


def test_silent_turns_are_dropped_and_insight_indexes_follow_the_kept_turns() -> None:
    doc = fixture("contact-lens-voice-de.json")
    doc["Transcript"].insert(0, dict(doc["Transcript"][0], Content="   ", IssuesDetected=[]))
    t = parse(json.dumps(doc).encode())
    assert len(t.turns) == 7
    assert t.insights.issues == (2,)
    assert t.turns[2].text.startswith("Hallo")
