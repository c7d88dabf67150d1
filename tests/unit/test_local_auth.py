"""The local token issuer and the authorizer rules the API emulator applies."""

from __future__ import annotations

import pytest

from local.auth import AuthError, Authorizer, LocalClient, LocalIssuer

pytestmark = pytest.mark.unit

ISSUER = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_local"
PLATFORM = LocalClient("platform", "s3cret", ("client_credentials",), ("callguard/calls:write",), 15)
PEOPLE = LocalClient("people", "", ("code",), ("openid", "callguard/calls:read", "callguard/privacy:manage"), 15)


def _pre_token(event: dict, _context: object) -> dict:  # type: ignore[type-arg]
    allowed = {"agent": {"callguard/calls:read"}}
    groups = event["request"]["groupConfiguration"]["groupsToOverride"]
    granted = set().union(*(allowed.get(g, set()) for g in groups))
    ours = {s for s in event["request"]["scopes"] if s.startswith("callguard/")}
    event["response"]["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": {"scopesToSuppress": sorted(ours - granted)}
    }
    return event


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer(
        issuer=ISSUER,
        clients={"platform": PLATFORM, "people": PEOPLE},
        users={"agent": ("pw", ("agent",))},
        pre_token=_pre_token,
    )


@pytest.fixture
def authorizer(issuer: LocalIssuer) -> Authorizer:
    return Authorizer(issuer=ISSUER, jwks=issuer.jwks(), client_ids=frozenset({"platform", "people"}))


def test_valid_token_with_the_scope_is_authorized(issuer: LocalIssuer, authorizer: Authorizer) -> None:
    token = issuer.client_credentials("platform", "s3cret", None)
    claims = authorizer.authorize(f"Bearer {token}", ["callguard/calls:write"])
    assert claims["client_id"] == "platform"
    assert claims["token_use"] == "access"


def test_missing_scope_is_403(issuer: LocalIssuer, authorizer: Authorizer) -> None:
    token = issuer.client_credentials("platform", "s3cret", None)
    with pytest.raises(AuthError) as info:
        authorizer.authorize(f"Bearer {token}", ["callguard/privacy:manage"])
    assert info.value.status == 403


def test_expired_token_is_401(issuer: LocalIssuer, authorizer: Authorizer) -> None:
    with pytest.raises(AuthError) as info:
        authorizer.authorize(f"Bearer {issuer.expired_token('platform')}", ["callguard/calls:write"])
    assert info.value.status == 401


def test_token_of_another_pool_is_401(issuer: LocalIssuer) -> None:
    other = LocalIssuer(issuer=ISSUER.replace("local", "other"), clients={"platform": PLATFORM})
    authorizer = Authorizer(issuer=ISSUER, jwks=issuer.jwks(), client_ids=frozenset({"platform"}))
    with pytest.raises(AuthError) as info:
        authorizer.authorize(other.client_credentials("platform", "s3cret", None), ["callguard/calls:write"])
    assert info.value.status == 401


def test_same_issuer_name_but_foreign_key_is_401(issuer: LocalIssuer, authorizer: Authorizer) -> None:
    impostor = LocalIssuer(issuer=ISSUER, clients={"platform": PLATFORM})
    impostor.kid = issuer.kid  # claims the right key id, signs with another key
    with pytest.raises(AuthError) as info:
        authorizer.authorize(impostor.client_credentials("platform", "s3cret", None), ["callguard/calls:write"])
    assert info.value.status == 401


def test_unknown_client_is_401(issuer: LocalIssuer) -> None:
    authorizer = Authorizer(issuer=ISSUER, jwks=issuer.jwks(), client_ids=frozenset({"people"}))
    with pytest.raises(AuthError) as info:
        authorizer.authorize(issuer.client_credentials("platform", "s3cret", None), ["callguard/calls:write"])
    assert info.value.status == 401


@pytest.mark.parametrize(
    ("client_id", "secret", "scope", "error"),
    [
        ("platform", "wrong", None, "invalid_client"),
        ("nobody", "s3cret", None, "invalid_client"),
        ("platform", "s3cret", "callguard/privacy:manage", "invalid_scope"),
    ],
)
def test_token_endpoint_refusals(
    issuer: LocalIssuer, client_id: str, secret: str, scope: str | None, error: str
) -> None:
    with pytest.raises(AuthError, match=error):
        issuer.client_credentials(client_id, secret, scope)


def test_people_scopes_pass_through_the_pre_token_trigger(issuer: LocalIssuer, authorizer: Authorizer) -> None:
    token = issuer.password("people", "agent", "pw", None)
    assert authorizer.authorize(token, ["callguard/calls:read"])["username"] == "agent"
    with pytest.raises(AuthError) as info:
        authorizer.authorize(token, ["callguard/privacy:manage"])
    assert info.value.status == 403
    with pytest.raises(AuthError, match="invalid_grant"):
        issuer.password("people", "agent", "wrong", None)
