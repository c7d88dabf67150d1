"""The API edge's tenant: from the verified token only, and refused when it is no tenant of ours."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.security.tenancy import DEFAULT_TENANT, TenantDirectory, UnknownTenantError, group_name, tenant_of_group

pytestmark = pytest.mark.unit

MULTI = TenantDirectory(
    tenants=frozenset({"default", "acme-energie"}),
    clients={"client-default": "default", "client-acme": "acme-energie"},
)


def _event(claims: dict[str, Any], body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "body": json.dumps(body) if body is not None else None,
        "headers": headers or {},
        "queryStringParameters": {"tenant": "acme-energie"},
        "requestContext": {"authorizer": {"claims": claims}},
    }


def _person(tenant: str | None, **extra: Any) -> dict[str, Any]:
    claims = {"sub": "local-x", "username": "x", "client_id": "people-client", "scope": "callguard/calls:read"}
    return {**claims, **({"tenant": tenant} if tenant is not None else {}), **extra}


def test_group_names_round_trip_and_the_default_tenant_keeps_v1_names() -> None:
    assert group_name(DEFAULT_TENANT, "agent") == "agent"
    assert group_name("acme-energie", "compliance") == "acme-energie:compliance"
    for tenant in ("default", "acme-energie", "a1"):
        assert tenant_of_group(group_name(tenant, "agent")) == tenant


def test_single_tenant_every_token_of_the_pool_is_the_default_tenant() -> None:
    single = TenantDirectory.from_env({})
    assert single.resolve(_event({"client_id": "any-platform-client"})) == "default"
    assert single.resolve(_event(_person("default"))) == "default"
    assert single.resolve(_event(_person(None))) == "default"  # a v1 person's token without the claim


def test_single_tenant_refuses_a_token_that_names_another_tenant() -> None:
    single = TenantDirectory.from_env({})
    with pytest.raises(UnknownTenantError) as info:
        single.resolve(_event(_person("acme-energie")))
    assert (info.value.status, info.value.code) == (403, "unknown_tenant")
    with pytest.raises(UnknownTenantError):
        single.resolve(_event({"client_id": "c", "tenant": "acme-energie"}))


def test_machine_clients_act_for_the_tenant_their_client_id_maps_to() -> None:
    assert MULTI.resolve(_event({"client_id": "client-acme"})) == "acme-energie"
    assert MULTI.resolve(_event({"client_id": "client-default"})) == "default"
    with pytest.raises(UnknownTenantError):
        MULTI.resolve(_event({"client_id": "client-made-in-the-console"}))
    with pytest.raises(UnknownTenantError):  # a machine token naming another tenant than its client's
        MULTI.resolve(_event({"client_id": "client-acme", "tenant": "default"}))


def test_people_act_for_their_tokens_tenant_claim_and_must_carry_one_with_several_tenants() -> None:
    assert MULTI.resolve(_event(_person("acme-energie"))) == "acme-energie"
    assert MULTI.resolve(_event(_person("default"))) == "default"
    for claim in (None, "stadtwerk", "", "Acme-Energie", "acme-energie ", ["acme-energie"]):
        with pytest.raises(UnknownTenantError):
            MULTI.resolve(_event(_person(claim)))  # type: ignore[arg-type]


def test_the_body_query_and_headers_never_decide_the_tenant() -> None:
    spoof = {"tenant": "acme-energie", "metadata": {"tenant": "acme-energie"}}
    headers = {"X-Tenant": "acme-energie", "X-Callguard-Tenant": "acme-energie"}
    assert MULTI.resolve(_event({"client_id": "client-default"}, spoof, headers)) == "default"
    assert MULTI.resolve(_event(_person("default"), spoof, headers)) == "default"
    with pytest.raises(UnknownTenantError):  # nothing but the token counts, even when the body names a tenant
        MULTI.resolve(_event({"client_id": "unknown"}, spoof, headers))


def test_no_claims_at_all_is_refused_with_several_tenants() -> None:
    with pytest.raises(UnknownTenantError):
        MULTI.resolve({"requestContext": {}})


def test_the_directory_round_trips_through_the_environment_and_checks_itself() -> None:
    assert TenantDirectory.from_env({"CALLGUARD_TENANTS": MULTI.to_env()}) == MULTI
    broken = json.dumps({"tenants": ["acme"], "clients": [{"client_id": "c", "tenant": "acme"}]})
    with pytest.raises(ValueError, match="inconsistent"):
        TenantDirectory.from_env({"CALLGUARD_TENANTS": broken})
