"""Local stand-in for Cognito's hosted token endpoint, and the API's authorizer rules.

moto's Cognito has no client-credentials token endpoint and its access tokens carry a
fixed scope, so the local stack signs tokens itself: RS256, with the user pool's
issuer, ``token_use=access``, the client id and the scopes the client is allowed
(from the synthesized template). People's tokens pass through the real
pre-token-generation function, exactly like the Cognito trigger in AWS (its scope
suppressions and its ``tenant`` claim). Each tenant's platform client and people get
their own tokens (``make token TENANT=<id>``). The API
emulator verifies every token against this issuer's JWKS like API Gateway's Cognito
authorizer: signature, expiry, issuer, token use, known client, then the method's scopes.
This module is never deployed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from callguard.security.tenancy import DEFAULT_TENANT, tenant_of_group

__all__ = ["AuthError", "Authorizer", "LocalClient", "LocalIssuer"]

#: a local person's name (``make token USER=<name>``)
_PERSON = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


class AuthError(Exception):
    """A token was refused. ``status`` is 401 (no valid token) or 403 (missing scope)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class LocalClient:
    client_id: str
    client_secret: str
    flows: tuple[str, ...]
    scopes: tuple[str, ...]
    token_minutes: int


@dataclass
class LocalIssuer:
    """Signs access tokens for the user pool ``issuer`` with a key made at start-up."""

    issuer: str
    clients: dict[str, LocalClient]
    #: local people: username → (password, groups)
    users: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    #: the pre-token-generation function (event, context) → event
    pre_token: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def _sign(self, client: LocalClient, scopes: list[str], extra: dict[str, Any], ttl: int | None = None) -> str:
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "sub": extra.pop("sub", client.client_id),
            "client_id": client.client_id,
            # B105 accepted: the claim's value, not a password
            "token_use": "access",  # nosec B105
            "scope": " ".join(scopes),
            "auth_time": now,
            "iat": now,
            "exp": now + (ttl if ttl is not None else client.token_minutes * 60),
            "jti": uuid.uuid4().hex,
            "version": 2,
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def client_credentials(self, client_id: str, client_secret: str, scope: str | None) -> str:
        client = self.clients.get(client_id)
        if client is None or not client.client_secret or client.client_secret != client_secret:
            raise AuthError(400, "invalid_client")
        if "client_credentials" not in client.flows:
            raise AuthError(400, "unauthorized_client")
        requested = scope.split() if scope else list(client.scopes)
        if not set(requested) <= set(client.scopes):
            raise AuthError(400, "invalid_scope")
        return self._sign(client, requested, {})

    def password(
        self, client_id: str, username: str, password: str, scope: str | None, as_person: str | None = None
    ) -> str:
        """Local-only grant for people (AWS: hosted UI with MFA); scopes filtered by the trigger.

        ``as_person`` makes a distinct person with the role ``username`` names (its groups), so
        two compliance people can be played locally (four-eyes): ``sub`` and ``username`` are theirs.
        """
        client = self.clients.get(client_id)
        user = self.users.get(username)
        if client is None or "code" not in client.flows:
            raise AuthError(400, "invalid_client")
        if user is None or user[0] != password:
            raise AuthError(400, "invalid_grant")
        requested = scope.split() if scope else list(client.scopes)
        if not set(requested) <= set(client.scopes):
            raise AuthError(400, "invalid_scope")
        groups = list(user[1])
        added: dict[str, Any] = {}
        suppressed_claims: list[str] = []
        if self.pre_token is not None:
            event = {
                "version": "2",
                "triggerSource": "TokenGeneration_HostedAuth",
                "userName": username,
                "request": {"groupConfiguration": {"groupsToOverride": groups}, "scopes": requested},
                "response": {},
            }
            details = self.pre_token(event, None)["response"].get("claimsAndScopeOverrideDetails") or {}
            access = details.get("accessTokenGeneration") or {}
            suppressed = set(access.get("scopesToSuppress", []))
            requested = [s for s in requested if s not in suppressed]
            # as Cognito applies V2's claim overrides to the access token (the ``tenant`` claim)
            added = dict(access.get("claimsToAddOrOverride") or {})
            suppressed_claims = list(access.get("claimsToSuppress") or [])
        person = username
        if as_person:
            if not _PERSON.match(as_person):
                raise AuthError(400, "invalid_request")
            # a listed tenant's people are other people than the default tenant's of the same name
            tenants = {tenant_of_group(g) for g in groups}
            tenant = tenants.pop() if len(tenants) == 1 else DEFAULT_TENANT
            person = as_person if tenant == DEFAULT_TENANT else f"{tenant}.{as_person}"
        claims: dict[str, Any] = {"sub": f"local-{person}", "username": person, "cognito:groups": groups}
        claims.update(added)
        for claim in suppressed_claims:
            claims.pop(claim, None)
        return self._sign(client, requested, claims)

    def expired_token(self, client_id: str) -> str:
        """A correctly signed token that has already expired (for tests and the demo)."""
        client = self.clients[client_id]
        return self._sign(client, list(client.scopes), {"iat": int(self.clock()) - 7200}, ttl=-3600)

    #: correctly signed tokens an authorizer must refuse, for the authorization tests
    INVALID_KINDS = ("expired", "foreign_client", "foreign_issuer", "id_token", "not_yet_valid")
    #: correctly signed, valid tokens of no tenant of the stack: the API edge refuses them (403)
    #: ``unknown_tenant``: a person's token naming a tenant the stack does not serve; ``no_tenant``: a
    #: person's token without the tenant claim (a listed-tenant stack refuses it; v1's acts for ``default``)
    FOREIGN_TENANT_KINDS = ("unknown_tenant", "no_tenant")

    def invalid_token(self, kind: str, client_id: str, scope: str | None = None) -> str:
        """A token signed with this issuer's key that is wrong in exactly one way.

        ``scope`` (the tenant kinds only) gives the token any scopes of the pool's clients, so the
        tenant refusal can be tried with each role's scopes; by default the client's own."""
        client = self.clients[client_id]
        scopes = list(client.scopes)
        if scope and kind in self.FOREIGN_TENANT_KINDS:
            known = {s for c in self.clients.values() for s in c.scopes}
            if not set(scope.split()) <= known:
                raise AuthError(400, "invalid_scope")
            scopes = scope.split()
        now = int(self.clock())
        if kind == "expired":
            return self.expired_token(client_id)
        if kind == "foreign_client":  # another pool's app client (wrong audience)
            other = LocalClient("foreign-client-id", "", client.flows, client.scopes, client.token_minutes)
            return self._sign(other, scopes, {})
        if kind == "foreign_issuer":
            return self._sign(client, scopes, {"iss": self.issuer.rsplit("/", 1)[0] + "/eu-central-1_Foreign0"})
        if kind == "id_token":
            # B105 accepted: the claim's value, not a password
            return self._sign(client, scopes, {"token_use": "id"})  # nosec B105
        if kind == "not_yet_valid":
            return self._sign(client, scopes, {"nbf": now + 3600, "iat": now + 3600})
        if kind == "unknown_tenant":  # a person's token whose tenant claim names no tenant of the stack (403)
            person = {"sub": "local-nobody", "username": "nobody", "tenant": "no-such-tenant"}
            return self._sign(client, scopes, person)
        if kind == "no_tenant":  # a person's token without the tenant claim (no group of a tenant)
            return self._sign(client, scopes, {"sub": "local-nobody", "username": "nobody"})
        raise AuthError(400, "unknown invalid-token kind")


