"""Tenants in the template: without a list, exactly v1's resources; with one, v1's plus each tenant's identity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.names import ROUTES, Env, Scope, full_scope
from callguard.security.tenancy import TenantDirectory
from tests.conftest import Synth
from tests.infra.v1_template import FIXTURE, digest

pytestmark = pytest.mark.infra

API_FUNCTIONS = {r.function for r in ROUTES if r.function}


def _differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "missing": sorted(set(before) - set(after)),
        "added": sorted(set(after) - set(before)),
        "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]),
    }


def test_a_deployment_without_a_tenant_list_synthesizes_v1s_template(synth: Synth) -> None:
    """Every resource and output of the synth of main before tenants existed, with the same properties
    (code assets aside); nothing added. Regenerate the fixture only for an intended v1 change."""
    v1 = json.loads(FIXTURE.read_text())
    now = digest(synth.template)
    resources = _differences(v1["resources"], now["resources"])
    outputs = _differences(v1["outputs"], now["outputs"])
    assert resources == {"missing": [], "added": [], "changed": []}, (
        f"the single-tenant template is no longer v1's; see {FIXTURE.name} ({__name__})"
    )
    assert outputs == {"missing": [], "added": [], "changed": []}
    functions = synth.resources("AWS::Lambda::Function").values()
    assert not any(Env.TENANTS.value in f["Properties"].get("Environment", {}).get("Variables", {}) for f in functions)


def _function_env(synth: Synth, logical: str) -> dict[str, Any]:
    variables: dict[str, Any] = synth.template["Resources"][logical]["Properties"]["Environment"]["Variables"]
    return variables


def _service(synth: Synth, logical: str) -> str:
    return str(_function_env(synth, logical).get("POWERTOOLS_SERVICE_NAME", "")).removeprefix("callguard-")


def test_listing_tenants_only_adds_to_v1_and_changes_no_v1_resource_but_the_tenant_wiring(
    synth: Synth, tenant_synth: Synth
) -> None:
    v1, multi = digest(synth.template)["resources"], digest(tenant_synth.template)["resources"]
    diff = _differences(v1, multi)
    assert diff["missing"] == []
    changed = {logical: _service(tenant_synth, logical) for logical in diff["changed"]}
    # the API functions learn the tenants and their clients, the trigger the tenants' groups; no other v1 change
    assert set(changed.values()) == API_FUNCTIONS | {"pre_token"}, changed
    for logical, service in changed.items():
        before, after = _function_env(synth, logical), _function_env(tenant_synth, logical)
        grown = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        assert grown == ({Env.GROUP_SCOPES.value} if service == "pre_token" else {Env.TENANTS.value}), logical
    added_types = sorted(tenant_synth.template["Resources"][k]["Type"] for k in diff["added"])
    assert added_types == ["AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup", "AWS::Cognito::UserPoolGroup"]


def test_each_tenant_has_its_own_platform_client_groups_and_scopes(tenant_synth: Synth) -> None:
    clients = tenant_synth.resources("AWS::Cognito::UserPoolClient")
    machines = {k: v for k, v in clients.items() if v["Properties"].get("AllowedOAuthFlows") == ["client_credentials"]}
    assert len(machines) == 2
    assert "IdentityUserPoolPlatformClient" in "".join(machines)  # v1's client keeps its logical id
    for client in machines.values():
        props = client["Properties"]
        assert props["GenerateSecret"] is True
        scopes = {json.dumps(s) for s in props["AllowedOAuthScopes"]}
        assert len(scopes) == 2
        assert all("calls:write" in s or "routing:decide" in s for s in scopes)
    groups = {g["Properties"]["GroupName"] for g in tenant_synth.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"agent", "compliance", "acme-energie:agent", "acme-energie:compliance"}
    (pre_token,) = [k for k in tenant_synth.resources("AWS::Lambda::Function") if "PreToken" in k]
    mapping = json.loads(_function_env(tenant_synth, pre_token)[Env.GROUP_SCOPES.value])
    assert mapping["acme-energie:agent"] == mapping["agent"] == [full_scope(Scope.CALLS_READ)]
    assert mapping["acme-energie:compliance"] == ["callguard/privacy:manage"]
    outputs = tenant_synth.template["Outputs"]
    assert any(v.get("Description") == "platform client of tenant acme-energie" for v in outputs.values())


def test_the_api_functions_map_each_platform_client_to_its_tenant(tenant_synth: Synth) -> None:
    clients = {
        k for k, v in tenant_synth.resources("AWS::Cognito::UserPoolClient").items()
        if v["Properties"].get("AllowedOAuthFlows") == ["client_credentials"]
    }  # fmt: skip
    for logical, function in tenant_synth.resources("AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if _service(tenant_synth, logical) not in API_FUNCTIONS:
            assert Env.TENANTS.value not in variables, logical
            continue
        joined = variables[Env.TENANTS.value]["Fn::Join"]
        refs = {part["Ref"] for part in joined[1] if isinstance(part, dict)}
        assert refs == clients, logical
        # resolved with stand-in client ids, it is a directory of two tenants with one client each
        text = "".join(part if isinstance(part, str) else f"id-{part['Ref']}" for part in joined[1])
        directory = TenantDirectory.from_env({Env.TENANTS.value: text})
        assert directory.tenants == {"default", "acme-energie"}
        assert sorted((directory.clients or {}).values()) == ["acme-energie", "default"]
