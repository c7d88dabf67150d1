"""Client helpers for the running local stack (tokens)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

from local.stack import STATE_FILE

__all__ = ["fetch_token"]


def fetch_token(role: str, state_file: Path = STATE_FILE) -> str:
    """A bearer token for ``role`` from the running stack's local token endpoint."""
    if not state_file.exists():
        raise RuntimeError("no local stack is running (start it with `make local`)")
    state = json.loads(state_file.read_text())
    if role == "platform":
        form = {
            "grant_type": "client_credentials",
            "client_id": state["platform"]["client_id"],
            "client_secret": state["platform"]["client_secret"],
        }
    elif role in state["people"]:
        form = {
            "grant_type": "password",
            "client_id": state["people_client_id"],
            "username": role,
            "password": state["people"][role],
        }
    else:
        raise ValueError(f"unknown role {role!r}; use platform, agent or compliance")
    request = urllib.request.Request(  # noqa: S310 - a fixed local http URL from the state file
        state["token_url"], data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        token: str = json.loads(response.read())["access_token"]
    return token
