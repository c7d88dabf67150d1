"""Cognito pre-token-generation trigger (V2): scopes of people follow their group.

A person's access token keeps only the resource-server scopes that one of their
Cognito groups grants (``CALLGUARD_GROUP_SCOPES``); a person in no group gets none.
Machine clients (client credentials) never reach this trigger.
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger

from callguard.names import RESOURCE_SERVER_ID, Env

logger = Logger()


def allowed_scopes(groups: list[str], mapping: dict[str, list[str]]) -> set[str]:
    return {scope for group in groups for scope in mapping.get(group, [])}


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    mapping: dict[str, list[str]] = json.loads(os.environ.get(Env.GROUP_SCOPES.value, "{}"))
    groups = list(event.get("request", {}).get("groupConfiguration", {}).get("groupsToOverride", []) or [])
    granted = allowed_scopes(groups, mapping)
    requested = set(event.get("request", {}).get("scopes", []) or [])
    ours = {s for s in requested if s.startswith(f"{RESOURCE_SERVER_ID}/")}
    suppress = sorted(ours - granted)
    # Only ever narrow: scopes are never added beyond what the client asked for.
    event.setdefault("response", {})["claimsAndScopeOverrideDetails"] = {
        "accessTokenGeneration": {"scopesToSuppress": suppress}
    }
    logger.info("scopes filtered", extra={"groups": len(groups), "suppressed": len(suppress)})
    return event
