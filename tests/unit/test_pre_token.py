from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import FakeContext, load_handler

pytestmark = pytest.mark.unit

MAPPING = {"agent": ["callguard/calls:read"], "compliance": ["callguard/privacy:manage"]}


def _event(groups: list[str], scopes: list[str]) -> dict[str, Any]:
    return {
        "version": "2",
        "triggerSource": "TokenGeneration_HostedAuth",
        "request": {"groupConfiguration": {"groupsToOverride": groups}, "scopes": scopes},
        "response": {},
    }


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CALLGUARD_GROUP_SCOPES", json.dumps(MAPPING))
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "pre-token-test")
    return load_handler("pre_token")


def test_agent_keeps_calls_read_and_loses_privacy_manage(handler: Any) -> None:
    out = handler.lambda_handler(
        _event(["agent"], ["openid", "callguard/calls:read", "callguard/privacy:manage"]), FakeContext()
    )
    details = out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    assert details["scopesToSuppress"] == ["callguard/privacy:manage"]
    assert "scopesToAdd" not in details


def test_person_without_group_gets_no_api_scope(handler: Any) -> None:
    out = handler.lambda_handler(_event([], ["openid", "callguard/calls:read"]), FakeContext())
    details = out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    assert details["scopesToSuppress"] == ["callguard/calls:read"]
