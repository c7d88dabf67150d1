"""Shared e2e steps of a privacy request: file, verify, approve (a second person), download."""

from __future__ import annotations

import json
from typing import Any

from callguard.names import Route
from local.client import download_export, fetch_token, http, wait_for_request
from tests.e2e.conftest import RunningStack

VERIFY = {"method": "callback", "reference": "ticket-4711"}
DONE = {"completed", "rejected", "failed"}


def people(stack: RunningStack) -> dict[str, str]:
    """Tokens of the roles, plus a second compliance person who approves (four-eyes)."""
    tokens = {role: fetch_token(role, stack.state_file) for role in ("platform", "agent", "compliance")}
    tokens["approver"] = fetch_token("compliance", stack.state_file, user="approver-2")
    return tokens


def file(stack: RunningStack, token: str, kind: str, subject: dict[str, Any], **extra: Any) -> str:
    answer = http("POST", f"{stack.api_url}/v1/privacy/requests", {"type": kind, "subject": subject, **extra}, token)
    assert answer.status == 202, answer.body
    assert answer.body["status"] == "received"
    return str(answer.body["request_id"])


def run(
    stack: RunningStack, tokens: dict[str, str], kind: str, subject: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """File, verify once the workflow waits, approve as a second person when asked; the end state."""
    request_id = file(stack, tokens["compliance"], kind, subject, **extra)
    waiting = wait_for_request(stack.api_url, tokens["compliance"], request_id, {"awaiting_verification"})
    assert waiting["status"] == "awaiting_verification"
    url = f"{stack.api_url}/v1/privacy/requests/{request_id}"
    assert http("POST", f"{url}/verify", VERIFY, tokens["compliance"]).status == 200
    state = wait_for_request(stack.api_url, tokens["compliance"], request_id, {"awaiting_approval", *DONE})
    if state["status"] == "awaiting_approval":
        assert "download_url" not in json.dumps(state)  # nothing is released before the approval
        assert http("POST", f"{url}/approve", None, tokens["approver"]).status == 200
        state = wait_for_request(stack.api_url, tokens["compliance"], request_id, DONE)
    return state


def download(done: dict[str, Any], token: str) -> dict[str, Any]:
    """The export through the single-use, audited download link (with a compliance person's token)."""
    export: dict[str, Any] = json.loads(download_export(done["result"]["download_url"], token))
    return export


def route_url(stack: RunningStack, route: Route) -> str:
    """The route's URL with ids that exist nowhere (and a real day, so an admitted role reaches the handler)."""
    path = route.path
    for name in ("call_id", "request_id", "hold_id", "followup_id"):
        path = path.replace("{" + name + "}", f"matrix-{name.replace('_', '-')}")
    path = path.replace("{day}", "2026-01-01")  # a real day: the admitted role reaches the handler
    return f"{stack.api_url}{path}"


def call_route(stack: RunningStack, route: Route, token: str | None) -> int:
    """The status of ``route`` called with ``token`` and an empty body (the authorisation matrices' request)."""
    body: Any = {} if route.method in {"POST", "PUT", "PATCH"} else None
    return http(route.method, route_url(stack, route), body, token).status
