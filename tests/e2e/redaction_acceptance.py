"""Runs in its own process (it wraps the stack's Comprehend emulator): one local stack, calls
with every kind of value the old detectors let through (issue 15), ingested over HTTP and
analysed through the queue. Prints one JSON line: per kind, where a planted value was found
(the agent view, the analysis item, the text sent to Comprehend) — kinds and places only,
never a value. tests/e2e/test_redaction_acceptance.py reads it."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from local.client import fetch_token, http
from local.stack import LocalStack
from tests.support import call_body

ZW = "\u200b"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" for c in text)


#: kind → (call language, turns as (speaker, text)), planted values that must not survive)
CALLS: dict[str, tuple[str, list[tuple[str, str]], list[str]]] = {
    "name without cue, surname first": (
        "de",
        [("customer", "Grüß Gott, Stadelmann Eckhard am Apparat, es geht um die Rechnung.")],
        ["Stadelmann", "Eckhard"],
    ),
    "surname at turn start before a greeting": ("de", [("customer", "Metz, guten Morgen.")], ["Metz"]),
    "name after 'hier ist nochmal'": (
        "de",
        [("customer", "Hier ist nochmal Greta Hoffmann.")],
        ["Greta", "Hoffmann"],
    ),
    "name before 'hier'": ("de", [("customer", "Murat Yilmaz hier, wegen der Kündigung.")], ["Murat", "Yilmaz"]),
    "lower-case speech-to-text name": ("de", [("customer", "hier ist die iwona vogt")], ["iwona", "vogt"]),
    "Spanish self-introduction": (
        "es",
        [("customer", "Hola, soy Eloísa Olivé, llamo por la factura.")],
        ["Eloísa", "Olivé"],
    ),
    "written German birth date": (
        "de",
        [("customer", "Geboren bin ich am 19. September 1981.")],
        ["19. September 1981", "September 1981"],
    ),
    "English birth date": ("en", [("customer", "I was born December 30, 1983.")], ["December 30, 1983"]),
    "Spanish birth date": (
        "es",
        [("customer", "Nací el 3 de junio de 1961.")],
        ["3 de junio de 1961", "junio de 1961"],
    ),
    "birth date answering the previous turn": (
        "de",
        [("agent", "Zur Sicherheit noch Ihr Geburtsdatum?"), ("customer", "Der 12.03.1984.")],
        ["12.03.1984"],
    ),
    "spoken number in pairs and compounds": (
        "de",
        [("customer", "Meine Nummer ist null eins sieben zwei, fünfundsechzig zweiundzwanzig, dreiunddreißig.")],
        ["fünfundsechzig", "zweiundzwanzig", "dreiunddreißig", "sieben zwei"],
    ),
    "spoken number in comma groups": (
        "de",
        [("customer", "Also null eins fünf null, zwei drei vier, fünf sechs sieben acht.")],
        ["fünf null, zwei", "fünf sechs sieben acht"],
    ),
    "English double and oh": (
        "en",
        [("customer", "It's oh seven nine double four, one two three, triple six.")],
        ["double four", "triple six", "one two three"],
    ),
    "Spanish digit words": (
        "es",
        [("customer", "Mi móvil es seis cero cero, veintidós, treinta y uno, cuarenta.")],
        ["veintidós", "treinta y uno", "seis cero cero"],
    ),
    "US number in an English call": ("en", [("customer", "Call me back at (212) 555-0187, please.")], ["555-0187"]),
    "Austrian mobile format": ("de", [("customer", "Handy: 0660 47 14 03 0, bitte.")], ["0660 47 14 03 0", "47 14 03"]),
    "tax id in groups of three": ("de", [("customer", "Steuer-ID 659 299 704 89.")], ["659 299 704 89", "299 704"]),
    "12-digit Maestro card": ("de", [("customer", "Karte 5018 6549 4212, bitte.")], ["5018 6549 4212", "6549 4212"]),
    "Luhn-valid card with an unknown issuer": (
        "de",
        [("customer", "Die Karte ist 8400 0054 4076 5350.")],
        ["8400 0054 4076 5350", "4076 5350", "0054"],
    ),
    "lower-case IBAN": ("de", [("customer", "IBAN de89 3704 0044 0532 0130 00.")], ["3704 0044", "0532 0130"]),
    "IBAN with dashes": ("de", [("customer", "IBAN DE89-3704-0044-0532-0130-00.")], ["3704-0044", "0532-0130"]),
    "IBAN with double spaces": ("de", [("customer", "IBAN DE89  3704  0044  0532  0130  00.")], ["3704  0044"]),
    "IBAN with zero-width spaces": (
        "de",
        [("customer", f"IBAN DE89{ZW}3704{ZW}0044{ZW}0532{ZW}0130{ZW}00.")],
        [f"3704{ZW}0044", "0532"],
    ),
    "full-width IBAN": (
        "de",
        [("customer", "IBAN " + _fullwidth("DE89370400440532013000") + ".")],
        [_fullwidth("37040044"), _fullwidth("0532")],
    ),
    "card number with dots": ("de", [("customer", "Karte 4111.1111.1111.1111.")], ["4111.1111", "1111.1111"]),
    "e-mail with a zero-width space": (
        "de",
        [("customer", f"Mail an m.keller{ZW}@example.com bitte.")],
        ["m.keller", "example.com"],
    ),
    "spelled-out e-mail": (
        "de",
        [("customer", "Die Mail ist erika punkt mustermann at gmx punkt de.")],
        ["erika punkt mustermann", "mustermann at gmx"],
    ),
    "Austrian postcode": ("de", [("customer", "Wir wohnen jetzt in 3153 Poysdorf.")], ["3153 Poysdorf", "Poysdorf"]),
    "lower-case street": ("de", [("customer", "ich wohne in der lindenstraße 12")], ["lindenstraße 12"]),
}


def _forms(value: str) -> set[str]:
    """The value and, for numbers, its digits without separators (a leak in another grouping)."""
    forms = {value}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 6:
        forms.add(digits)
    return forms


def main(cdk_out: str, api_port: int, aws_port: int, state_file: str) -> None:
    stack = LocalStack(Path(cdk_out), api_port, aws_port, state_file=Path(state_file))
    stack.start()
    sent: list[str] = []
    emulator = stack.comprehend.emulator
    original = emulator.call

    def spy(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        sent.extend(params.get("TextList") or [params.get("Text", "")])
        return original(operation, params)

    emulator.call = spy  # type: ignore[method-assign]
    report: dict[str, Any] = {"kinds": len(CALLS), "done": 0, "leaks": {}}
    # the check must be able to fail: every planted value is in the text that goes in
    report["not_planted"] = [
        kind
        for kind, (_, turns, values) in CALLS.items()
        if not all(v in " ".join(t for _, t in turns) for v in values)
    ]
    try:
        api = stack.api_url
        platform, agent = fetch_token("platform", stack.state_file), fetch_token("agent", stack.state_file)
        ids = _ingest(api, platform, report)
        views = _agent_views(api, agent, ids, report)
        items = _analysis_items(stack)
        report["comprehend_documents"] = len(sent)
        report["leaks"] = _leaks(ids, views, items, json.dumps(sent, ensure_ascii=False))
        report["analysis_items"] = sum(1 for k in ids.values() if k in items)
    finally:
        emulator.call = original  # type: ignore[method-assign]
        stack.stop()
    sys.stdout.write("RESULT " + json.dumps(report) + "\n")
    sys.stdout.flush()


def _ingest(api: str, platform: str, report: dict[str, Any]) -> dict[str, str]:
    """Each kind's call through ``POST /v1/calls``; kind → call id."""
    ids = {}
    for n, (kind, (language, turns, _values)) in enumerate(CALLS.items()):
        call_id = f"acceptance-{n:02d}"
        segments = [
            {"speaker": speaker, "start_ms": i * 3000, "end_ms": i * 3000 + 2500, "text": text}
            for i, (speaker, text) in enumerate(turns)
        ]
        body = call_body(call_id=call_id, language=language, segments=segments, metadata={})
        answer = http("POST", f"{api}/v1/calls", body, platform)
        report.setdefault("ingest_status", {})[kind] = answer.status
        ids[kind] = call_id
    return ids


