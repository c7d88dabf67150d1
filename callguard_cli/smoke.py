"""``make smoke API_URL=… TOKEN=…`` — after a deployment, prove the product works end to end in AWS.

Each step is one real request path through API Gateway, Lambda, DynamoDB, KMS, Step Functions and
SNS, so a missing permission, key statement or topic policy shows up here as the step that fails:

1. ``GET /v1/health``                    the API and its stage are up
2. ``POST /v1/calls``                    ingest (calls table, subjects, data key, analysis queue)
3. ``POST /v1/routing/decisions``        routing (reads the KMS-encrypted tables as the routing role)
4. ``GET /v1/calls/{id}``                the agent view, once the analysis has run (queue → analyze)
5. ``POST /v1/privacy/requests``         an erasure of the smoke call's synthetic subject: the workflow
   ``…/verify`` and the status          starts, takes the task token back and deletes what steps 2-4 stored
6. alarm test notification               (with ``ALARM=<name>`` and AWS credentials) sets an alarm to
                                         ALARM and checks that CloudWatch delivered it to its topic

The caller is synthetic (a number from a range reserved for drama/fiction use), so the run leaves no
personal data behind; step 5 erases it again. ``TOKEN`` needs the platform scopes; ``AGENT_TOKEN``
(calls:read) and ``COMPLIANCE_TOKEN`` (privacy:manage) default to ``TOKEN``; ``APPROVER_TOKEN`` is a
second compliance person's, who approves the erasure (four-eyes). Exit status 0 only if
every step that ran passed; a step that cannot run says why.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Smoke", "main"]

#: a German number from the 030 23125 xxx block reserved for film and TV (never assigned to a person)
SYNTHETIC_PHONE = "+49 30 23125000"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def request(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 30) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the operator's API URL
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        # B310 accepted: the URL is the deployment's API endpoint given by the operator
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return Answer(response.status, json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        raw = error.read() or b"{}"
        try:
            return Answer(error.code, json.loads(raw))
        except ValueError:
            return Answer(error.code, {"raw": raw[:200].decode("utf-8", "replace")})


class SmokeError(AssertionError):
    pass


def expect(answer: Answer, status: int | set[int], what: str) -> dict[str, Any]:
    if answer.status not in ({status} if isinstance(status, int) else status):
        code = answer.body.get("error", {}).get("code") if isinstance(answer.body.get("error"), dict) else None
        raise SmokeError(f"{what}: HTTP {answer.status} (expected {status}), error code {code!r}")
    return answer.body


@dataclass
class Smoke:
    api_url: str
    token: str = field(repr=False)
    agent_token: str = field(default="", repr=False)
    compliance_token: str = field(default="", repr=False)
    #: a second compliance person (four-eyes): approves the smoke erasure so it runs to completion
    approver_token: str = field(default="", repr=False)
    alarm: str = ""
    wait_seconds: float = 120
    http: Callable[..., Answer] = request
    results: list[tuple[str, str, str]] = field(default_factory=list)  # (step, outcome, detail)
    call_id: str = field(default_factory=lambda: f"smoke-{uuid.uuid4().hex[:12]}")

    @property
    def base(self) -> str:
        return self.api_url.rstrip("/")

    def url(self, path: str) -> str:
        # API_URL may be the stage URL (…/v1/) that CloudFormation outputs, or the API's root
        return self.base + (path.removeprefix("/v1") if self.base.endswith("/v1") else path)

    def run(self) -> bool:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("health", self.health),
            ("ingest", self.ingest),
            ("routing", self.routing),
            ("agent view", self.agent_view),
            ("privacy request", self.privacy_erasure),
            ("alarm notification", self.alarm_notification),
        ]
        ok = True
        for name, step in steps:
            try:
                detail = step()
            except SmokeError as error:
                self.results.append((name, "FAIL", str(error)))
                ok = False
            except (OSError, ValueError) as error:  # connection refused, TLS, DNS, bad JSON
                self.results.append((name, "FAIL", f"{type(error).__name__}: {error}"))
                ok = False
            else:
                self.results.append((name, "skipped" if detail.startswith("skipped") else "ok", detail))
        return ok

    def health(self) -> str:
        body = expect(self.http("GET", self.url("/v1/health")), 200, "GET /v1/health")
        return f"status {body.get('status')!r}"

    def ingest(self) -> str:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        call = {
            "call_id": self.call_id,
            "started_at": now,
            "ended_at": now,
            "channel": "voice",
            "language": "de",
            "caller": {"phone": SYNTHETIC_PHONE},
            "agent_id": "smoke-test",
            "consent": {"recording": True, "ai_analysis": True, "ai_disclosure_given": True},
            "segments": [
                {"speaker": "agent", "start_ms": 0, "end_ms": 1500, "text": "Guten Tag, wie kann ich helfen?"},
                {"speaker": "customer", "start_ms": 1600, "end_ms": 4000, "text": "Meine Rechnung ist zu hoch."},
            ],
            "metadata": {"source": "smoke-test"},
        }
        body = expect(self.http("POST", self.url("/v1/calls"), call, self.token), 202, "POST /v1/calls")
        return f"call {body.get('call_id', self.call_id)} accepted"

    def routing(self) -> str:
        decision = {"caller": {"phone": SYNTHETIC_PHONE}, "channel": "voice", "utterance": "Meine Rechnung ist falsch."}
        body = expect(
            self.http("POST", self.url("/v1/routing/decisions"), decision, self.token),
            200,
            "POST /v1/routing/decisions",
        )
        if not body.get("queue") or not body.get("reasons"):
            raise SmokeError("POST /v1/routing/decisions: no queue or no reasons in the answer")
        return f"queue {body['queue']!r}, {len(body['reasons'])} reasons"

    def agent_view(self) -> str:
        token = self.agent_token or self.token
        deadline = time.monotonic() + self.wait_seconds
        while True:
            answer = self.http("GET", self.url(f"/v1/calls/{self.call_id}"), token=token)
            if answer.status == 200 and answer.body.get("analysis"):
                return "analysis present"
            if answer.status not in {200, 404} or time.monotonic() > deadline:
                expect(answer, 200, f"GET /v1/calls/{{id}} (analysis within {self.wait_seconds:.0f} s)")
                raise SmokeError(f"GET /v1/calls/{{id}}: no analysis within {self.wait_seconds:.0f} s")
            time.sleep(2)

    def privacy_erasure(self) -> str:
        token = self.compliance_token or self.token
        filed = expect(
            self.http(
                "POST",
                self.url("/v1/privacy/requests"),
                {"type": "erasure", "subject": {"phone": SYNTHETIC_PHONE}},
                token,
            ),
            202,
            "POST /v1/privacy/requests",
        )
        request_id = filed["request_id"]
        self._wait(request_id, token, {"awaiting_verification"}, "the workflow never reached awaiting_verification")
        expect(
            self.http(
                "POST",
                self.url(f"/v1/privacy/requests/{request_id}/verify"),
                {"method": "callback", "reference": "smoke-test"},
                token,
            ),
            {200, 202},
            "POST /v1/privacy/requests/{id}/verify",
        )
        final = self._wait(
            request_id, token, {"completed", "failed", "rejected", "awaiting_approval"}, "the erasure did not finish"
        )
        if final.get("status") == "awaiting_approval":  # four-eyes: a second person approves
            if not self.approver_token:
                return f"erasure {request_id} verified, awaiting a second person's approval (set APPROVER_TOKEN)"
            expect(
                self.http("POST", self.url(f"/v1/privacy/requests/{request_id}/approve"), {}, self.approver_token),
                200,
                "POST /v1/privacy/requests/{id}/approve",
            )
            final = self._wait(request_id, token, {"completed", "failed", "rejected"}, "the erasure did not finish")
        if final.get("status") != "completed":
            raise SmokeError(f"privacy request ended {final.get('status')!r}")
        return f"erasure {request_id} completed"

    def _wait(self, request_id: str, token: str, statuses: set[str], message: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            answer = self.http("GET", self.url(f"/v1/privacy/requests/{request_id}"), token=token)
            body = expect(answer, 200, "GET /v1/privacy/requests/{id}")
            if body.get("status") in statuses:
                return body
            if body.get("status") == "failed" or time.monotonic() > deadline:
                raise SmokeError(f"{message} (status {body.get('status')!r})")
            time.sleep(2)

    def alarm_notification(self) -> str:
        if not self.alarm:
            return "skipped: set ALARM=<alarm name> (and AWS credentials) to send a test notification"
        import boto3  # only this step needs AWS credentials

        cloudwatch = boto3.client("cloudwatch")
        alarm = cloudwatch.describe_alarms(AlarmNames=[self.alarm])["MetricAlarms"]
        if not alarm:
            raise SmokeError(f"no alarm named {self.alarm!r}")
        started = time.time()
        cloudwatch.set_alarm_state(AlarmName=self.alarm, StateValue="ALARM", StateReason="callguard smoke test")
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            history = cloudwatch.describe_alarm_history(AlarmName=self.alarm, HistoryItemType="Action", MaxRecords=10)
            for item in history["AlarmHistoryItems"]:
                if item["Timestamp"].timestamp() < started - 5:
                    continue
                summary = item["HistorySummary"]
                if summary.startswith("Successfully executed action"):
                    return summary
                if summary.startswith("Failed to execute action"):
                    raise SmokeError(summary)
            time.sleep(3)
        raise SmokeError(f"no alarm action recorded for {self.alarm!r} within {self.wait_seconds:.0f} s")

    def report(self) -> str:
        width = max(len(step) for step, _, _ in self.results)
        return "\n".join(f"{step:<{width}}  {outcome:<7}  {detail}" for step, outcome, detail in self.results)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    api_url, token = env.get("API_URL", ""), env.get("TOKEN", "")
    if not api_url or not token:
        sys.stderr.write(
            "usage: make smoke API_URL=https://…/v1/ TOKEN=<platform token> [AGENT_TOKEN=…] "
            "[COMPLIANCE_TOKEN=…] [APPROVER_TOKEN=…] [ALARM=<alarm name>]\n"
        )
        return 2
    smoke = Smoke(
        api_url=api_url,
        token=token,
        agent_token=env.get("AGENT_TOKEN", ""),
        compliance_token=env.get("COMPLIANCE_TOKEN", ""),
        approver_token=env.get("APPROVER_TOKEN", ""),
        alarm=env.get("ALARM", ""),
        wait_seconds=float(env.get("SMOKE_WAIT_SECONDS", "120")),
    )
    ok = smoke.run()
    sys.stdout.write(smoke.report() + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
