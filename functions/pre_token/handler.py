"""Cognito pre-token-generation trigger (V2): scopes and tenant of people follow their groups.

A person's access token keeps only the resource-server scopes that one of their
Cognito groups grants (``CALLGUARD_GROUP_SCOPES``); a person in no group gets none.
It also carries the person's tenant in the ``tenant`` claim, read from the group names
(``agent`` → ``default``, ``acme-energie:agent`` → ``acme-energie``; only groups the
deployment configured count). A person in groups of two tenants acts for neither: the
token gets no API scope and no tenant (the API refuses it). Nothing the person sends
can set the claim. Machine clients (client credentials) never reach this trigger: the
API maps their client id to their tenant.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger

from callguard.names import RESOURCE_SERVER_ID, Env
from callguard.security.tenancy import TENANT_CLAIM, tenant_of_group

logger = Logger()


def allowed_scopes(groups: list[str], mapping: dict[str, list[str]]) -> set[str]:
    return {scope for group in groups for scope in mapping.get(group, [])}


def tenant_of(groups: list[str], mapping: dict[str, list[str]]) -> str | None:
    """The one tenant of the person's configured groups; ``None`` for none or several."""
    tenants = {tenant_of_group(group) for group in groups if group in mapping}
    return tenants.pop() if len(tenants) == 1 else None


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    mapping: dict[str, list[str]] = json.loads(os.environ.get(Env.GROUP_SCOPES.value, "{}"))
    groups = list(event.get("request", {}).get("groupConfiguration", {}).get("groupsToOverride", []) or [])
    tenant = tenant_of(groups, mapping)
    granted = allowed_scopes(groups, mapping) if tenant is not None else set()
    requested = set(event.get("request", {}).get("scopes", []) or [])
    ours = {s for s in requested if s.startswith(f"{RESOURCE_SERVER_ID}/")}
    suppress = sorted(ours - granted)
    # Only ever narrow: scopes are never added beyond what the client asked for.
    access: dict[str, Any] = {"scopesToSuppress": suppress}
    if tenant is not None:
        access["claimsToAddOrOverride"] = {TENANT_CLAIM: tenant}
    else:
        access["claimsToSuppress"] = [TENANT_CLAIM]
    event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = {"accessTokenGeneration": access}
    logger.info(
        "scopes filtered",
        extra={"groups": len(groups), "suppressed": len(suppress), "tenant": tenant or "none"},
    )
    return event
