"""Which tenant (controller) a caller acts for: from the verified token, never from the request.

A tenant is a controller served by this deployment (see README "Tenants"). The API edge
resolves it once per request from the authorizer's claims:

* people: the ``tenant`` claim the pre-token-generation trigger added from their Cognito
  group (``agent`` → ``default``, ``<tenant>:agent`` → ``<tenant>``);
* machine clients (client credentials, for which Cognito's V2 trigger does not run): the
  token's ``client_id``, mapped to its tenant by the deployment's configuration
  (``CALLGUARD_TENANTS``, set by ``infra`` only when tenants are configured).

A deployment without a tenant list has exactly one tenant, :data:`DEFAULT_TENANT`, and no
``CALLGUARD_TENANTS``: every token of its user pool acts for ``default``, as in v1 (a person's
token without the claim too; with several tenants, a person's token must carry it). A token
naming a tenant the deployment does not have is refused (:class:`UnknownTenantError`, 403).
Body fields, query parameters and headers are never read here.

The edge then runs the request *acting for* that tenant (:func:`acting_for`, :func:`current_tenant`):
the services of the request are built with that tenant's settings
(:class:`callguard.security.tenant_settings.TenantSettingsDocument`),
pseudonyms, subject keys and stored data (every store keys the tenant's data under its
:class:`~callguard.storage.scope.TenantScope`; README "Tenants").
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from callguard.errors import CallguardError
from callguard.names import Env

__all__ = [
    "DEFAULT_TENANT",
    "GROUP_SEPARATOR",
    "TENANT_CLAIM",
    "TENANT_ID_PATTERN",
    "TenantDirectory",
    "UnknownTenantError",
    "acting_for",
    "current_tenant",
    "group_name",
    "tenant_of_group",
]

#: the one tenant of a deployment without a tenant list (v1's behaviour)
DEFAULT_TENANT: Final = "default"
#: tenant ids become key prefixes and Cognito group prefixes: lower-case letters, digits and '-'
TENANT_ID_PATTERN: Final = r"^[a-z][a-z0-9-]{1,30}$"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)
#: the access-token claim the pre-token-generation trigger sets for people
TENANT_CLAIM: Final = "tenant"
#: ``<tenant>:<role>`` names a tenant's group; the default tenant's groups keep v1's bare names
GROUP_SEPARATOR: Final = ":"


class UnknownTenantError(CallguardError, status=403, code="unknown_tenant"):
    """The token is valid but acts for no tenant of this deployment."""


def group_name(tenant: str, role: str) -> str:
    """The Cognito group of ``role`` people of ``tenant`` (``agent`` / ``acme-energie:agent``)."""
    return role if tenant == DEFAULT_TENANT else f"{tenant}{GROUP_SEPARATOR}{role}"


def tenant_of_group(group: str) -> str:
    """The tenant a group name belongs to (the inverse of :func:`group_name`)."""
    tenant, separator, _ = group.partition(GROUP_SEPARATOR)
    return tenant if separator else DEFAULT_TENANT


def _claims(event: Mapping[str, Any]) -> dict[str, Any]:
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class TenantDirectory:
    """The tenants of this deployment and the machine clients that act for each."""

    tenants: frozenset[str] = frozenset({DEFAULT_TENANT})
    #: app client id → tenant; ``None``: single-tenant deployment, every client acts for ``default``
    clients: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TenantDirectory:
        raw = (environ if environ is not None else os.environ).get(Env.TENANTS.value)
        if not raw:
            return cls()
        data = json.loads(raw)
        tenants = frozenset(str(t) for t in data["tenants"])
        clients = {str(c["client_id"]): str(c["tenant"]) for c in data["clients"]}
        if DEFAULT_TENANT not in tenants or not set(clients.values()) <= tenants:
            raise ValueError(f"{Env.TENANTS.value} is inconsistent: every client must map to a listed tenant.")
        return cls(tenants=tenants, clients=clients)

    def to_env(self) -> str:
        clients = [{"client_id": k, "tenant": v} for k, v in (self.clients or {}).items()]
        return json.dumps({"tenants": sorted(self.tenants), "clients": clients}, sort_keys=True)

    def resolve(self, event: Mapping[str, Any]) -> str:
        """The caller's tenant from the authorizer's verified claims; :class:`UnknownTenantError` if none."""
        claims = _claims(event)
        claimed = claims.get(TENANT_CLAIM)
        if claims.get("username") or claims.get("cognito:username"):
            # people: only the trigger sets the claim, from their group; in a single-tenant deployment
            # a token from before the trigger set it (or without it) acts for the one tenant, as in v1
            tenant = claimed if claimed is not None or self.clients is not None else DEFAULT_TENANT
        else:
            client_id = str(claims.get("client_id") or "")
            tenant = DEFAULT_TENANT if self.clients is None else self.clients.get(client_id)
            if claimed is not None and claimed != tenant:
                tenant = None  # a machine token that names another tenant than its client's: refuse
        if not isinstance(tenant, str) or not _TENANT_ID.match(tenant) or tenant not in self.tenants:
            raise UnknownTenantError("The token does not belong to a tenant of this deployment.")
        return tenant


# -- the tenant a piece of work acts for ------------------------------------------------------------------
#: set by the API edge from the verified token (:func:`callguard.edge.resolver.build_resolver`) and by the
#: analysis for each queue message, for exactly the duration of that request or message; read by
#: :class:`callguard.clients.Lazy`, so a handler's services are built with the settings and keys of
#: the tenant the work is for. Outside any request: the default tenant (v1's behaviour).
_acting_for: ContextVar[str] = ContextVar("callguard_tenant", default=DEFAULT_TENANT)


def current_tenant() -> str:
    """The tenant the current request or message acts for (``default`` outside any)."""
    return _acting_for.get()


@contextmanager
def acting_for(tenant: str) -> Iterator[str]:
    """Act for ``tenant`` inside the block (a valid tenant id), and for the previous one after it."""
    if not _TENANT_ID.match(tenant):
        raise UnknownTenantError("The tenant id is not one this deployment could serve.")
    token = _acting_for.set(tenant)
    try:
        yield tenant
    finally:
        _acting_for.reset(token)
