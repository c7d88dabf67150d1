"""Fault injection below botocore's retry handler.

:class:`Faults` answers chosen AWS operations with a throttling or server error *as the wire
would* (a ``before-send`` hook returns the error response, and the attempt never reaches the
embedded AWS), so botocore parses it and its standard retry mode retries exactly as it does
against AWS. The backoff is recorded (to show
it is jittered and exponential) and shortened, so tests do not sleep for real.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries import standard

__all__ = ["Faults", "fast_retries"]

#: what each protocol's throttling and server errors look like
_JSON_ERRORS = {"throttle": (400, "ThrottlingException"), "server": (500, "InternalServerError")}
_DDB_ERRORS = {"throttle": (400, "ProvisionedThroughputExceededException"), "server": (500, "InternalServerError")}
_XML_ERRORS = {"throttle": (503, "SlowDown"), "server": (500, "InternalError")}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class _Rule:
    kind: str
    times: int | None  # None: every attempt


@dataclass
class Faults:
    rules: dict[tuple[str, str], _Rule] = field(default_factory=dict)
    #: attempts per (service, operation), including the failed ones
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)

    def attach(self, *clients: Any) -> Faults:
        for client in clients:
            # first, so the embedded AWS (moto's own before-send hook) never sees a failed attempt
            client.meta.events.register_first("before-send", self._before_send)
        return self

    def fail(self, service: str, operation: str, *, kind: str = "throttle", times: int | None = None) -> None:
        """Answer ``operation`` with an error ``times`` times (every time when None)."""
        self.rules[(service, operation)] = _Rule(kind, times)

    def clear(self) -> None:
        self.rules.clear()

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        key = (service, operation)
        self.attempts[key] += 1
        rule = self.rules.get(key)
        if rule is None or rule.times == 0:
            return None
        if rule.times is not None:
            rule.times -= 1
        self.injected[key] += 1
        request.url = "https://fault-injected.invalid/"  # no backend of the embedded AWS matches it
        if rule.kind == "unprocessed":  # BatchWriteItem accepted the call but wrote nothing
            items = json.loads(request.body)["RequestItems"]
            body = json.dumps({"UnprocessedItems": items}).encode()
            return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))
        if service == "s3":
            status, code = _XML_ERRORS[rule.kind]
            body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))
        status, code = (_DDB_ERRORS if service == "dynamodb" else _JSON_ERRORS)[rule.kind]
        body = json.dumps({"__type": code, "message": "injected"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}
        return AWSResponse(request.url, status, headers, _Raw(body))


@contextmanager
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record botocore's computed backoff delays and wait a thousandth of each."""
    delays: list[float] = []
    original = standard.ExponentialBackoff.delay_amount

    def recorded(self: standard.ExponentialBackoff, context: Any) -> float:
        delay = float(original(self, context))
        delays.append(delay)
        return delay / 1000

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", recorded)
    yield delays
