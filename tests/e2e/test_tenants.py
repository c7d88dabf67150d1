"""Tenants on the embedded stack: `make -s token TENANT=`, the tenant claim, and the edge's refusals.

Identity per tenant; reading one tenant's data with another's token, on every route, is
tests/e2e/test_tenant_matrix.py (the same two-tenant stack, ``tenant_stack`` of the e2e conftest).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import jwt
import pytest

from local.client import fetch_invalid_token, http
from tests.e2e.conftest import RunningStack
from tests.support import ROOT

ACME_TENANT = "acme-energie"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def make_token(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLGUARD_LOCAL_STATE": str(stack.state_file)}
    env.pop("TENANT", None)
    return subprocess.run(
        ["make", "-s", "token", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _token(stack: RunningStack, *args: str) -> str:
    result = make_token(stack, *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1  # only the token
    return lines[0]


def test_make_token_issues_each_tenants_own_tokens(tenant_stack: RunningStack) -> None:
    default_agent = _claims(_token(tenant_stack, "ROLE=agent"))
    acme_agent = _claims(_token(tenant_stack, "ROLE=agent", "TENANT=acme-energie"))
    assert default_agent["tenant"] == "default"
    assert acme_agent["tenant"] == "acme-energie"
    assert acme_agent["sub"] != default_agent["sub"]
    assert acme_agent["scope"] == default_agent["scope"] == "openid email callguard/calls:read"
    acme_compliance = _claims(_token(tenant_stack, "ROLE=compliance", "TENANT=acme-energie", "USER=alice"))
    default_compliance = _claims(_token(tenant_stack, "ROLE=compliance", "USER=alice"))
    assert (acme_compliance["tenant"], default_compliance["tenant"]) == ("acme-energie", "default")
    assert acme_compliance["sub"] != default_compliance["sub"]  # alice of acme is not alice of the default tenant
    # platforms: each tenant its own client (the API maps the client id to the tenant)
    platforms = {t: _claims(_token(tenant_stack, "ROLE=platform", f"TENANT={t}")) for t in ("default", "acme-energie")}
    assert platforms["default"]["client_id"] != platforms["acme-energie"]["client_id"]
    assert _claims(_token(tenant_stack, "ROLE=platform"))["client_id"] == platforms["default"]["client_id"]
    assert "tenant" not in platforms["acme-energie"]  # client credentials: no trigger, the edge maps the client


@pytest.mark.parametrize("tenant", ["stadtwerk", "ACME-ENERGIE", "acme-energie:agent", "Default"])
def test_make_token_for_an_unknown_tenant_fails_clearly(tenant_stack: RunningStack, tenant: str) -> None:
    for role in ("platform", "agent"):
        result = make_token(tenant_stack, f"ROLE={role}", f"TENANT={tenant}")
        assert result.returncode != 0
        assert result.stdout == ""
        assert "unknown tenant" in result.stderr
        assert "acme-energie, default" in result.stderr  # what the stack serves


def test_every_tenants_tokens_are_admitted_by_the_api(tenant_stack: RunningStack) -> None:
    for tenant in ("default", "acme-energie"):
        agent = _token(tenant_stack, "ROLE=agent", f"TENANT={tenant}")
        answer = http("GET", f"{tenant_stack.api_url}/v1/followups?due_before=2030-01-01T00:00:00Z", token=agent)
        assert answer.status == 200, (tenant, answer.body)
        platform = _token(tenant_stack, "ROLE=platform", f"TENANT={tenant}")
        decision = http(
            "POST",
            f"{tenant_stack.api_url}/v1/routing/decisions",
            {"caller": {"phone": "+4915100000000"}, "channel": "voice", "utterance": "Rechnung"},
            token=platform,
        )
        assert decision.status == 200, (tenant, decision.body)


def test_a_token_of_no_tenant_of_the_stack_is_refused_403(tenant_stack: RunningStack, stack: RunningStack) -> None:
    for running in (tenant_stack, stack):  # with two tenants and on the single-tenant (v1) stack
        # signed by the stack's issuer, valid, with the platform's scopes: only its tenant is no tenant of ours
        token = fetch_invalid_token("unknown_tenant", running.state_file)
        body = {"caller": {"phone": "+4915100000000"}, "channel": "voice"}
        answer = http("POST", f"{running.api_url}/v1/routing/decisions", body, token=token)
        assert answer.status == 403
        assert answer.body["error"]["code"] == "unknown_tenant"
        assert set(answer.body) == {"error", "request_id"}


def test_a_body_naming_another_tenant_changes_nothing(tenant_stack: RunningStack) -> None:
    token = _token(tenant_stack, "ROLE=platform", "TENANT=acme-energie")
    url = f"{tenant_stack.api_url}/v1/routing/decisions"
    # an unknown body field is refused (stores nothing) ...
    spoofed = {"caller": {"phone": "+4915100000000"}, "channel": "voice", "tenant": "default"}
    answer = http("POST", url, spoofed, token=token)
    assert answer.status == 422
    assert answer.body["error"]["details"][0]["field"] == "tenant"
    # ... and headers or a query naming a tenant are not read: the token's tenant answers
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the local stack
        f"{url}?tenant=default",
        data=b'{"caller": {"phone": "+4915100000000"}, "channel": "voice"}',
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Tenant": "default"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
        assert response.status == 200


def test_the_same_number_in_two_tenants_is_two_subjects_and_an_access_export_holds_only_its_tenants_calls(
    tenant_stack: RunningStack,
) -> None:
    """Through the embedded stack's Step Functions: acme-energie's access request runs every step as
    acme-energie (its pseudonyms, its subject keys) and exports its call, never the default tenant's
    call of the same phone number."""
    from local.client import fetch_token
    from tests.e2e import flows
    from tests.support import call_body

    phone = "+49 160 5550777"
    state = tenant_stack.state_file
    acme = {role: fetch_token(role, state, tenant=ACME_TENANT) for role in ("platform", "compliance")}
    acme["approver"] = fetch_token("compliance", state, user="approver-2", tenant=ACME_TENANT)
    default_platform = fetch_token("platform", state)
    for call_id, token in (("tn-default-1", default_platform), ("tn-acme-1", acme["platform"])):
        body = call_body(call_id=call_id, caller={"phone": phone, "email": "same.caller@example.de"})
        answer = http("POST", f"{tenant_stack.api_url}/v1/calls", body, token=token)
        assert answer.status == 202, answer.body
    done = flows.run(tenant_stack, acme, "access", {"phone": phone})
    assert done["status"] == "completed", done
    export = flows.download(done, acme["compliance"])
    assert [c["call_id"] for c in export["data"]["calls"]] == ["tn-acme-1"]
    assert export["data"]["calls"][0]["transcript"]  # unsealed with acme-energie's subject key
