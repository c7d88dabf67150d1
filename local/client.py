"""Client helpers for the running local stack: tokens, HTTP calls, waiting for privacy workflows."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callguard.security.tenancy import DEFAULT_TENANT
from local.stack import STATE_FILE

__all__ = [
    "Answer",
    "download_export",
    "fetch_invalid_token",
    "fetch_token",
    "http",
    "run_scheduled",
    "wait_for_request",
]


def _tenant_credentials(state: dict[str, Any], tenant: str | None) -> dict[str, Any]:
    """The platform client and people of ``tenant`` (``None``/empty: the default tenant)."""
    tenants: dict[str, Any] = state.get("tenants") or {
        DEFAULT_TENANT: {
            "platform": state["platform"],
            "people": {role: {"username": role, "password": pw} for role, pw in state["people"].items()},
        }
    }
    wanted = tenant or DEFAULT_TENANT
    if wanted not in tenants:
        served = ", ".join(sorted(tenants))
        raise ValueError(f"unknown tenant {wanted[:40]!r}; the running stack serves: {served}")
    found: dict[str, Any] = tenants[wanted]
    return found


def fetch_token(role: str, state_file: Path = STATE_FILE, user: str | None = None, tenant: str | None = None) -> str:
    """A bearer token for ``role`` from the running stack's local token endpoint; ``user`` makes
    a distinct person of that role (agent, compliance), e.g. for four-eyes; ``tenant`` a token of
    that tenant's platform client or people (default tenant when absent)."""
    if not state_file.exists():
        raise RuntimeError("no local stack is running (start it with `make local`)")
    state = json.loads(state_file.read_text())
    if role not in {"platform", *state["people"]}:
        raise ValueError(f"unknown role {role!r}; use platform, agent or compliance")
    if user and role == "platform":
        raise ValueError("USER makes a person; platforms are machine clients")
    credentials = _tenant_credentials(state, tenant)
    if role == "platform":
        form = {
            "grant_type": "client_credentials",
            "client_id": credentials["platform"]["client_id"],
            "client_secret": credentials["platform"]["client_secret"],
        }
    else:
        form = {
            "grant_type": "password",
            "client_id": state["people_client_id"],
            "username": credentials["people"][role]["username"],
            "password": credentials["people"][role]["password"],
            **({"as_person": user} if user else {}),
        }
    request = urllib.request.Request(  # noqa: S310 - a fixed local http URL from the state file
        state["token_url"], data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    # the local stack's token endpoint from its state file (http://127.0.0.1)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
        token: str = json.loads(response.read())["access_token"]
    return token


def fetch_invalid_token(kind: str, state_file: Path = STATE_FILE, scope: str | None = None) -> str:
    """A platform token signed by the running stack's issuer but wrong in one way (``kind``:
    expired, foreign_client, foreign_issuer, id_token, not_yet_valid): the API must refuse it; or a
    person's token of no tenant of the stack (``unknown_tenant``, ``no_tenant``), with ``scope``'s
    scopes when given (full names, space-separated)."""
    from local.stack import INVALID_TOKEN_GRANT

    state = json.loads(state_file.read_text())
    form = {
        "grant_type": INVALID_TOKEN_GRANT,
        "kind": kind,
        "client_id": state["platform"]["client_id"],
        "client_secret": state["platform"]["client_secret"],
        **({"scope": scope} if scope else {}),
    }
    request = urllib.request.Request(state["token_url"], data=urllib.parse.urlencode(form).encode(), method="POST")  # noqa: S310
    # B310 accepted: the local stack's token endpoint from its state file (http://127.0.0.1)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
        token: str = json.loads(response.read())["access_token"]
    return token


def run_scheduled(service: str, event: dict[str, Any], state_file: Path = STATE_FILE) -> dict[str, Any]:
    """Invoke a scheduled function (``purge``, ``deadline_check``) of the running stack through
    its Lambda endpoint, as EventBridge Scheduler would; returns the function's answer."""
    import boto3
    from botocore.config import Config

    if not state_file.exists():
        raise RuntimeError("no local stack is running (start it with `make local`)")
    state = json.loads(state_file.read_text())
    function = state.get("functions", {}).get(service)
    if function is None:
        raise RuntimeError(f"the running stack has no {service!r} function; restart it after `make synth`")
    client = boto3.client(
        "lambda",
        endpoint_url=state["aws_url"],
        region_name="eu-central-1",
        aws_access_key_id="local",
        # B106 accepted: the embedded stack's dummy credentials
        aws_secret_access_key="local",  # noqa: S106  # nosec B106
        config=Config(read_timeout=900, retries={"max_attempts": 1}),
    )
    response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    answer: dict[str, Any] = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise RuntimeError(str(answer.get("errorMessage", "the function failed")))
    return answer


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


def http(method: str, url: str, body: Any = None, token: str | None = None, raw: bytes | None = None) -> Answer:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - local URL
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        # callers pass the local stack's URLs (tests, demo, fault script)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
            return Answer(response.status, json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read() or b"{}"))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the caller follows it, without the bearer token (it must not reach the storage)


def download_export(url: str, token: str) -> bytes:
    """Redeem a privacy request's single-use download link (with the person's token), then fetch the
    export from the short-lived storage URL it redirects to (without the token)."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise ValueError("the download link is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        # B310 accepted: the API's own link, its scheme checked above
        with opener.open(request, timeout=30) as response:  # nosec B310
            raise RuntimeError(f"the download link answered {response.status}, not a redirect")
    except urllib.error.HTTPError as error:
        if error.code != 303:
            raise
        location = error.headers["Location"]
    if urllib.parse.urlsplit(location).scheme not in {"http", "https"}:
        raise ValueError("the export location is not an http(s) URL")
    with urllib.request.urlopen(location, timeout=60) as answer:  # noqa: S310  # nosec B310
        return bytes(answer.read())


def wait_for_request(
    api_url: str, token: str, request_id: str, statuses: set[str], seconds: float = 30
) -> dict[str, Any]:
    """Poll ``GET /v1/privacy/requests/{id}`` until its status is one of ``statuses`` (or time runs out)."""
    deadline = time.monotonic() + seconds
    while True:
        body = http("GET", f"{api_url}/v1/privacy/requests/{request_id}", token=token).body
        if body.get("status") in statuses or time.monotonic() > deadline:
            return body
        time.sleep(0.2)
