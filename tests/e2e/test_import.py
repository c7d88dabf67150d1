"""Contact Lens / Transcribe files dropped into the embedded stack (`make import`), end to end:
S3 → EventBridge rule → import queue → importer → the ingest service → analysis → agent view."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from local.client import http
from local.imports import ImportResult, drop_files
from tests.e2e.conftest import RunningStack
from tests.e2e.flows import download, people, run
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURES = ROOT / "tests" / "fixtures" / "imports"
VOICE, REDACTED, CHAT, TCA, NO_CONSENT = (f"11111111-2222-4333-8444-55555555550{n}" for n in (1, 2, 3, 4, 5))


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return people(stack)


@pytest.fixture(scope="module")
def imported(stack: RunningStack) -> dict[str, ImportResult]:
    names = [
        "contact-lens-voice-de.json",
        "contact-lens-voice-de-redacted.json",
        "contact-lens-chat-en.json",
        "transcribe-call-analytics-en.json",
        "contact-lens-voice-de-no-consent.json",
    ]
    results = drop_files([FIXTURES / n for n in names], state_file=stack.state_file)
    return {r.path.name: r for r in results}


def settled_view(stack: RunningStack, token: str, call_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        answer = http("GET", f"{stack.api_url}/v1/calls/{call_id}", token=token)
        assert answer.status == 200, answer.body
        if answer.body["analysis"]["status"] != "pending" or time.monotonic() > deadline:
            return answer.body
        time.sleep(0.3)


def test_documented_examples_import_into_redacted_analysed_calls(
    stack: RunningStack, tokens: dict[str, str], imported: dict[str, ImportResult]
) -> None:
    assert {n: r.call_id for n, r in imported.items()} == {
        "contact-lens-voice-de.json": VOICE,
        "contact-lens-voice-de-redacted.json": REDACTED,
        "contact-lens-chat-en.json": CHAT,
        "transcribe-call-analytics-en.json": TCA,
        "contact-lens-voice-de-no-consent.json": NO_CONSENT,
    }
    voice = settled_view(stack, tokens["agent"], VOICE)
    assert voice["analysis"]["status"] == "done"
    assert (voice["channel"], voice["language"]) == ("voice", "de")
    texts = " ".join(s["text"] for s in voice["segments"])
    assert "[IBAN]" in texts
    assert "[PHONE]" in texts
    assert "DE89" not in texts
    assert "Mustermann" not in texts
    assert voice["imported"] == {"format": "contact-lens", "version": "1.1.0", "redacted_input": False}
    assert voice["analysis"]["provider"]["categories"] == ["Abrechnung"]
    assert voice["analysis"]["sentiment_source"] == "contact-lens"  # no second Comprehend bill for sentiment
    chat = settled_view(stack, tokens["agent"], CHAT)
    assert chat["analysis"]["status"] == "done"
    assert chat["channel"] == "chat"
    assert "+44 7700" not in json.dumps(chat)
    assert [s["speaker"] for s in chat["segments"]][:3] == ["bot", "agent", "customer"]
    tca = settled_view(stack, tokens["agent"], TCA)
    assert tca["analysis"]["status"] == "done"
    assert "4111" not in json.dumps(tca)
    redacted = settled_view(stack, tokens["agent"], REDACTED)
    assert redacted["imported"]["redacted_input"] is True
    assert redacted["analysis"]["status"] == "done"


def test_a_consentless_contact_is_stored_unanalysed(
    stack: RunningStack, tokens: dict[str, str], imported: dict[str, ImportResult]
) -> None:
    view = settled_view(stack, tokens["agent"], NO_CONSENT)
    assert view["analysis"]["status"] == "skipped"
    assert view["analysis"]["reason"] == "no_ai_consent"
    assert {s["text"] for s in view["segments"]} == {None}


def test_bad_files_land_in_quarantine_with_their_reasons(stack: RunningStack, tmp_path: Path) -> None:
    good = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    doc = json.loads(good)
    files = {
        "not_json": good[:600],
        "unsupported_version": json.dumps(dict(doc, Version="3.0.0")).encode(),
        "missing_participants": json.dumps(dict(doc, Participants=[])).encode(),
        "too_large": good + b" " * (21 * 1024 * 1024),
    }
    paths = []
    for reason, body in files.items():
        path = tmp_path / f"{reason}.json"
        path.write_bytes(body)
        paths.append(path)
    results = drop_files(paths, state_file=stack.state_file)
    assert {r.path.stem: r.reason for r in results} == {reason: reason for reason in files}
    assert all(r.call_id is None for r in results)
    state = json.loads(stack.state_file.read_text())
    s3 = stack.client("s3")
    listing = s3.list_objects_v2(Bucket=state["import_bucket"], Prefix="callguard-quarantine/")["Contents"]
    reasons = {o["Key"].split("/")[1] for o in listing}
    assert set(files) <= reasons


def test_importing_twice_stores_once(stack: RunningStack, imported: dict[str, ImportResult]) -> None:
    again = subprocess.run(  # the make target's command, against this stack
        [sys.executable, "-m", "local", "import", str(FIXTURES / "contact-lens-voice-de.json")],
        cwd=ROOT,
        env={**__import__("os").environ, "CALLGUARD_LOCAL_STATE": str(stack.state_file)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{VOICE}\n"  # only the call id
    state = json.loads(stack.state_file.read_text())
    items = stack.client("dynamodb").query(
        TableName=state["calls_table"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CALL#{VOICE}"}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in items) == ["ANALYSIS", "CALL", "TRANSCRIPT"]  # one call, once
    s3 = stack.client("s3")
    transcripts = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "transcripts" in b["Name"])
    versions = s3.list_object_versions(Bucket=transcripts, Prefix="transcripts/").get("Versions", [])
    assert len([v for v in versions if v["Key"].endswith(f"/{VOICE}.sealed")]) == 1  # sealed once
    # and the raw files are not kept in the import bucket
    left = s3.list_objects_v2(Bucket=state["import_bucket"], Prefix="Analysis/").get("KeyCount", 0)
    assert left == 0


def test_access_export_and_erasure_cover_imported_calls(
    stack: RunningStack, tokens: dict[str, str], imported: dict[str, ImportResult]
) -> None:
    settled_view(stack, tokens["agent"], CHAT)
    access = run(stack, tokens, "access", {"customer_id": "K-7001"})
    assert access["status"] == "completed", access
    export = download(access, tokens["compliance"])
    (call,) = export["data"]["calls"]
    assert call["call_id"] == VOICE
    assert "DE89 3704 0044 0532 0130 00" in json.dumps(call["transcript"], ensure_ascii=False)  # the subject's own data
    assert call["analysis"]["provider"]["categories"] == ["Abrechnung"]

    erased = run(stack, tokens, "erasure", {"customer_id": "K-7003"})
    assert erased["status"] == "completed", erased
    assert erased["result"]["removed"]["calls"] >= 1
    assert http("GET", f"{stack.api_url}/v1/calls/{CHAT}", token=tokens["agent"]).status == 404
    assert http("GET", f"{stack.api_url}/v1/calls/{VOICE}", token=tokens["agent"]).status == 200
