"""``make demo``: a scripted walk-through of callguard on the embedded stack, over HTTP only.

Every step talks to the public API (and, to show what was stored, to the embedded AWS
endpoint, and the compliance CLI) exactly as a platform, an agent or an operator would.
The terminal shows only the walk-through and the summary; the handlers' own output
(Powertools JSON logs, metrics) goes to ``.local/logs/demo.log``. What the demo leaves out
is listed at the end (:data:`NOT_SHOWN`), never faked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess  # nosec B404 - runs this repository's own CLI with a fixed argument list
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from local.client import Answer, download_export, fetch_token, http, run_scheduled, wait_for_request
from local.stack import ROOT, LocalStack, PortInUseError

__all__ = ["LOG_FILE", "NOT_SHOWN", "TENANT_CALL", "http", "run_demo"]

#: the handlers' output during a demo (truncated at each run)
LOG_FILE = ROOT / ".local" / "logs" / "demo.log"
#: rich cuts to 80 columns when the output is not a terminal; a piped demo keeps its tables whole
PIPED_WIDTH = 200

console = Console()

#: What ``make demo`` does not walk through, and where it is shown instead.
NOT_SHOWN: tuple[tuple[str, str], ...] = (
    ("rectification, restriction, objection carried out", "tests/e2e/test_privacy.py; `callguard privacy request …`"),
    ("an erasure refused under a legal hold", "tests/e2e/test_privacy.py (here a hold is only placed and lifted)"),
    ("the export downloaded by the CLI", "`callguard privacy download <id> -o export.json` (README)"),
    ("poisoned messages moving to the analysis DLQ", "tests/functional/local/test_pollers.py"),
    ("Cognito MFA and hosted UI, WAF, CloudTrail, alarms, dashboard", "in AWS only: docs/deploy.md"),
    (
        "a Comprehend custom classifier endpoint",
        "optional; keywords are the fallback (tests/unit/analysis/test_intents.py)",
    ),
)

#: Fake personal data, recognisable, used only here.
GERMAN_CALL = {
    "call_id": "demo-de-0001",
    "channel": "voice",
    "language": "de",
    "caller": {"phone": "0151 23456789", "customer_id": "K-4711", "email": "erika.mustermann@example.de"},
    "agent_id": "agent-17",
    "consent": {"recording": True, "ai_analysis": True, "ai_disclosure_given": True},
    "segments": [
        {"speaker": "agent", "start_ms": 0, "end_ms": 2500, "text": "Guten Tag, Sie sprechen mit dem Kundenservice."},
        {
            "speaker": "customer",
            "start_ms": 2600,
            "end_ms": 9100,
            "text": "Mein Name ist Erika Mustermann, meine IBAN ist DE89 3704 0044 0532 0130 00. "
            "Die letzte Abbuchung war doppelt, das ärgert mich sehr.",
        },
    ],
    "metadata": {"campaign": "winter"},
}
ENGLISH_CALL = {
    "call_id": "demo-en-0001",
    "channel": "chat",
    "language": "en",
    # the same three identifiers, the phone in another format; none authenticated: the same
    # unverified history only because the normalised identifiers are exactly the same
    "caller": {"phone": "+49 151 23456789", "customer_id": "K-4711", "email": "Erika.Mustermann@example.de"},
    "consent": {"recording": False, "ai_analysis": False, "ai_disclosure_given": True},
    "segments": [{"speaker": "customer", "start_ms": 0, "end_ms": 3000, "text": "Hi, this is John Doe, I moved."}],
}
PLANTED = ["Mustermann", "DE89", "0532013000", "23456789", "K-4711", "John Doe"]


def _now(offset_seconds: int = 0) -> str:
    return datetime.fromtimestamp(time.time() - offset_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def _storage_table(stack: LocalStack) -> tuple[Table, str]:
    session = boto3.Session(region_name="eu-central-1")
    ddb = session.client("dynamodb", endpoint_url=stack.aws_url)
    s3 = session.client("s3", endpoint_url=stack.aws_url)
    table = Table(title="What the embedded AWS holds (via its endpoint)")
    table.add_column("store")
    table.add_column("items", justify="right")
    dump = []
    for name in ddb.list_tables()["TableNames"]:
        items = ddb.scan(TableName=name)["Items"]
        dump.append(repr(items))
        table.add_row(f"dynamodb {name}", str(len(items)))
    for bucket in s3.list_buckets()["Buckets"]:
        versions = s3.list_object_versions(Bucket=bucket["Name"]).get("Versions", [])
        if "exports" in bucket["Name"]:  # the subject's own export, released to them on purpose (7 days)
            table.add_row(f"s3 {bucket['Name']} (exports for data subjects)", str(len(versions)))
            continue
        for version in versions:
            obj = s3.get_object(Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"])
            dump.append(obj["Body"].read().decode("latin-1"))
        table.add_row(f"s3 {bucket['Name']}", str(len(versions)))
    return table, "\n".join(dump)


def _await_analysis(stack: LocalStack, call_id: str, token: str, seconds: float = 30) -> Answer:
    deadline = time.monotonic() + seconds
    with console.status("Waiting for the analysis queue (SQS → analyze function → Comprehend emulator) …"):
        while True:
            view = http("GET", f"{stack.api_url}/v1/calls/{call_id}", token=token)
            if view.body.get("analysis", {}).get("status") != "pending" or time.monotonic() > deadline:
                return view
            time.sleep(0.5)


ROUTING_CALLERS = [
    ("calm first-time caller (de)", {"caller": {"phone": "+49 30 5550101"}, "channel": "voice",
                                     "utterance": "Wo ist meine Lieferung?"}),
    ("angry repeat caller (de)", {"caller": {"phone": "+49 170 5550199"}, "channel": "voice",
                                  "utterance": "Die Abbuchung ist schon wieder falsch, das ärgert mich sehr!"}),
    ("opted out of AI (en)", {"caller": ENGLISH_CALL["caller"], "channel": "chat", "language": "en",
                              "utterance": "I moved, please change my address."}),
]  # fmt: skip


def _routing_demo(stack: LocalStack, token: str, check: Any) -> None:
    # the angry caller called before (with AI consent): history may be used
    earlier = {**GERMAN_CALL, "call_id": "demo-de-0002", "caller": {"phone": "+49 170 5550199"}}
    http("POST", f"{stack.api_url}/v1/calls", {**earlier, "started_at": _now(3600), "ended_at": _now(3500)}, token)
    table = Table(title="POST /v1/routing/decisions")
    for column in ("caller", "queue", "priority", "handled by", "factors that moved the decision"):
        table.add_column(column)
    answers = {}
    for label, body in ROUTING_CALLERS:
        answer = http("POST", f"{stack.api_url}/v1/routing/decisions", body, token)
        answers[label] = answer.body
        moved = [r["factor"] for r in answer.body.get("reasons", []) if r["effect"] != "no effect"]
        body_ = answer.body
        table.add_row(label, body_.get("queue"), str(body_.get("priority")), body_.get("handled_by"), ", ".join(moved))
    console.print(table)
    calm, angry, opted = (answers[label] for label, _ in ROUTING_CALLERS)
    console.print("reasons given for the angry repeat caller (Art. 22: every decision explainable):")
    console.print_json(data=angry.get("reasons", []))
    check(
        "routing: angry repeat caller first",
        angry.get("priority", 9) < calm.get("priority", 0) and angry.get("handled_by") == "human",
        f"priority {angry.get('priority')} vs {calm.get('priority')}",
    )
    # the third caller is the subject of the English call, whose latest consent refused AI analysis
    check("routing: opt-out gets a human", opted.get("handled_by") == "human", "whatever the intent")


def _live_demo(stack: LocalStack, token: str, check: Any) -> None:
    live = {**GERMAN_CALL, "call_id": "demo-live-0001", "started_at": _now(60)}
    live.pop("ended_at", None)
    http("POST", f"{stack.api_url}/v1/calls", live, token)
    table = Table(title="POST /v1/calls/demo-live-0001/segments")
    for column in ("customer says (not stored in the clear)", "sentiment", "escalate", "suggestions"):
        table.add_column(column)
    last: dict[str, Any] = {}
    for i, text in enumerate(
        ["Danke, das ist gut.", "Die Rechnung ist schon wieder falsch.", "Das ist unverschämt, ich will kündigen!"]
    ):
        segment = {"speaker": "customer", "start_ms": 20_000 + i * 1000, "end_ms": 20_800 + i * 1000, "text": text}
        last = http("POST", f"{stack.api_url}/v1/calls/demo-live-0001/segments", {"segments": [segment]}, token).body
        info = last.get("live", {})
        table.add_row(text, info.get("sentiment"), str(info.get("escalate")), "\n".join(info.get("suggestions", [])))
    console.print(table)
    check("live: escalation recommended", last.get("live", {}).get("escalate") is True, "mood turned negative")


def _privacy_request(
    stack: LocalStack, tokens: dict[str, str], kind: str, subject: dict[str, str], check: Any = None
) -> dict[str, Any]:
    """File, verify (the verifier is the token's person), and — for exports and erasures — have a
    second compliance person approve (four-eyes)."""
    token = tokens["compliance"]
    answer = http("POST", f"{stack.api_url}/v1/privacy/requests", {"type": kind, "subject": subject}, token).body
    request_id = answer["request_id"]
    url = f"{stack.api_url}/v1/privacy/requests/{request_id}"
    with console.status(f"{kind}: waiting for the workflow to ask for identity verification …"):
        wait_for_request(stack.api_url, token, request_id, {"awaiting_verification"}, seconds=20)
    http("POST", f"{url}/verify", {"method": "callback", "reference": "ticket-demo-1"}, token)
    with console.status(f"{kind}: identity verified, the workflow runs …"):
        state = wait_for_request(stack.api_url, token, request_id, {"awaiting_approval", *_DONE})
    if state["status"] == "awaiting_approval":
        refused = http("POST", f"{url}/approve", None, token)  # the person who filed and verified
        approved = http("POST", f"{url}/approve", None, tokens["approver"])
        table = Table(title=f"four-eyes on {kind} {request_id}")
        for column in ("who", "POST …/approve", "answer"):
            table.add_column(column)
        table.add_row(
            "compliance (filed and verified)", str(refused.status), refused.body.get("error", {}).get("code", "")
        )
        table.add_row("dpo-second (another person)", str(approved.status), approved.body.get("status", ""))
        console.print(table)
        if check is not None:
            check(f"four-eyes ({kind})", (refused.status, approved.status) == (403, 200),
                  "the filer/verifier is refused (four_eyes_violation); a second person approves")  # fmt: skip
        with console.status(f"{kind}: approved, the workflow goes on …"):
            state = wait_for_request(stack.api_url, token, request_id, _DONE)
    return state


_DONE = {"completed", "rejected", "failed"}


def _download(access: dict[str, Any], token: str) -> dict[str, Any]:
    """Through the single-use, audited download link (the local stack's own endpoint)."""
    if not access.get("result", {}).get("download_url"):
        return {}
    export: dict[str, Any] = json.loads(download_export(access["result"]["download_url"], token))
    return export


QUESTION = "Eine Frage zur Rechnung."


def _identity_demo(stack: LocalStack, tokens: dict[str, str], check: Any) -> None:
    """An authenticated and an unauthenticated caller side by side: only proof joins histories."""
    shown = "+49 170 5550100"
    calls = [
        ("demo-auth-1", {"customer_id": "K-2001", "phone": shown,
                         "verification": {"identifiers": ["customer_id"], "method": "ivr_pin"}}),
        ("demo-auth-2", {"customer_id": "K-2001", "email": "k2001@example.de",
                         "verification": {"identifiers": ["customer_id"], "method": "app_login"}}),
        ("demo-unauth-1", {"phone": shown, "email": "someone-else@example.org"}),
    ]  # fmt: skip
    table = Table(title="who is who: identifiers with provenance")
    for column in ("call", "identifiers shown", "authenticated", "history (subject)"):
        table.add_column(column)
    subjects = {}
    for call_id, caller in calls:
        body = {"call_id": call_id, "channel": "voice", "language": "de", "caller": caller,
                "started_at": _now(500), "ended_at": _now(400),
                "consent": {"recording": True, "ai_analysis": False, "ai_disclosure_given": True},
                "segments": [{"speaker": "customer", "start_ms": 0, "end_ms": 2000, "text": QUESTION}]}  # fmt: skip
        answer = http("POST", f"{stack.api_url}/v1/calls", body, tokens["platform"]).body
        subjects[call_id] = answer.get("subject_id", "")
        proof = caller.get("verification")
        table.add_row(call_id, ", ".join(k for k in caller if k != "verification"),
                      f"{', '.join(proof['identifiers'])} by {proof['method']}" if proof else "no (only shown)",
                      subjects[call_id][:16] + "…")  # fmt: skip
    console.print(table)
    check(
        "identity: proof joins, caller ID does not",
        subjects["demo-auth-1"] == subjects["demo-auth-2"] != subjects["demo-unauth-1"],
        "the same number shown without proof stays on its own call",
    )
    access = _privacy_request(stack, tokens, "access", {"email": "someone-else@example.org"}, check)
    export = _download(access, tokens["approver"])
    exported = [c["call_id"] for c in export.get("data", {}).get("calls", [])]
    covered = export.get("scope", {}).get("identifiers", [])
    console.print(f"access for the unauthenticated e-mail exports {exported}; scope: "
                  + "; ".join(f"{c['kind']}: {c['basis']}" for c in covered))  # fmt: skip
    check("identity: access reaches only what was proven", exported == ["demo-unauth-1"],
          "the other person's calls with that number are not exported")  # fmt: skip


def _privacy_demo(stack: LocalStack, tokens: dict[str, str], check: Any) -> None:
    access = _privacy_request(stack, tokens, "access", {"email": GERMAN_CALL["caller"]["email"]})
    export = _download(access, tokens["approver"])
    calls = [c["call_id"] for c in export.get("data", {}).get("calls", [])]
    console.print(f"access request {access['request_id']}: {access['status']}, due {access['due_at']}")
    console.print(f"export (single-use download link, valid 5 min, audited): calls {calls}, recipients named: "
                  f"{len(export.get('information', {}).get('recipients', []))}")  # fmt: skip
    check("privacy: access export", access.get("status") == "completed" and bool(calls), f"{len(calls)} calls exported")
    erasure = _privacy_request(stack, tokens, "erasure", {"phone": "+49 170 5550199"}, check)
    certificate = erasure.get("result") or {}
    table = Table(title=f"deletion certificate of {erasure['request_id']}")
    for column in ("store", "found", "removed", "left after verification"):
        table.add_column(column)
    for store in certificate.get("stores_checked", []):
        table.add_row(
            store,
            str(certificate["found_before"].get(store, 0)),
            str(certificate["removed"].get(store, 0)),
            str(certificate["remaining_after_verification"].get(store, 0)),
        )
    console.print(table)
    left = sum(certificate.get("remaining_after_verification", {"?": 1}).values())
    check("privacy: erasure certified", erasure.get("status") == "completed" and left == 0, "nothing left anywhere")


def _purge_demo(stack: LocalStack, check: Any) -> None:
    table = Table(title="Deleted per data category (counts only; the report holds nothing personal)")
    table.add_column("as of")
    categories = ("exports", "transcripts", "calls", "routing_decisions", "followups", "analyses", "subjects")
    for category in categories:
        table.add_column(category, justify="right")
    now = datetime.now(UTC)
    for days in (8, 91, 181, 366):
        with console.status(f"Purging as of now + {days} days …"):
            report = run_scheduled("purge", {"as_of": (now + timedelta(days=days)).isoformat()}, stack.state_file)
        counts = report["categories"]
        table.add_row(f"+{days} days", *(str(counts[c]["deleted"]) for c in categories))
    console.print(table)
    session = boto3.Session(region_name="eu-central-1")
    s3 = session.client("s3", endpoint_url=stack.aws_url)
    ddb = session.client("dynamodb", endpoint_url=stack.aws_url)
    transcripts = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "transcripts" in b["Name"])
    left = s3.list_object_versions(Bucket=transcripts)
    subjects = next(t for t in ddb.list_tables()["TableNames"] if "Subjects" in t)
    check(
        "a year on, transcripts (every version) and subjects are gone",
        not left.get("Versions") and not left.get("DeleteMarkers") and not ddb.scan(TableName=subjects)["Items"],
        "expiry index read, no table scanned",
    )


def _bind_console() -> None:
    """The walk-through goes to this process's stdout as it is now (the stack sends the handlers'
    output elsewhere); piped, tables keep their width instead of rich's 80 columns."""
    console.file = sys.stdout
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH


def run_demo(cdk_out: Path, api_port: int, aws_port: int, log_file: Path = LOG_FILE) -> int:
    started = time.monotonic()
    _bind_console()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text("")
    # its own state file: a `make local` running on other ports keeps its own (and `make token` works)
    state_dir = Path(tempfile.mkdtemp(prefix="callguard-demo-"))
    stack = LocalStack(
        cdk_out=cdk_out, api_port=api_port, aws_port=aws_port, state_file=state_dir / "state.json", log_file=log_file
    )
    try:
        with console.status("Starting the embedded stack from cdk.out …"):
            stack.start()
    except PortInUseError as exc:
        stack.stop()
        console.file = sys.stderr
        console.print(f"callguard demo: {exc.strerror}.", highlight=False, markup=False, soft_wrap=True)
        return 1
    except BaseException:
        stack.stop()
        raise
    console.print(
        Panel.fit(
            f"callguard local stack ready\napi  {stack.api_url}\naws  {stack.aws_url}\n"
            f"handler logs (Powertools JSON) → {_shown_path(log_file)}"
        )
    )
    failures: list[str] = []
    summary = Table(title="callguard demo summary")
    summary.add_column("step")
    summary.add_column("result")

    def check(name: str, ok: bool, detail: str) -> None:
        summary.add_row(name, ("[green]ok[/] " if ok else "[red]FAILED[/] ") + detail)
        if not ok:
            failures.append(name)

    try:
        _step("1. Health and tokens (local stand-in for Cognito's token endpoint)")
        health = http("GET", f"{stack.api_url}/v1/health")
        check("health", health.status == 200 and health.body == {"status": "ok"}, f"GET /v1/health → {health.status}")
        tokens = {role: fetch_token(role, stack.state_file) for role in ("platform", "agent", "compliance")}
        # a second compliance person (make -s token ROLE=compliance USER=dpo-second): four-eyes
        tokens["approver"] = fetch_token("compliance", stack.state_file, user="dpo-second")
        console.print("tokens issued for: " + ", ".join(tokens))

        _step("2. Ingest a German call with personal data (platform token)")
        german = {**GERMAN_CALL, "started_at": _now(600), "ended_at": _now(120)}
        first = http("POST", f"{stack.api_url}/v1/calls", german, tokens["platform"])
        console.print_json(data=first.body)
        check(
            "ingest German call",
            first.status == 202 and first.body.get("analysis") == "queued",
            f"202 {first.body.get('analysis')}",
        )

        _step("3. The same call again: idempotent on call_id")
        again = http("POST", f"{stack.api_url}/v1/calls", german, tokens["platform"])
        check(
            "idempotent replay", again.status == 202 and again.body == first.body, "same answer, nothing stored twice"
        )
        conflict = http("POST", f"{stack.api_url}/v1/calls", {**german, "channel": "chat"}, tokens["platform"])
        check("other body, same id", conflict.status == 409, f"{conflict.status} {conflict.body['error']['code']}")

        _step("4. An English call without recording or AI consent, same phone in another format")
        english = {**ENGLISH_CALL, "started_at": _now(300), "ended_at": _now(200)}
        second = http("POST", f"{stack.api_url}/v1/calls", english, tokens["platform"])
        console.print_json(data=second.body)
        check(
            "consent enforced",
            second.status == 202 and second.body.get("analysis") == "skipped",
            "recording=false → no text kept, analysis skipped",
        )
        check(
            "one subject for two formats",
            second.body.get("subject_id") == first.body.get("subject_id"),
            "0151 23456789 ≡ +49 151 23456789",
        )

        _step("5. Access control and bad input")
        no_token = http("POST", f"{stack.api_url}/v1/calls", german)
        wrong_role = http("POST", f"{stack.api_url}/v1/calls", german, tokens["agent"])
        bad = http("POST", f"{stack.api_url}/v1/calls", {**german, "call_id": "bad id!"}, tokens["platform"])
        big = http("POST", f"{stack.api_url}/v1/calls", raw=b"x" * (257 * 1024), token=tokens["platform"])
        rows = Table(title="refusals")
        for column in ("request", "status", "code"):
            rows.add_column(column)
        for label, answer in (
            ("no token", no_token),
            ("agent token", wrong_role),
            ("invalid call_id", bad),
            ("257 KiB body", big),
        ):
            rows.add_row(label, str(answer.status), answer.body.get("error", {}).get("code", ""))
        console.print(rows)
        check(
            "401/403/422/413",
            (no_token.status, wrong_role.status, bad.status, big.status) == (401, 403, 422, 413),
            "as the contract says",
        )

        _step("6. The agent's view of the German call, after analysis (redacted, audited)")
        view = _await_analysis(stack, GERMAN_CALL["call_id"], tokens["agent"])
        segments = Table(title=f"GET /v1/calls/{GERMAN_CALL['call_id']} (agent token)")
        for column in ("speaker", "text (PII replaced by type labels)"):
            segments.add_column(column)
        for segment in view.body.get("segments", []):
            segments.add_row(segment["speaker"], segment["text"] or "")
        console.print(segments)
        analysis = view.body.get("analysis", {})
        console.print_json(
            data={
                k: analysis.get(k)
                for k in ("status", "language", "sentiment", "key_phrases", "pii_types", "intent", "flags")
            }
        )
        shown = json.dumps(view.body, ensure_ascii=False)
        check(
            "German call redacted and analysed",
            view.status == 200 and analysis.get("status") == "done" and not any(v in shown for v in PLANTED),
            f"{', '.join(analysis.get('pii_types', []))} redacted; intent {analysis.get('intent', {}).get('name')}",
        )

        _step("7. Routing decisions for three contrasting callers (explainable)")
        _routing_demo(stack, tokens["platform"], check)

        _step("8. Live assistance: the mood of a live call turns, escalation is recommended")
        _live_demo(stack, tokens["platform"], check)

        _step("9. GDPR requests on Step Functions: an access export and an erasure with its certificate")
        _privacy_demo(stack, tokens, check)

        _step("9b. Identity: an authenticated and an unauthenticated caller side by side; four-eyes")
        _identity_demo(stack, tokens, check)

        _step("9c. The compliance console: the privacy desk in a browser (code + PKCE sign-in)")
        _console_demo(stack, check)

        _step("9d. Import from Amazon Connect: a Contact Lens file takes S3 → EventBridge → SQS → importer")
        _import_demo(stack, tokens["agent"], check)

        _step("10. What was stored: pseudonymised ids and sealed transcripts only")
        table, dump = _storage_table(stack)
        console.print(table)
        leaked = [value for value in PLANTED if value in dump]
        check("no plaintext personal data stored", not leaked, "scanned every item and object version")

        _step("11. Follow-ups the analysis created (agent token)")
        _followups_demo(stack, tokens["agent"], check)

        _step("12. Deadlines: extend a request (Art. 12(3)), legal hold, the daily deadline check")
        _deadlines_demo(stack, tokens["compliance"], check)

        _step("13. The audit log: every read above was chained; the CLI verifies today's chain")
        _audit_demo(stack, check)

        _step("14. Retention purge: the nightly handler, run as of later instants (make purge AS_OF=…)")
        _purge_demo(stack, check)

        _step("15. Two tenants side by side: the same call id and phone, an erasure in one, offboarding")
        _tenants_demo(stack, tokens, check)
    finally:
        with console.status("Stopping the embedded stack …"):
            stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    console.print(summary)
    console.print(_not_shown_table())
    console.print(f"handler logs: {_shown_path(log_file)}")
    console.print(f"demo finished in {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


#: where `make demo` leaves the screenshot of the console's queue (the README shows it)
CONSOLE_SHOT = Path(os.environ.get("CALLGUARD_DEMO_SCREENSHOT") or ROOT / "docs" / "console-queue.png")


def _console_demo(stack: LocalStack, check: Any) -> None:
    from local.console_shot import ScreenshotError, browser_available, screenshot_queue

    port = os.environ.get("CALLGUARD_API_PORT", "8080")
    console.print(f"console of this demo's stack: {stack.api_url}/console/")
    console.print(f"console of `make local`: http://127.0.0.1:{port}/console/ (sign in as compliance, "
                  "password in .local/state.json)")  # fmt: skip
    if not browser_available():
        console.print("no screenshot: Debian's chromium and chromium-driver are not installed (make setup as root)")
        return
    try:
        shot = screenshot_queue(stack.api_url, stack.state_file or Path(), CONSOLE_SHOT)
    except ScreenshotError as exc:
        check("console screenshot", False, str(exc))
        return
    check("console queue in a browser", shot.stat().st_size > 10_000, f"screenshot → {_shown_path(shot)}")


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _not_shown_table() -> Table:
    table = Table(title="Not shown by this demo (and where it is)")
    table.add_column("capability")
    table.add_column("where instead")
    for capability, where in NOT_SHOWN:
        table.add_row(capability, where)
    return table


def _import_demo(stack: LocalStack, token: str, check: Any) -> None:
    """A Contact Lens post-call analysis file dropped into the import bucket: the importer reads the
    contact's identifiers and consent from Connect (locally ``local/connect_contacts.json``), takes the
    same ingestion path as ``POST /v1/calls`` and deletes the raw file; agents see it redacted."""
    from local.imports import drop_files

    source = ROOT / "tests" / "fixtures" / "imports" / "contact-lens-voice-de.json"
    [result] = drop_files([source], state_file=stack.state_file or Path())
    status, view = "not imported", None
    deadline = time.monotonic() + 60
    while result.call_id is not None and time.monotonic() < deadline:
        view = http("GET", f"{stack.api_url}/v1/calls/{result.call_id}", token=token)
        status = view.body.get("analysis", {}).get("status", "?") if view.status == 200 else str(view.status)
        if status not in {"pending", "queued"}:
            break
        time.sleep(0.3)
    if view is not None and view.status == 200:
        table = Table(title=f"GET /v1/calls/{result.call_id} (imported)")
        for column in ("speaker", "text"):
            table.add_column(column)
        for segment in view.body.get("segments", [])[:4]:
            table.add_row(segment.get("speaker", ""), segment.get("text") or "")
        console.print(table)
        console.print_json(data={"imported": view.body.get("imported"), "analysis": view.body.get("analysis")})
    check(
        "import: Contact Lens file",
        result.call_id is not None and status == "done",
        f"{source.name} → call {result.call_id or result.reason}, analysis {status}",
    )


def _followups_demo(stack: LocalStack, token: str, check: Any) -> None:
    """The German call ended unresolved and negative: the analysis opened a follow-up, due in
    24 hours (``followup_due_hours``). Without ``due_before`` the list is what is due now."""
    due_now = http("GET", f"{stack.api_url}/v1/followups", token=token)
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    due_later = http("GET", f"{stack.api_url}/v1/followups?due_before={later}", token=token)
    table = Table(title=f"GET /v1/followups?due_before={later}")
    for column in ("followup_id", "call_id", "due_at", "reason", "status"):
        table.add_column(column)
    items = due_later.body.get("items", [])
    for item in items:
        table.add_row(*(str(item.get(c, "")) for c in ("followup_id", "call_id", "due_at", "reason", "status")))
    console.print(table)
    console.print(f"without due_before (due now): {len(due_now.body.get('items', []))} item(s)")
    check(
        "follow-ups",
        due_later.status == 200 and any(i.get("call_id") == GERMAN_CALL["call_id"] for i in items),
        f"{len(items)} due within 2 days, {len(due_now.body.get('items', []))} due now",
    )


def _deadlines_demo(stack: LocalStack, token: str, check: Any) -> None:
    """A request waiting for identity verification gets two further months; a legal hold is placed
    and lifted; the daily deadline check (a scheduled function) counts what is open and due."""
    filed = http(
        "POST",
        f"{stack.api_url}/v1/privacy/requests",
        {"type": "objection", "subject": {"phone": "+49 30 5550101"}},
        token,
    ).body
    request_id = filed["request_id"]
    wait_for_request(stack.api_url, token, request_id, {"awaiting_verification"}, seconds=20)
    extend = {"months": 2, "reason": "many linked subjects; the data subject was told within the first month"}
    extended = http("POST", f"{stack.api_url}/v1/privacy/requests/{request_id}/extend", extend, token)
    hold = http("POST", f"{stack.api_url}/v1/privacy/holds", {"subject": {"phone": "+49 30 5550101"},
                                                               "reason": "pending lawsuit"}, token)  # fmt: skip
    hold_id = hold.body.get("hold_id", "")
    lifted = http("DELETE", f"{stack.api_url}/v1/privacy/holds/{hold_id}", token=token)
    counts = run_scheduled("deadline_check", {}, stack.state_file)
    table = Table(title="deadlines")
    for column in ("what", "answer"):
        table.add_column(column)
    table.add_row(f"objection {request_id}", f"due {filed['due_at']} → {extended.body.get('due_at')} (extended)")
    table.add_row("legal hold", f"{hold.status} {hold_id} placed, then {lifted.status} lifted")
    table.add_row("daily deadline check", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    console.print(table)
    check(
        "deadline extended, hold placed and lifted",
        extended.status == 200
        and extended.body.get("due_at") != filed["due_at"]
        and (hold.status, lifted.status) == (201, 200),
        "Art. 12(3) and 17(3)(e)",
    )
    check("deadline check", counts.get("open", 0) >= 1, f"{counts.get('open')} open, {counts.get('overdue')} overdue")


def _audit_demo(stack: LocalStack, check: Any) -> None:
    """``callguard audit verify`` on today's chain (every agent and compliance read above)."""
    ddb = boto3.Session(region_name="eu-central-1").client("dynamodb", endpoint_url=stack.aws_url)
    table = next(t for t in ddb.list_tables()["TableNames"] if "Audit" in t)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    command = [sys.executable, "-m", "callguard_cli", "audit", "verify", day, "--table", table,
               "--endpoint-url", stack.aws_url]  # fmt: skip
    env = {**os.environ, "AWS_DEFAULT_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "local",
           "CALLGUARD_LOCAL_STATE": str(stack.state_file), "COLUMNS": str(PIPED_WIDTH)}  # fmt: skip
    # B105 accepted: the embedded stack's dummy credentials
    env["AWS_SECRET_ACCESS_KEY"] = "local"  # noqa: S105  # nosec B105
    # B603 accepted: this repository's CLI, a fixed argument list, no shell
    done = subprocess.run(  # noqa: S603  # nosec B603
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    console.print(f"$ callguard audit verify {day} …\n{(done.stdout or done.stderr).strip()}", highlight=False)
    check("audit chain verified", done.returncode == 0 and "intact" in done.stdout, "the CLI, exit 0")


#: the call both tenants receive in step 15: the same call id, the same (fake) phone number
TENANT_CALL: dict[str, Any] = {
    "call_id": "demo-tenant-0001",
    "channel": "voice",
    "language": "de",
    "caller": {"phone": "+49 160 5550123"},
    "consent": {"recording": True, "ai_analysis": False, "ai_disclosure_given": True},
}
#: what each tenant's caller says (no personal data): the agent of each tenant sees only its own
TENANT_WORDS = {"default": "Frage zur Solaranlage.", "other": "Frage zur Wärmepumpe."}
#: `make offboard TENANT=<id>` (issue #18): offboarding a tenant with its certificate, when this checkout has it
OFFBOARD_TARGET = "offboard"


def _served_tenants(stack: LocalStack) -> list[str]:
    state = json.loads((stack.state_file or Path()).read_text())
    return sorted(state.get("tenants") or {"default": {}})


def _tenants_demo(stack: LocalStack, tokens: dict[str, str], check: Any) -> None:
    """`make local`'s two tenants (``default`` and ``acme-energie``) as two controllers of one processor:
    the same call id and phone number are two calls of two subjects; an agent of one never sees the
    other's call (404, not 403: existence does not leak); an erasure in one leaves the other untouched;
    then the second tenant is offboarded with its certificate (``make offboard``, when built)."""
    listed = [t for t in _served_tenants(stack) if t != "default"]
    if not listed:
        check("two tenants", False, "this stack serves only the default tenant: run `make demo` (it adds acme-energie)")
        return
    tenant = listed[0]
    state = stack.state_file or Path()
    theirs = {role: fetch_token(role, state, tenant=tenant) for role in ("platform", "agent", "compliance")}
    theirs["approver"] = fetch_token("compliance", state, user="dpo-second", tenant=tenant)
    api = stack.api_url
    call_id = str(TENANT_CALL["call_id"])
    bodies = {
        name: {**TENANT_CALL, "started_at": _now(300), "ended_at": _now(200),
               "segments": [{"speaker": "customer", "start_ms": 0, "end_ms": 2000, "text": TENANT_WORDS[key]}]}
        for name, key in (("default", "default"), (tenant, "other"))
    }  # fmt: skip
    people = {"default": tokens, tenant: theirs}
    table = Table(title=f"POST /v1/calls {call_id}, caller {TENANT_CALL['caller']['phone']}, in both tenants")
    for column in ("tenant", "status", "subject", "agent of the tenant reads it", "agent of the other tenant"):
        table.add_column(column)
    answers = {name: http("POST", f"{api}/v1/calls", body, people[name]["platform"]) for name, body in bodies.items()}
    only = {**bodies["default"], "call_id": "demo-tenant-default-only"}
    http("POST", f"{api}/v1/calls", only, tokens["platform"])
    reads = {name: http("GET", f"{api}/v1/calls/{call_id}", token=people[name]["agent"]) for name in bodies}
    cross = http("GET", f"{api}/v1/calls/{only['call_id']}", token=theirs["agent"])
    for name in bodies:
        shown = reads[name].body.get("segments") or [{}]
        table.add_row(name, str(answers[name].status), str(answers[name].body.get("subject_id", ""))[:16] + "…",
                      f"{reads[name].status} “{shown[0].get('text')}”" if reads[name].status == 200
                      else str(reads[name].status),
                      f"{cross.status} for {only['call_id']}" if name == tenant else "")  # fmt: skip
    console.print(table)
    check(
        "tenants: same call id and phone, two calls",
        all(a.status == 202 for a in answers.values())
        and answers["default"].body.get("subject_id") != answers[tenant].body.get("subject_id")
        and all(json.dumps(reads[n].body, ensure_ascii=False).count(TENANT_WORDS[k]) == 1
                for n, k in (("default", "default"), (tenant, "other"))),
        f"default and {tenant}: two subjects, each agent sees its own call",
    )  # fmt: skip
    check("tenants: another tenant's call is 404", cross.status == 404 and set(cross.body) == {"error", "request_id"},
          f"{tenant}'s agent asks for a call of default: {cross.status}, nothing returned")  # fmt: skip

    before = reads["default"]
    erasure = _privacy_request(stack, theirs, "erasure", {"phone": str(TENANT_CALL["caller"]["phone"])})
    left = sum((erasure.get("result") or {}).get("remaining_after_verification", {"?": 1}).values())
    after = {name: http("GET", f"{api}/v1/calls/{call_id}", token=people[name]["agent"]) for name in bodies}
    console.print(f"erasure {erasure['request_id']} in {tenant}: {erasure['status']}; GET /v1/calls/{call_id} now "
                  f"answers {after[tenant].status} in {tenant} and {after['default'].status} in default")  # fmt: skip
    check(
        "tenants: an erasure in one leaves the other untouched",
        erasure.get("status") == "completed" and left == 0 and after[tenant].status == 404
        and (after["default"].status, after["default"].body) == (before.status, before.body),
        f"{tenant}'s caller erased (certified); default's caller of the same number unchanged",
    )  # fmt: skip
    _offboard_demo(stack, tenant, tokens, check)


def _offboard_target() -> bool:
    makefile = ROOT / "Makefile"
    lines = makefile.read_text().splitlines() if makefile.is_file() else []
    return any(line.startswith(f"{OFFBOARD_TARGET}:") for line in lines)


def _offboard_demo(stack: LocalStack, tenant: str, tokens: dict[str, str], check: Any) -> None:
    """Offboarding ``tenant`` with its certificate: `make -s offboard TENANT=<id>` against this stack.

    LEAD: wired to the offboarding branch's interface as it stood (``make -s offboard TENANT=<id>`` finds
    the stack through ``CALLGUARD_LOCAL_STATE`` and prints only the certificate JSON: ``tenant``,
    ``stores`` → ``removed`` / ``remaining_after_verification``, ``verification.result``); until that
    target is merged, the step says it is not there (no check, nothing faked)."""
    if not _offboard_target():
        console.print(f"offboarding {tenant}: `make offboard` is not part of this checkout yet (issue #18); "
                      "not shown")  # fmt: skip
        return
    env = {**os.environ, "CALLGUARD_LOCAL_STATE": str(stack.state_file), "COLUMNS": str(PIPED_WIDTH)}
    env.pop("TENANT", None)
    # B603/B607 accepted: this repository's own make target, a fixed argument list, no shell
    done = subprocess.run(  # noqa: S603
        ["make", "-s", OFFBOARD_TARGET, f"TENANT={tenant}"],  # noqa: S607  # nosec B603 B607
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    try:
        certificate = json.loads(done.stdout)
    except ValueError:
        certificate = {}
    stores: dict[str, Any] = certificate.get("stores") or {}
    table = Table(title=f"offboarding certificate of {tenant} ({certificate.get('run_id', 'no certificate')})")
    for column in ("store", "removed", "left after verification"):
        table.add_column(column)
    for store, counts in sorted(stores.items()):
        table.add_row(store, str(counts.get("removed")), str(counts.get("remaining_after_verification")))
    console.print(table)
    left = sum(int(c.get("remaining_after_verification", 1)) for c in stores.values())
    default_call = http("GET", f"{stack.api_url}/v1/calls/{TENANT_CALL['call_id']}", token=tokens["agent"])
    check(
        f"tenants: {tenant} offboarded with its certificate",
        done.returncode == 0 and certificate.get("tenant") == tenant and bool(stores) and left == 0
        and (certificate.get("verification") or {}).get("result") == "passed" and default_call.status == 200,
        f"exit {done.returncode}, {len(stores)} stores verified empty; the default tenant's call still "
        f"{default_call.status}",
    )  # fmt: skip