@dataclass
class Authorizer:
    """API Gateway's Cognito user-pool authorizer, as configured in the template."""

    issuer: str
    jwks: dict[str, Any]
    client_ids: frozenset[str]
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._keys = {k["kid"]: RSAAlgorithm.from_jwk(k) for k in self.jwks["keys"]}

    def claims(self, header: str | None) -> dict[str, Any]:
        if not header:
            raise AuthError(401, "A valid bearer token is required.")
        token = header.split(" ", 1)[1] if header.lower().startswith("bearer ") else header
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid)
            if key is None:
                raise AuthError(401, "A valid bearer token is required.")
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"require": ["exp", "iss", "token_use", "client_id"], "verify_aud": False},
                leeway=0,
            )
        except jwt.PyJWTError:
            raise AuthError(401, "A valid bearer token is required.") from None
        if claims.get("token_use") != "access" or claims.get("client_id") not in self.client_ids:
            raise AuthError(401, "A valid bearer token is required.")
        return claims

    def authorize(self, header: str | None, required_scopes: list[str]) -> dict[str, Any]:
        claims = self.claims(header)
        granted = set(str(claims.get("scope", "")).split())
        if required_scopes and not granted & set(required_scopes):
            raise AuthError(403, "The token does not grant the scope this route needs.")
        return claims
