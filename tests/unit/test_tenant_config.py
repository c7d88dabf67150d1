"""Tenants as configuration: what cdk.json may list, and the clear sentence for each mistake."""

from __future__ import annotations

from typing import Any

import pytest

from callguard.names import Scope
from callguard.retention.policy import DataCategory
from infra.config import ConfigError, load_settings

pytestmark = pytest.mark.unit

CONTROLLER = {"name": "Acme Energie GmbH", "privacy_contact": "privacy@acme.example", "dpo_contact": "dpo@acme.example"}


def _tenant(tenant_id: str = "acme-energie", **extra: Any) -> dict[str, Any]:
    return {"id": tenant_id, "controller": CONTROLLER, **extra}


def _load(*tenants: dict[str, Any], **top: Any) -> Any:
    return load_settings({"callguard": {"tenants": list(tenants), **top}}, environ={})


def test_without_a_list_there_is_exactly_the_default_tenant_with_the_top_level_values() -> None:
    settings = load_settings({"callguard": {"retention": {"transcripts": 30}, "alarm_emails": ["ops@bpo.example"]}})
    (only,) = settings.tenant_list()
    assert only.id == "default"
    assert only.is_default
    assert not settings.multi_tenant
    assert only.controller == settings.controller
    assert only.retention == settings.retention
    assert only.retention.days(DataCategory.TRANSCRIPTS) == 30
    assert (only.intents, only.routing, only.alarm_emails) == (settings.intents, settings.routing, ("ops@bpo.example",))
    assert only.group_scopes == {"agent": (Scope.CALLS_READ,), "compliance": (Scope.PRIVACY_MANAGE,)}


def test_a_listed_tenant_gets_its_overrides_and_inherits_the_rest() -> None:
    settings = _load(
        _tenant(
            retention={"transcripts": 14},
            alarm_emails=["noc@acme.example"],
            routing={"after_hours_queue": "acme-callback"},
            platform_scopes=["calls:write"],
        ),
        _tenant("stadtwerk-2"),
        retention={"analyses": 200},
    )
    default, acme, stadtwerk = settings.tenant_list()
    assert [t.id for t in settings.tenant_list()] == ["default", "acme-energie", "stadtwerk-2"]
    assert acme.controller.name == "Acme Energie GmbH"
    assert default.controller.name != acme.controller.name
    # the override replaces one category; the others are the deployment's (analyses: the top-level 200)
    assert acme.retention.days(DataCategory.TRANSCRIPTS) == 14
    assert acme.retention.days(DataCategory.ANALYSES) == 200 == default.retention.days(DataCategory.ANALYSES)
    assert default.retention.days(DataCategory.TRANSCRIPTS) == 90
    assert acme.alarm_emails == ("noc@acme.example",)
    assert default.alarm_emails == ()
    assert acme.routing.after_hours_queue == "acme-callback"
    assert stadtwerk.routing == settings.routing
    assert acme.platform_scopes == (Scope.CALLS_WRITE,)
    assert stadtwerk.platform_scopes == (Scope.CALLS_WRITE, Scope.ROUTING_DECIDE)
    assert set(acme.group_scopes) == {"acme-energie:agent", "acme-energie:compliance"}
    assert set(default.group_scopes) == {"agent", "compliance"}


@pytest.mark.parametrize(
    "bad_id",
    ["Acme", "a", "1acme", "-acme", "acme_energie", "acme energie", "acme/x", "acme#1", "ä-energie", "a" * 32, "", 7],
)
def test_tenant_ids_must_be_safe_as_key_and_group_prefixes(bad_id: Any) -> None:
    with pytest.raises(ConfigError, match=r"(Tenant id .* is invalid|tenants\.0\.id)") as info:
        _load(_tenant(bad_id))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("good_id", ["ab", "acme-energie", "s2", "a" * 31, "x-1-2"])
def test_tenant_ids_of_the_allowed_charset_pass(good_id: str) -> None:
    assert _load(_tenant(good_id)).tenant_list()[1].id == good_id


def test_duplicate_tenant_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="Tenant id 'acme-energie' is listed twice"):
        _load(_tenant(), _tenant("other"), _tenant())


def test_default_is_reserved_for_the_top_level_values() -> None:
    with pytest.raises(ConfigError, match="'default' is reserved"):
        _load(_tenant("default"))


def test_unknown_retention_categories_are_named() -> None:
    with pytest.raises(ConfigError, match="Tenant 'acme-energie': unknown data category 'voicemail'"):
        _load(_tenant(retention={"voicemail": 3}))


def test_retention_overrides_keep_the_policys_rules() -> None:
    # transcripts are sealed under the subject's key: they may not outlive the subject (365 days)
    with pytest.raises(ConfigError, match="Tenant 'acme-energie': The transcripts retention"):
        _load(_tenant(retention={"transcripts": 400}))
    with pytest.raises(ConfigError, match=r"tenants\.0\.retention\.exports"):
        _load(_tenant(retention={"exports": 0}))


@pytest.mark.parametrize(
    "controller",
    [{}, {"name": "Acme"}, {"name": "Acme", "privacy_contact": "p@a.example"}, {**CONTROLLER, "colour": "x"}],
)
def test_a_tenant_needs_a_real_controller_block(controller: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"tenants\.0\.controller"):
        _load({"id": "acme-energie", "controller": controller})
    with pytest.raises(ConfigError, match=r"tenants\.0\.controller"):
        _load({"id": "acme-energie"})


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"platform_scopes": ["privacy:manage"]}, "platform_scopes"),
        ({"platform_scopes": []}, "platform_scopes"),
        ({"platform_scopes": ["calls:write", "calls:write"]}, "platform_scopes"),
        ({"alarm_emails": ["not-an-address"]}, "alarm_emails"),
        ({"intents": {"rules": "x"}}, "intents"),
        ({"routing": {"colour": "blue"}}, "routing"),
        ({"stack_name": "X"}, "stack_name"),
    ],
)
def test_other_bad_tenant_values_are_refused(extra: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        _load(_tenant(**extra))


def test_group_names_of_the_top_level_must_not_look_like_a_tenants() -> None:
    with pytest.raises(ConfigError, match=r"'acme:agent' in 'identity\.group_scopes' is invalid"):
        load_settings({"callguard": {"identity": {"group_scopes": {"acme:agent": ["calls:read"]}}}}, environ={})


def test_tenants_from_a_json_string_context_as_cdk_c_passes_it() -> None:
    import json

    settings = load_settings({"callguard": json.dumps({"tenants": [_tenant()]})}, environ={})
    assert [t.id for t in settings.tenant_list()] == ["default", "acme-energie"]