def _agent_views(api: str, agent: str, ids: dict[str, str], report: dict[str, Any]) -> dict[str, str]:
    """kind → the agent view once its analysis is done (or after two minutes), as text."""
    views: dict[str, str] = {}
    deadline = time.monotonic() + 120
    for kind, call_id in ids.items():
        while True:
            view = http("GET", f"{api}/v1/calls/{call_id}", token=agent)
            done = view.body.get("analysis", {}).get("status") == "done"
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        report["done"] += done
        views[kind] = json.dumps(view.body, ensure_ascii=False)
    return views


def _leaks(ids: dict[str, str], views: dict[str, str], items: dict[str, str], sent_text: str) -> dict[str, list[str]]:
    """kind → where any form of its planted values was found (agent view, analysis item, Comprehend)."""
    leaks: dict[str, list[str]] = {}
    for kind, (_language, _turns, values) in CALLS.items():
        forms = {f for value in values for f in _forms(value)}
        places = [
            place
            for place, seen in (("agent view", views[kind]), ("analysis item", items.get(ids[kind], "")),
                                ("comprehend", sent_text))
            if any(f in seen for f in forms)
        ]  # fmt: skip
        if places:
            leaks[kind] = places
    return leaks


def _analysis_items(stack: LocalStack) -> dict[str, str]:
    """call id → the stored analysis item as text (JSON strings inside it decoded, so a value
    stored with escaped characters is still seen), read straight from the tables."""
    ddb = stack.session.client("dynamodb", endpoint_url=stack.aws_url)
    out: dict[str, str] = {}
    for name in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=name):
            for item in page["Items"]:
                if item.get("sk", {}).get("S") != "ANALYSIS":
                    continue
                parts = []
                for value in item.values():
                    text = value.get("S")
                    if text is None:
                        parts.append(json.dumps(value, ensure_ascii=False))
                        continue
                    try:
                        parts.append(json.dumps(json.loads(text), ensure_ascii=False))
                    except ValueError:
                        parts.append(text)
                out[item["pk"]["S"].removeprefix("CALL#")] = "\n".join(parts)
    return out


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
