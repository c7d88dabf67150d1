"""The local hosted UI's authorization code + PKCE (local/console.py), attacked: a wrong, missing or
plain verifier, a replayed or expired code, another client or redirect, an unknown redirect target,
a wrong password. Only the right verifier for the right code, once, gets a token, and that token
is the person's (groups, scopes after the pre-token rules), never more."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from local.auth import AuthError, LocalClient, LocalIssuer
from local.console import CODE_SECONDS, LocalConsole

pytestmark = pytest.mark.functional

API = "http://127.0.0.1:18080"
CALLBACK = f"{API}/console/callback.html"
SCOPES = ("openid", "callguard/privacy:manage", "callguard/calls:read")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def console(clock: Clock) -> LocalConsole:
    issuer = LocalIssuer(
        issuer="https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Local",
        clients={
            "people": LocalClient("people", "", ("code",), SCOPES, 15),
            "platform": LocalClient("platform", "s3cret", ("client_credentials",), ("callguard/calls:write",), 15),
        },
        users={"compliance": ("right-password", ("compliance",))},
        clock=clock,
    )
    template = {"Resources": {"People": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
        "AllowedOAuthFlows": ["code"], "CallbackURLs": ["http://localhost:8765/callback"]}}}}  # fmt: skip
    return LocalConsole(API, "http://127.0.0.1:14566", issuer, template, clock=clock)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(console: LocalConsole, challenge: str, **overrides: str) -> Any:
    params = {
        "response_type": "code", "client_id": "people", "redirect_uri": CALLBACK,
        "scope": "openid callguard/privacy:manage", "state": "st-1",
        "code_challenge": challenge, "code_challenge_method": "S256",
        "username": "compliance", "password": "right-password", **overrides,
    }  # fmt: skip
    return console.handle("POST", "/oauth2/authorize", {"Host": "127.0.0.1:18080"}, urlencode(params).encode())


def _code(console: LocalConsole, challenge: str, **overrides: str) -> str:
    answer = _authorize(console, challenge, **overrides)
    assert answer.status == 302, answer.body
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _redeem(console: LocalConsole, code: str, verifier: str, **overrides: str) -> str:
    form = {"grant_type": "authorization_code", "client_id": "people", "code": code, "redirect_uri": CALLBACK,
            "code_verifier": verifier, **overrides}  # fmt: skip
    return console.redeem(form)


def test_the_right_verifier_redeems_the_code_once_for_the_persons_token(console: LocalConsole) -> None:
    verifier, challenge = _pkce()
    code = _code(console, challenge, person="desk-2")
    token = _redeem(console, code, verifier)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["username"] == "desk-2"
    assert claims["cognito:groups"] == ["compliance"]
    assert claims["scope"] == "openid callguard/privacy:manage"
    with pytest.raises(AuthError, match="invalid_grant"):  # replay
        _redeem(console, code, verifier)


@pytest.mark.parametrize(
    "tamper",
    [
        {"code_verifier": "x" * 64},  # someone else's verifier (an intercepted code alone is useless)
        {"code_verifier": ""},
        {"redirect_uri": "http://localhost:8765/callback"},  # another allowed redirect than the code's
        {"client_id": "platform"},
    ],
)
def test_a_code_with_a_wrong_verifier_redirect_or_client_is_refused_and_burnt(
    console: LocalConsole, tamper: dict[str, str]
) -> None:
    verifier, challenge = _pkce()
    code = _code(console, challenge)
    with pytest.raises(AuthError):
        _redeem(console, code, verifier, **tamper)
    with pytest.raises(AuthError):  # a refused attempt used the code up
        _redeem(console, code, verifier)


def test_a_code_expires_after_five_minutes(console: LocalConsole, clock: Clock) -> None:
    verifier, challenge = _pkce()
    code = _code(console, challenge)
    clock.now += CODE_SECONDS + 1
    with pytest.raises(AuthError, match="invalid_grant"):
        _redeem(console, code, verifier)


def test_plain_challenges_unknown_redirects_and_wrong_passwords_get_no_code(console: LocalConsole) -> None:
    verifier, challenge = _pkce()
    plain = _authorize(console, verifier, code_challenge_method="plain")
    assert plain.status == 302
    assert "error=invalid_request" in plain.headers["Location"]
    assert "code=" not in plain.headers["Location"]
    for target in (
        "https://evil.example/callback",
        f"{API}/console/other.html",
        "http://127.0.0.1:1/console/callback.html",
    ):
        answer = _authorize(console, challenge, redirect_uri=target)
        assert answer.status == 400  # never redirected anywhere unknown
        assert "Location" not in answer.headers
    wrong = _authorize(console, challenge, password="wrong")
    assert wrong.status == 200  # the form again, with an error
    assert "Location" not in wrong.headers
    scope = _authorize(console, challenge, scope="openid callguard/calls:write")
    assert "error=invalid_scope" in scope.headers["Location"]


def test_the_console_is_served_with_its_security_headers_and_no_path_escapes(console: LocalConsole) -> None:
    page = console.handle("GET", "/console/", {"Host": "127.0.0.1:18080"}, b"")
    assert page.status == 200
    assert '<script type="module" src="js/app.js">' in page.body
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    for escape in ("/console/../local/console.py", "/console/%2e%2e/Makefile", "/console/js/../../pyproject.toml"):
        assert console.handle("GET", escape, {}, b"").status == 404
    config = console.handle("GET", "/console/config.json", {"Host": "localhost:18080"}, b"")
    assert '"redirect_uri": "http://localhost:18080/console/callback.html"' in config.body
    logout = console.handle("GET", "/logout?client_id=people&logout_uri=https://evil.example/", {}, b"")
    assert logout.status == 400
