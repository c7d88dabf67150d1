"""What a request acting for a tenant gets: that tenant's settings, pseudonyms and key context, and
nothing a request carries chooses them. The default tenant's are v1's, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.clients import AwsClients, Lazy
from callguard.names import Env
from callguard.retention.policy import DataCategory
from callguard.security.crypto import encryption_context
from callguard.security.identity import IDENTIFIER_KINDS, mac_message
from callguard.security.tenancy import DEFAULT_TENANT, UnknownTenantError, acting_for, current_tenant
from callguard.security.tenant_settings import TenantRuntimeSettings, TenantSettingsDocument
from callguard.wiring import TenantAnalysisQueue, parts
from infra.config import load_settings
from tests.support import ROOT

pytestmark = pytest.mark.unit

EXAMPLE = json.loads((ROOT / "docs" / "tenants.example.json").read_text())
SECOND = {
    "id": "stadtwerk-nord",
    "controller": {"name": "Stadtwerk Nord", "privacy_contact": "p@sw.example", "dpo_contact": "d@sw.example"},
    "retention": {"transcripts": 14, "calls": 60},
}


def _environment(*tenants: dict[str, Any]) -> dict[str, str]:
    """The environment infra gives a tenant-aware function (the settings document, v1's variables)."""
    settings = load_settings({"callguard": {"tenants": list(tenants)}}, environ={})
    document = settings.tenant_settings_env()
    assert document is not None
    return {
        Env.TENANT_SETTINGS.value: document,
        Env.RETENTION.value: settings.retention.to_env(),
        Env.INTENTS.value: settings.intents.to_env(),
        Env.ROUTING.value: settings.routing.to_env(),
        Env.KEYS_TABLE.value: "keys",
        Env.DATA_KEY_ID.value: "arn:aws:kms:eu-central-1:123456789012:key/data",
        Env.HMAC_KEY_ID.value: "arn:aws:kms:eu-central-1:123456789012:key/hmac",
        Env.ANALYSIS_QUEUE_URL.value: "https://sqs.eu-central-1.amazonaws.com/123456789012/analysis",
    }


ENV = _environment(*EXAMPLE["tenants"], SECOND)


# -- the settings document ----------------------------------------------------------------------------------


def test_the_document_round_trips_and_names_only_listed_tenants() -> None:
    document = TenantSettingsDocument.from_env(ENV[Env.TENANT_SETTINGS.value])
    assert set(document.tenants) == {"acme-energie", "stadtwerk-nord"}
    assert TenantSettingsDocument.from_env(document.to_env()) == document
    assert TenantSettingsDocument.from_env(document.to_json()) == document  # the plain form reads too
    assert document.to_env().startswith("z1:")
    assert len(document.to_env()) < len(document.to_json())  # deflated for Lambda's 4 KB of environment
    assert TenantSettingsDocument.from_env(None).tenants == {}
    assert document.settings_of("stadtwerk-nord").intents is None  # not overridden: the deployment's
    with pytest.raises(UnknownTenantError):
        document.settings_of(DEFAULT_TENANT)  # the default tenant's settings are v1's variables
    with pytest.raises(UnknownTenantError):
        document.settings_of("ghost")


@pytest.mark.parametrize(
    "raw",
    [
        {"default": {"retention": {"transcripts": 1}}},  # the default tenant never comes from here
        {"Acme": {"retention": {}}},  # not a tenant id
        {"acme": {"retention": {"transcripts": 0}}},  # not a period
        {"acme": {"retention": {}, "alarm_emails": ["x@y.example"]}},  # no contact reaches a function
    ],
)
def test_a_malformed_document_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"validation error|default tenant"):  # pydantic's ValidationError is one
        TenantSettingsDocument.from_env(json.dumps(raw))


def test_a_synth_time_document_too_large_for_a_lambda_environment_stops_synth() -> None:
    import hashlib

    def word(i: int, j: int) -> str:  # a vocabulary deflation cannot shrink much
        return hashlib.sha256(f"{i}/{j}".encode()).hexdigest()[:16]

    rules = [{"name": f"intent_{chr(97 + i)}", "keywords": [word(i, j) for j in range(12)]} for i in range(20)]
    from infra.config import ConfigError

    with pytest.raises(ConfigError, match="Lambda environment"):
        load_settings({"callguard": {"tenants": [{**SECOND, "intents": {"rules": rules}}]}}, environ={})


# -- the tenant a piece of work acts for ------------------------------------------------------------------


def test_acting_for_holds_only_inside_its_block_even_when_the_block_fails() -> None:
    assert current_tenant() == DEFAULT_TENANT
    with acting_for("acme-energie"):
        assert current_tenant() == "acme-energie"
        with pytest.raises(RuntimeError), acting_for("stadtwerk-nord"):
            raise RuntimeError("boom")
        assert current_tenant() == "acme-energie"
    assert current_tenant() == DEFAULT_TENANT


@pytest.mark.parametrize("bad", ["", "ACME", "acme:agent", "a", "acme\x1fx", "../default"])
def test_acting_for_refuses_what_is_no_tenant_id(bad: str) -> None:
    with pytest.raises(UnknownTenantError), acting_for(bad):
        pass


