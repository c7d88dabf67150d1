"""What the bench sections share: a moto account provisioned from the template, handlers
loaded like the tests load them, API Gateway proxy events, call bodies, counted AWS calls.

Handlers, Lambda contexts and API Gateway events come from :mod:`local.harness`, as in the tests.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from local.harness import FakeContext, api_event, load_handler

__all__ = ["BASE_ENV", "ROOT", "CallCounter", "FakeContext", "api_event", "call_body", "environ", "load_handler",
           "moto_session"]  # fmt: skip

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-central-1"
DUMMY_CREDENTIAL = "bench"  # moto accepts any credentials

#: Process-wide settings every in-process handler run gets (moto's dummy credentials).
BASE_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
    "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "CallguardBench",
}


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block; restore what was there afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def moto_session() -> boto3.Session:
    """A session for moto (call inside ``mock_aws()``)."""
    # B106 accepted: moto's dummy credentials
    return boto3.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")  # noqa: S106  # nosec B106


def call_body(call_id: str, caller: dict[str, str]) -> dict[str, Any]:
    """A consented call with a two-turn transcript and metadata (synthetic data only)."""
    return {
        "call_id": call_id,
        "started_at": "2026-11-27T10:00:00Z",
        "ended_at": "2026-11-27T10:07:30Z",
        "channel": "voice",
        "language": "de",
        "caller": caller,
        "agent_id": "agent-17",
        "consent": {"recording": True, "ai_analysis": True, "ai_disclosure_given": True},
        "segments": [
            {"speaker": "agent", "start_ms": 0, "end_ms": 2000, "text": "Guten Tag, wie kann ich helfen?"},
            {"speaker": "customer", "start_ms": 2100, "end_ms": 6200, "text": "Meine Rechnung ist doppelt."},
        ],
        "metadata": {"campaign": "bench"},
    }


class CallCounter:
    """Counts every AWS API call (``after-call``: once per call, retries included in it) by
    service and operation, and sums ``ScannedCount`` of DynamoDB queries and scans per table.

    Registered on a session's event emitter, it sees every client that session creates
    afterwards (a client copies its session's handlers when it is built).
    """

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.scanned: Counter[str] = Counter()

    def __call__(self, event_name: str, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[(service, operation)] += 1
        if service == "dynamodb" and operation in {"Query", "Scan"}:
            table = (kwargs.get("context") or {}).get("bench_table", "")
            self.scanned[table] += int(parsed.get("ScannedCount", parsed.get("Count", 0)))

    def attach(self, session: boto3.Session) -> CallCounter:
        session.events.register("after-call", self)
        session.events.register("before-parameter-build.dynamodb", _remember_table)
        return self

    def detach(self, session: boto3.Session) -> None:
        session.events.unregister("after-call", self)
        session.events.unregister("before-parameter-build.dynamodb", _remember_table)

    def reset(self) -> None:
        self.calls.clear()
        self.scanned.clear()

    def total(self, service: str | None = None) -> int:
        return sum(n for (s, _), n in self.calls.items() if service is None or s == service)


def _remember_table(params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
    """Keep the table name of a request in its context, for :class:`CallCounter` to read."""
    if "TableName" in params:
        context["bench_table"] = params["TableName"]
