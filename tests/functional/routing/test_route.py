"""POST /v1/routing/decisions through the handler, with consent and history from real ingestion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.names import Env
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

ANGRY = "Die Abbuchung ist schon wieder falsch, das ärgert mich, ich rufe zum dritten Mal an!"


@pytest.fixture
def handlers(aws: dict[str, Any]) -> dict[str, Any]:
    ingest, route, analyze = (load_handler(n) for n in ("ingest", "route", "analyze"))
    ingest.dependencies(aws["clients"])
    route.service(aws["clients"])
    analyze.service(aws["clients"])
    return {"ingest": ingest, "route": route, "analyze": analyze}


def _route(handlers: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handlers["route"].lambda_handler(
        api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide"), FakeContext()
    )
    return response["statusCode"], json.loads(response["body"])


def _ingest(handlers: dict[str, Any], call_id: str, caller: dict[str, str], consent: dict[str, bool]) -> None:
    response = handlers["ingest"].lambda_handler(
        api_event("POST", "/v1/calls", call_body(call_id=call_id, caller=caller, consent=consent)), FakeContext()
    )
    assert response["statusCode"] == 202


YES = {"recording": True, "ai_analysis": True, "ai_disclosure_given": True}
NO_AI = {"recording": True, "ai_analysis": False, "ai_disclosure_given": True}


def test_first_time_german_caller_gets_a_german_queue(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    status, body = _route(
        handlers, {"caller": {"phone": "+49 30 1234567"}, "channel": "voice", "utterance": "Wo ist meine Lieferung?"}
    )
    assert status == 200
    assert set(body) == {"queue", "priority", "handled_by", "reasons", "suggestions"}
    assert body["queue"].startswith("de-")
    assert {r["factor"] for r in body["reasons"]} >= {"language", "intent", "sentiment", "history"}


def test_repeat_caller_with_consent_is_prioritised_and_opt_out_gets_a_human(
    handlers: dict[str, Any], aws: dict[str, Any]
) -> None:
    caller = {"phone": PLANTED["phone"]}
    _ingest(handlers, "r-1", caller, YES)
    _, calm_first = _route(
        handlers, {"caller": {"phone": "+49 30 7654321"}, "channel": "voice", "utterance": "Frage zur Rechnung."}
    )
    _, angry_repeat = _route(handlers, {"caller": caller, "channel": "voice", "utterance": ANGRY})
    assert angry_repeat["priority"] < calm_first["priority"]
    assert angry_repeat["handled_by"] == "human"
    assert any(r["factor"] == "repeat_caller" for r in angry_repeat["reasons"])

    _ingest(handlers, "r-2", caller, NO_AI)  # the latest consent withdraws AI analysis
    aws["comprehend"].calls.clear()
    _, opted_out = _route(handlers, {"caller": caller, "channel": "chat", "utterance": "Wo ist meine Lieferung?"})
    assert opted_out["handled_by"] == "human"
    assert aws["comprehend"].calls == []  # the utterance never reached Comprehend
    history = next(r for r in opted_out["reasons"] if r["factor"] == "history")
    assert "opted out" in history["effect"]


def test_decisions_are_stored_with_reasons_and_config_version_and_no_utterance(
    handlers: dict[str, Any], aws: dict[str, Any]
) -> None:
    _ingest(handlers, "s-1", {"email": PLANTED["email"]}, YES)
    utterance = f"Hier spricht {PLANTED['name']}, meine IBAN ist {PLANTED['iban']}, die Rechnung ist falsch."
    _route(
        handlers, {"caller": {"email": PLANTED["email"]}, "channel": "voice", "utterance": utterance, "call_id": "s-1"}
    )
    ddb = aws["session"].client("dynamodb")
    items = [i for i in ddb.scan(TableName=aws["env"][Env.CALLS_TABLE])["Items"] if i["sk"]["S"] == "DECISION"]
    assert len(items) == 1
    stored = json.loads(items[0]["decision"]["S"])
    assert stored["config_version"]
    assert stored["reasons"]
    assert items[0]["category"]["S"] == "routing_decisions"
    assert "subject_id" in items[0]
    dump = json.dumps(items, ensure_ascii=False)
    for value in (PLANTED["name"], PLANTED["iban"], PLANTED["email"], "Rechnung ist falsch"):
        assert value not in dump


def test_no_ai_disclosure_on_record_means_no_comprehend_and_no_history(
    handlers: dict[str, Any], aws: dict[str, Any]
) -> None:
    """The consent policy: AI consent without the AI disclosure does not make routing personal."""
    caller = {"customer_id": "K-nd", "verification": {"identifiers": ["customer_id"], "method": "ivr_pin"}}
    _ingest(handlers, "nd-1", caller, {"recording": True, "ai_analysis": True, "ai_disclosure_given": False})
    aws["comprehend"].calls.clear()
    _, body = _route(handlers, {"caller": caller, "channel": "voice", "utterance": ANGRY})
    assert aws["comprehend"].calls == []
    assert not any(r["factor"] == "repeat_caller" for r in body["reasons"])
    history = next(r for r in body["reasons"] if r["factor"] == "history")
    assert "no AI disclosure" in history["effect"]


def test_suggestions_are_knowledge_base_answers_never_caller_text(handlers: dict[str, Any]) -> None:
    utterance = f"Mein Name ist {PLANTED['name']}, ich bin umgezogen, neue Adresse bitte."
    _, body = _route(handlers, {"caller": {"customer_id": "K-9"}, "channel": "chat", "utterance": utterance})
    text = json.dumps(body["suggestions"], ensure_ascii=False)
    assert body["suggestions"]
    assert PLANTED["name"] not in text
    assert "umgezogen" not in text


def test_bad_routing_requests_are_rejected(handlers: dict[str, Any]) -> None:
    status, body = _route(handlers, {"caller": {}, "channel": "voice"})
    assert (status, body["error"]["code"]) == (422, "validation_failed")


def test_an_unknown_caller_s_words_never_reach_comprehend(handlers: dict[str, Any], aws: dict[str, Any]) -> None:
    """Issue 14: without any consent on record (a first-time caller) routing decides on the rules."""
    aws["comprehend"].calls.clear()
    status, body = _route(handlers, {"caller": {"phone": "+49 30 2223334"}, "channel": "voice", "utterance": ANGRY})
    assert status == 200
    assert aws["comprehend"].calls == []
    assert next(r for r in body["reasons"] if r["factor"] == "sentiment")["value"] == "not analysed"


def test_a_shown_number_does_not_bring_someone_elses_history_or_consent(
    handlers: dict[str, Any], aws: dict[str, Any]
) -> None:
    """The victim's authenticated history (with AI consent) is not used for a caller who only shows
    the victim's number: no history, no Comprehend."""
    victim = {"customer_id": "K-77", "phone": "+49 30 4445556",
              "verification": {"identifiers": ["customer_id"], "method": "ivr_pin"}}  # fmt: skip
    _ingest(handlers, "v-1", victim, YES)
    aws["comprehend"].calls.clear()
    _, spoofed = _route(handlers, {"caller": {"phone": "+49 30 4445556"}, "channel": "voice", "utterance": ANGRY})
    assert aws["comprehend"].calls == []
    assert not any(r["factor"] == "repeat_caller" for r in spoofed["reasons"])
    proven = {"customer_id": "K-77", "verification": {"identifiers": ["customer_id"], "method": "app_login"}}
    _, own = _route(handlers, {"caller": proven, "channel": "voice", "utterance": ANGRY})
    assert aws["comprehend"].calls  # the proven caller's consent is on record: analysed
    assert any(r["factor"] == "repeat_caller" for r in own["reasons"])


@pytest.mark.parametrize(
    "utterance",
    [
        "Mein Router ist kaputt. Ich wohne in der Hauptstraße 5, 10115 Berlin.",
        "Hallo, hier spricht Erika Mustermann, Hauptstraße 5, 10115 Berlin, erreichbar unter 0151 23456789.",
    ],
)
def test_redaction_labels_never_make_a_call_standard_for_ai(handlers: dict[str, Any], utterance: str) -> None:
    """A caller who only names an address (redacted to [ADDRESS]) did not ask for an address change:
    the labels are callguard's, not evidence, so the call is not handed to AI as a standard request."""
    status, body = _route(handlers, {"caller": {"customer_id": "K-label"}, "channel": "voice", "utterance": utterance})
    assert status == 200
    intent = next(r for r in body["reasons"] if r["factor"] == "intent")
    assert intent["value"] != "address_change"
    assert "address" not in intent["effect"]
    assert body["handled_by"] == "human"
    assert all(r["value"] is False for r in body["reasons"] if r["factor"] == "standard_request")
