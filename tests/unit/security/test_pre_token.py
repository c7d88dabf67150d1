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


TENANT_MAPPING = {
    **MAPPING,
    "acme-energie:agent": ["callguard/calls:read"],
    "acme-energie:compliance": ["callguard/privacy:manage"],
}


@pytest.fixture
def tenant_handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CALLGUARD_GROUP_SCOPES", json.dumps(TENANT_MAPPING))
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "pre-token-test")
    return load_handler("pre_token")


def _access(out: dict[str, Any]) -> dict[str, Any]:
    access: dict[str, Any] = out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    return access


@pytest.mark.parametrize(
    ("groups", "tenant", "kept"),
    [
        (["agent"], "default", {"callguard/calls:read"}),
        (["compliance"], "default", {"callguard/privacy:manage"}),
        (["acme-energie:agent"], "acme-energie", {"callguard/calls:read"}),
        (["acme-energie:agent", "acme-energie:compliance"], "acme-energie", {"callguard/calls:read",
                                                                             "callguard/privacy:manage"}),
        # a group the deployment did not configure (made by hand in the console) neither grants nor names a tenant
        (["acme-energie:agent", "stadtwerk:compliance"], "acme-energie", {"callguard/calls:read"}),
    ],
)  # fmt: skip
def test_the_token_carries_the_tenant_of_the_persons_group(
    tenant_handler: Any, groups: list[str], tenant: str, kept: set[str]
) -> None:
    requested = ["openid", "callguard/calls:read", "callguard/privacy:manage"]
    access = _access(tenant_handler.lambda_handler(_event(groups, requested), FakeContext()))
    assert access["claimsToAddOrOverride"] == {"tenant": tenant}
    assert set(requested) - set(access["scopesToSuppress"]) == kept | {"openid"}


@pytest.mark.parametrize(
    "groups", [["agent", "acme-energie:agent"], ["compliance", "acme-energie:agent"], [], ["stadtwerk:agent"]]
)
def test_a_person_of_two_tenants_or_none_gets_no_tenant_and_no_api_scope(
    tenant_handler: Any, groups: list[str]
) -> None:
    requested = ["openid", "callguard/calls:read", "callguard/privacy:manage"]
    access = _access(tenant_handler.lambda_handler(_event(groups, requested), FakeContext()))
    assert "claimsToAddOrOverride" not in access
    assert access["claimsToSuppress"] == ["tenant"]
    assert access["scopesToSuppress"] == ["callguard/calls:read", "callguard/privacy:manage"]


def test_nothing_in_the_sign_in_event_but_the_groups_sets_the_tenant(tenant_handler: Any) -> None:
    event = _event(["agent"], ["callguard/calls:read"])
    event["request"]["clientMetadata"] = {"tenant": "acme-energie"}
    event["request"]["userAttributes"] = {"custom:tenant": "acme-energie", "tenant": "acme-energie"}
    access = _access(tenant_handler.lambda_handler(event, FakeContext()))
    assert access["claimsToAddOrOverride"] == {"tenant": "default"}