def test_lazy_builds_one_graph_per_tenant_with_v1s_call_for_the_default_and_forgets_them_per_invocation() -> None:
    built: list[tuple[str, ...]] = []

    def build(clients: AwsClients, **kwargs: str) -> tuple[str, ...]:
        graph = (kwargs.get("tenant", "v1-call"),)
        built.append(graph)
        return graph

    deps: Lazy[tuple[str, ...]] = Lazy(build)

    @deps.per_invocation
    def handler(tenants: list[str]) -> list[tuple[str, ...]]:
        seen = []
        for tenant in tenants:
            with acting_for(tenant):
                seen.append(deps())
        return seen

    assert handler(["default", "acme-energie", "acme-energie", "default"]) == [
        ("v1-call",),
        ("acme-energie",),
        ("acme-energie",),
        ("v1-call",),
    ]
    assert built == [("v1-call",), ("acme-energie",)]  # one graph per tenant within the invocation
    handler(["acme-energie"])
    assert built[-1] == ("acme-energie",)
    assert len(built) == 3


def test_a_builder_that_takes_no_tenant_fails_loudly_for_a_listed_tenant() -> None:
    deps: Lazy[str] = Lazy(lambda clients: "default graph")
    assert deps() == "default graph"
    with acting_for("acme-energie"), pytest.raises(TypeError):
        deps()  # never the default tenant's graph (keys, settings) for a listed tenant


# -- pseudonyms and key contexts -------------------------------------------------------------------------


def test_only_the_contracts_identifier_kinds_are_maced() -> None:
    from typing import get_args

    from callguard.models import IdentifierKind

    assert frozenset(get_args(IdentifierKind)) == IDENTIFIER_KINDS


def test_the_default_tenants_mac_message_and_key_context_are_v1s() -> None:
    assert mac_message(DEFAULT_TENANT, "phone", "+4915112345678") == b"phone:+4915112345678"
    assert encryption_context(DEFAULT_TENANT, "sub_x") == {"callguard:subject_id": "sub_x"}


def test_a_listed_tenants_mac_message_and_key_context_name_it_and_cannot_be_anothers() -> None:
    acme = mac_message("acme-energie", "phone", "+4915112345678")
    nord = mac_message("stadtwerk-nord", "phone", "+4915112345678")
    assert len({acme, nord, mac_message(DEFAULT_TENANT, "phone", "+4915112345678")}) == 3
    assert acme == b"callguard:tenant:acme-energie\x1fphone:+4915112345678"
    # no identifier value can make one tenant's message another's: the tenant ends at the separator
    assert mac_message("acme", "phone", "x") != mac_message("acme-energie", "phone", "x")
    # only the contract's kinds are MACed: no default-tenant message can start like a listed tenant's
    with pytest.raises(ValueError, match="identifier kind"):
        mac_message(DEFAULT_TENANT, "callguard", "tenant:acme-energie\x1fphone:x")
    assert encryption_context("acme-energie", "sub_x") == {
        "callguard:subject_id": "sub_x",
        "callguard:tenant": "acme-energie",
    }


# -- the wiring of a request: the tenant's settings, from the document, never from the request -------------------


def test_parts_of_each_tenant_carry_its_own_retention_intents_routing_pseudonyms_and_keys() -> None:
    clients = AwsClients(kms=object(), dynamodb=object(), sqs=object())
    default = parts(clients, ENV)
    acme = parts(clients, ENV, tenant="acme-energie")
    nord = parts(clients, ENV, tenant="stadtwerk-nord")
    days = {p.tenant: p.retention.days(DataCategory.TRANSCRIPTS) for p in (default, acme, nord)}
    assert days == {"default": 90, "acme-energie": 30, "stadtwerk-nord": 14}
    assert nord.retention.days(DataCategory.CALLS) == 60
    assert acme.retention.days(DataCategory.CALLS) == 90
    assert "meter_reading" in {r.name for r in acme.intents().rules}
    assert "meter_reading" not in {r.name for r in default.intents().rules}
    assert nord.intents() == default.intents()  # not overridden: the deployment's
    assert (acme.routing().after_hours_queue, default.routing().after_hours_queue) == ("acme-callback", "callback")
    assert acme.routing().version != default.routing().version  # decisions name which rules decided
    assert acme.keyring().tenant == "acme-energie"
    assert default.keyring().tenant == DEFAULT_TENANT
    assert acme.pseudonymizer().tenant == "acme-energie"
    assert default.pseudonymizer().tenant == DEFAULT_TENANT


def test_a_tenant_the_deployment_does_not_list_gets_no_parts_at_all() -> None:
    clients = AwsClients(kms=object(), dynamodb=object())
    with pytest.raises(UnknownTenantError):
        parts(clients, ENV, tenant="ghost")
    without = {k: v for k, v in ENV.items() if k != Env.TENANT_SETTINGS.value}
    with pytest.raises(UnknownTenantError):
        parts(clients, without, tenant="acme-energie")  # a single-tenant deployment serves only default


class _Sqs:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:  # noqa: N803 - boto3's names
        self.bodies.append(json.loads(MessageBody))


def test_a_listed_tenants_analysis_message_names_it_and_the_default_tenants_is_v1s() -> None:
    sqs = _Sqs()
    clients = AwsClients(sqs=sqs)
    parts(clients, ENV).analysis_queue().enqueue("cc-1")
    queue = parts(clients, ENV, tenant="acme-energie").analysis_queue()
    assert isinstance(queue, TenantAnalysisQueue)
    queue.enqueue("cc-1")
    assert sqs.bodies == [{"call_id": "cc-1"}, {"call_id": "cc-1", "tenant": "acme-energie"}]


def test_the_runtime_settings_model_forbids_anything_but_its_three_sections() -> None:
    assert set(TenantRuntimeSettings.model_fields) == {"retention", "intents", "routing"}
