"""Shared test helpers: planted PII, call bodies, log capture; handlers, contexts and API
Gateway events come from :mod:`local.harness` (the bench uses the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.harness import FakeContext, api_event, load_handler

__all__ = ["PLANTED", "ROOT", "FakeContext", "LogCapture", "api_event", "call_body", "load_handler"]

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
