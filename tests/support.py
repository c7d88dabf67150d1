"""Shared test helpers: loading handlers, API Gateway proxy events, planted PII."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Recognisable fake personal data. Tests check these never appear where they must not.
PLANTED = {
    "phone": "+49 151 23456789",
    "phone_e164": "+4915123456789",
    "phone_national": "0151 23456789",
    "email": "Erika.Mustermann@example.de",
    "customer_id": "K-4711-PLANT",
    "name": "Erika Mustermann",
    "iban": "DE89370400440532013000",
    "transcript": "Mein Name ist Erika Mustermann, meine IBAN ist DE89370400440532013000.",
    "metadata_value": "VIP-Mustermann-Kampagne",
}


def load_handler(name: str) -> ModuleType:
    """Import ``functions/<name>/handler.py`` as module ``<name>_handler`` (fresh each time)."""
    module_name = f"{name}_handler"
    path = ROOT / "functions" / name / "handler.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class FakeContext:
    function_name = "callguard-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:callguard-test"
    aws_request_id = "req-0001"

    def __init__(self, remaining_ms: int = 10_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: str | bytes | None = None,
    content_type: str | None = "application/json",
    scopes: str = "callguard/calls:write",
    base64: bool = False,
) -> dict[str, Any]:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if raw is None:
        text: str | None = None if body is None else json.dumps(body)
    elif isinstance(raw, bytes):
        import base64 as b64

        text, base64 = b64.b64encode(raw).decode(), True
    else:
        text = raw
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "test-request-id",
            "resourcePath": path,
            "httpMethod": method,
            "stage": "v1",
            "path": path,
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"claims": {"scope": scopes, "client_id": "platform-client"}},
        },
        "body": text,
        "isBase64Encoded": base64,
    }


def call_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_id": "cc-2026-000123",
        "started_at": "2026-11-27T10:00:00Z",
        "ended_at": "2026-11-27T10:07:30Z",
        "channel": "voice",
        "language": "de",
        "caller": {"phone": PLANTED["phone"], "customer_id": PLANTED["customer_id"], "email": PLANTED["email"]},
        "agent_id": "agent-17",
        "consent": {"recording": True, "ai_analysis": True, "ai_disclosure_given": True},
        "segments": [
            {"speaker": "agent", "start_ms": 0, "end_ms": 2000, "text": "Guten Tag, wie kann ich helfen?"},
            {"speaker": "customer", "start_ms": 2100, "end_ms": 6200, "text": PLANTED["transcript"]},
        ],
        "metadata": {"campaign": PLANTED["metadata_value"]},
    }
    body.update(overrides)
    return body


class LogCapture:
    """Every record the Powertools loggers emit, formatted as they would be (JSON lines).

    Powertools' handlers keep the stream they were created with, so pytest's capsys
    misses loggers built in an earlier test; this attaches a handler of our own.
    """

    def __init__(self, service_prefix: str = "callguard") -> None:
        import io
        import logging

        self._stream = io.StringIO()
        self._handlers: list[tuple[logging.Logger, logging.Handler]] = []
        for name in list(logging.root.manager.loggerDict):
            logger = logging.getLogger(name)
            if not name.startswith(service_prefix) or not logger.handlers:
                continue
            handler = logging.StreamHandler(self._stream)
            handler.setFormatter(logger.handlers[0].formatter)
            logger.addHandler(handler)
            self._handlers.append((logger, handler))

    def text(self) -> str:
        return self._stream.getvalue()

    def close(self) -> None:
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
