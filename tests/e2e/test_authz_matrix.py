"""Authorization matrix over the running stack: every route of the contract, every role and
every kind of bad token → the expected 401 / 403 / admitted. Tokens are refused before any
body is looked at, and an admitted request never meets a 5xx."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from callguard.names import ROUTES, Route, Scope, full_scope
from local.client import fetch_invalid_token, fetch_token
from tests.e2e.conftest import RunningStack
from tests.e2e.flows import call_route

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROLES = ("platform", "agent", "compliance")
INVALID = ("expired", "foreign_client", "foreign_issuer", "id_token", "not_yet_valid")
#: the scopes each role's token carries (contract: platforms write calls and ask for routing;
#: agents read calls; the compliance team manages privacy requests)
ROLE_SCOPES = {
    "platform": {"calls:write", "routing:decide"},
    "agent": {"calls:read"},
    "compliance": {"privacy:manage"},
}
PROTECTED = [r for r in ROUTES if r.scope is not None]


def _tampered(token: str) -> str:
    """The same token with the scope claim widened and the signature left as it was."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = " ".join(full_scope(s) for s in (Scope.CALLS_WRITE, Scope.CALLS_READ, Scope.PRIVACY_MANAGE))
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _foreign_key(token: str) -> str:
    """The same claims and key id, signed with an attacker's own key."""
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    valid = {role: fetch_token(role, stack.state_file) for role in ROLES}
    bad = {kind: fetch_invalid_token(kind, stack.state_file) for kind in INVALID}
    bad["tampered"] = _tampered(valid["platform"])
    bad["foreign_key"] = _foreign_key(valid["platform"])
    bad["alg_none"] = jwt.encode(jwt.decode(valid["platform"], options={"verify_signature": False}), None, "none")
    bad["garbage"] = "not-a-jwt"
    return {**valid, **{f"bad:{k}": v for k, v in bad.items()}}


def test_the_matrix_covers_every_protected_route_of_the_contract() -> None:
    assert len(PROTECTED) >= 10
    assert {r.scope.value for r in PROTECTED if r.scope} == {"calls:write", "routing:decide", "calls:read",
                                                              "privacy:manage"}  # fmt: skip


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
def test_no_token_and_every_bad_token_is_401_on_every_route(
    stack: RunningStack, tokens: dict[str, str], route: Route
) -> None:
    assert call_route(stack, route, None) == 401
    for name, token in tokens.items():
        if name.startswith("bad:"):
            assert call_route(stack, route, token) == 401, name


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
def test_each_role_is_admitted_exactly_where_its_scope_allows(
    stack: RunningStack, tokens: dict[str, str], route: Route
) -> None:
    assert route.scope is not None
    for role in ROLES:
        status = call_route(stack, route, tokens[role])
        if route.scope.value in ROLE_SCOPES[role]:
            assert status not in {401, 403}, (role, status)
            assert status < 500, (role, status)
        else:
            assert status == 403, (role, status)


def test_the_public_health_route_needs_no_token(stack: RunningStack, tokens: dict[str, str]) -> None:
    health = next(r for r in ROUTES if r.scope is None)
    assert call_route(stack, health, None) == 200
    assert call_route(stack, health, tokens["bad:garbage"]) == 200
