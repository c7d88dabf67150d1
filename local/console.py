"""The compliance console, locally: its static files under ``/console/``, and the two Cognito
hosted-UI endpoints it signs in through, ``/oauth2/authorize`` and ``/logout``.

``/oauth2/authorize`` is the authorization-code grant with PKCE as Cognito's hosted UI runs it:
the people client only, a redirect URI the client allows, ``code_challenge_method=S256`` only
(no ``plain``), a sign-in form for the local people, and a single-use code valid for five minutes
that :meth:`LocalConsole.redeem` exchanges at ``/oauth2/token`` only with the same client and
redirect URI and a ``code_verifier`` whose SHA-256 is the challenge. The token then comes from the
same issuer (and pre-token trigger) as every other local person's token. MFA is not emulated:
in AWS the hosted UI asks for the TOTP code (the user pool requires it). Never deployed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from callguard.names import Scope, full_scope
from infra.console_policy import CONSOLE_PATH, FIXED_HEADERS, content_security_policy
from local.auth import AuthError, LocalIssuer
from local.gateway import Response

__all__ = ["CODE_SECONDS", "CONSOLE_DIR", "LocalConsole"]

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"
#: how long an authorization code may wait for its exchange (Cognito: 5 minutes)
CODE_SECONDS = 300
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
#: RFC 7636: verifier 43-128 unreserved characters; an S256 challenge is 43 base64url characters
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_STATE = re.compile(r"^[\x21-\x7e]{1,512}$")
_PERSON = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    username: str
    as_person: str | None
    scope: str
    expires: float


@dataclass
class LocalConsole:
    """Serves the console and its sign-in for the stack at ``api_url``."""

    api_url: str
    aws_url: str
    issuer: LocalIssuer
    template: dict[str, Any]
    clock: Callable[[], float] = time.time
    _codes: dict[str, _Grant] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        (self.client_id,) = [c.client_id for c in self.issuer.clients.values() if "code" in c.flows]
        props = next(
            r["Properties"]
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::Cognito::UserPoolClient" and "code" in r["Properties"].get("AllowedOAuthFlows", [])
        )
        # the template's plain URLs (the CloudFront one is a reference, meaningless locally)
        self._callbacks = {u for u in props.get("CallbackURLs", []) if isinstance(u, str)}
        self._logouts = {u for u in props.get("LogoutURLs", []) if isinstance(u, str)}
        self.headers = {
            "Content-Security-Policy": content_security_policy([self.aws_url]),
            **FIXED_HEADERS,
        }

    # ---- routing ----
    def handles(self, method: str, raw_path: str) -> bool:
        path = raw_path.partition("?")[0]
        if path == "/oauth2/authorize":
            return method in {"GET", "POST"}
        return method == "GET" and (
            path == "/logout" or path == CONSOLE_PATH.rstrip("/") or path.startswith(CONSOLE_PATH)
        )

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        path, _, query = raw_path.partition("?")
        if path == "/oauth2/authorize":
            params = {
                k: v[-1] for k, v in parse_qs(query if method == "GET" else body.decode("utf-8", "replace")).items()
            }
            return self._authorize(method, params)
        if path == "/logout":
            return self._logout({k: v[-1] for k, v in parse_qs(query).items()})
        if path == CONSOLE_PATH.rstrip("/"):
            return Response(301, "", {"Location": CONSOLE_PATH, **self.headers})
        return self._file(path.removeprefix(CONSOLE_PATH) or "index.html", headers)

    # ---- static files ----
    def origin(self, headers: dict[str, str]) -> str:
        """The origin the browser used (127.0.0.1 or localhost on the API port), else the stack's URL."""
        host = next((v for k, v in headers.items() if k.lower() == "host"), "")
        port = urlsplit(self.api_url).port
        return f"http://{host}" if host in {f"127.0.0.1:{port}", f"localhost:{port}"} else self.api_url

    def config(self, origin: str) -> dict[str, Any]:
        """What the console needs to sign in and call the API (deployed: written by the CDK construct)."""
        return {
            "api_base": "",
            "authorize_url": "/oauth2/authorize",
            # B105 accepted: an endpoint's path, not a password
            "token_url": "/oauth2/token",  # nosec B105
            "logout_url": "/logout",
            "client_id": self.client_id,
            "redirect_uri": f"{origin}{CONSOLE_PATH}callback.html",
            "logout_uri": f"{origin}{CONSOLE_PATH}",
            "scopes": ["openid", full_scope(Scope.PRIVACY_MANAGE)],
        }

    def _file(self, relative: str, headers: dict[str, str]) -> Response:
        if relative == "config.json":
            return Response(
                200, json.dumps(self.config(self.origin(headers))), {"Content-Type": _TYPES[".json"], **self.headers}
            )
        target = (CONSOLE_DIR / relative).resolve()
        if not target.is_relative_to(CONSOLE_DIR) or not target.is_file() or target.suffix not in _TYPES:
            return Response(404, "not found", {"Content-Type": "text/plain; charset=utf-8", **self.headers})
        return Response(
            200, target.read_text(encoding="utf-8"), {"Content-Type": _TYPES[target.suffix], **self.headers}
        )

    # ---- the hosted UI's authorize endpoint ----
    def _allowed_redirects(self) -> set[str]:
        port = urlsplit(self.api_url).port
        own = {f"http://{h}:{port}{CONSOLE_PATH}callback.html" for h in ("127.0.0.1", "localhost")}
        return self._callbacks | own

    def _allowed_logouts(self) -> set[str]:
        port = urlsplit(self.api_url).port
        return self._logouts | {f"http://{h}:{port}{CONSOLE_PATH}" for h in ("127.0.0.1", "localhost")}

    def _authorize(self, method: str, params: dict[str, str]) -> Response:
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or redirect_uri not in self._allowed_redirects():
            # never redirect to an unknown place: an error page instead (as Cognito does)
            return self._page(
                400, "Anmeldung nicht möglich", "<p>Unbekannter Client oder nicht erlaubte Rücksprungadresse.</p>"
            )
        state = params.get("state", "")
        if (
            params.get("response_type") != "code"
            or params.get("code_challenge_method") != "S256"
            or not _CHALLENGE.match(params.get("code_challenge", ""))
            or not _STATE.match(state)
        ):
            return self._redirect(redirect_uri, {"error": "invalid_request", "state": state})
        client = self.issuer.clients[self.client_id]
        scope = params.get("scope") or " ".join(client.scopes)
        if not set(scope.split()) <= set(client.scopes):
            return self._redirect(redirect_uri, {"error": "invalid_scope", "state": state})
        if method == "GET":
            return self._form(params, error=False)
        username, password = params.get("username", ""), params.get("password", "")
        as_person = params.get("person", "").strip() or None
        user = self.issuer.users.get(username)
        if user is None or not hmac.compare_digest(user[0], password) or (as_person and not _PERSON.match(as_person)):
            return self._form(params, error=True)
        code = secrets.token_urlsafe(32)
        grant = _Grant(self.client_id, redirect_uri, params["code_challenge"], username, as_person, scope,
                       self.clock() + CODE_SECONDS)  # fmt: skip
        with self._lock:
            self._codes = {k: g for k, g in self._codes.items() if g.expires > self.clock()}
            self._codes[code] = grant
        return self._redirect(redirect_uri, {"code": code, "state": state})

    def redeem(self, form: dict[str, str]) -> str:
        """``grant_type=authorization_code`` at the token endpoint: the access token, or AuthError."""
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, even when refused below
        if grant is None or grant.expires <= self.clock():
            raise AuthError(400, "invalid_grant")
        if form.get("client_id") != grant.client_id:
            raise AuthError(400, "invalid_client")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise AuthError(400, "invalid_grant")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.match(verifier):
            raise AuthError(400, "invalid_grant")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
        if not hmac.compare_digest(digest, grant.challenge):
            raise AuthError(400, "invalid_grant")
        password = self.issuer.users[grant.username][0]
        return self.issuer.password(grant.client_id, grant.username, password, grant.scope, as_person=grant.as_person)

    def _logout(self, params: dict[str, str]) -> Response:
        logout_uri = params.get("logout_uri", "")
        if params.get("client_id") != self.client_id or logout_uri not in self._allowed_logouts():
            return self._page(400, "Abmelden nicht möglich", "<p>Nicht erlaubte Rücksprungadresse.</p>")
        return Response(302, "", {"Location": logout_uri, "Clear-Site-Data": '"cache", "storage"', **self.headers})

    def _redirect(self, uri: str, params: dict[str, str]) -> Response:
        return Response(302, "", {"Location": f"{uri}?{urlencode(params)}", **self.headers})

    def _form(self, params: dict[str, str], *, error: bool) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(params.get(k, ""))}">'
            for k in ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
                      "code_challenge_method")
        )  # fmt: skip
        message = '<p role="alert" class="bad">Anmeldung fehlgeschlagen. <span lang="en">Sign-in failed.</span></p>'
        body = f"""{message if error else ""}
<form method="post" action="/oauth2/authorize" class="card">{hidden}
<div class="field"><label for="username">Benutzername <span lang="en">(username)</span></label>
<input id="username" name="username" autocomplete="username" required></div>
<div class="field"><label for="password">Passwort <span lang="en">(password)</span></label>
<input id="password" name="password" type="password" autocomplete="current-password" required></div>
<div class="field"><label for="person">Person (nur lokal, für das Vier-Augen-Prinzip)
<span lang="en">(person, local only)</span></label>
<input id="person" name="person" autocomplete="off" pattern="[a-z0-9][a-z0-9._\\-]{{0,31}}"></div>
<button type="submit" class="primary" id="submit">Anmelden</button>
</form>
<p>Lokale Anmeldung von <code>make local</code>; in AWS meldet die Cognito-Anmeldeseite mit Zwei-Faktor-Code an.</p>"""
        return self._page(200, "callguard: Anmeldung", body)

    def _page(self, status: int, title: str, body: str) -> Response:
        page = f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<link rel="stylesheet" href="{CONSOLE_PATH}console.css"></head>
<body><main id="main"><h1>{html.escape(title)}</h1>{body}</main></body></html>"""
        return Response(status, page, {"Content-Type": _TYPES[".html"], **self.headers})
