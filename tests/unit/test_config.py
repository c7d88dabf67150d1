from __future__ import annotations

import pytest

from callguard.retention.policy import DataCategory, RetentionPolicy
from infra.config import COMPREHEND_REGIONS, EU_REGIONS, ConfigError, load_settings

pytestmark = pytest.mark.unit


def test_default_region_is_frankfurt_and_aws_default_region_is_ignored() -> None:
    settings = load_settings({}, environ={"CDK_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-west-2"})
    assert settings.region == "eu-central-1"


def test_region_from_context_and_environment() -> None:
    assert load_settings({"region": "eu-west-1"}, environ={}).region == "eu-west-1"
    assert load_settings({}, environ={"CALLGUARD_REGION": "eu-west-1"}).region == "eu-west-1"


@pytest.mark.parametrize("region", sorted(EU_REGIONS - COMPREHEND_REGIONS))
def test_eu_regions_without_comprehend_are_refused(region: str) -> None:
    with pytest.raises(ConfigError, match="has no Amazon Comprehend"):
        load_settings({"region": region}, environ={})


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2", "eu-central-2", "ap-south-1"])
def test_non_eu_regions_are_refused_in_one_sentence(region: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"region": region}, environ={})
    message = str(info.value)
    assert message.count(".") <= 4
    assert "\n" not in message
    assert region in message


def test_retention_overrides_and_errors() -> None:
    settings = load_settings({"callguard": {"retention": {"transcripts": 30}}}, environ={})
    assert settings.retention.days(DataCategory.TRANSCRIPTS) == 30
    assert settings.retention.days(DataCategory.AUDIT) == 6 * 365
    with pytest.raises(ConfigError, match="Unknown data category"):
        load_settings({"callguard": {"retention": {"voicemail": 3}}}, environ={})
    with pytest.raises(ConfigError, match=r"rules\.exports\.days"):
        load_settings({"callguard": {"retention": {"exports": 0}}}, environ={})


def test_a_category_without_a_period_is_an_error() -> None:
    rules = RetentionPolicy.defaults().rules
    partial = {str(k): v.model_dump() for k, v in rules.items() if k is not DataCategory.AUDIT}
    with pytest.raises(ValueError, match="missing for the data categories: audit"):
        RetentionPolicy.model_validate({"rules": partial})


def test_retention_round_trips_through_the_environment() -> None:
    policy = RetentionPolicy.defaults({"analyses": 200})
    assert RetentionPolicy.from_env(policy.to_env()) == policy


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="queue"):
        load_settings({"callguard": {"queue": {"batch_size": 11}}}, environ={})
    with pytest.raises(ConfigError):
        load_settings({"callguard": {"colour": "blue"}}, environ={})


def test_reserved_concurrency_anchoring_and_trail_settings() -> None:
    defaults = load_settings({}, environ={})
    assert (defaults.privacy_step_reserved_concurrency, defaults.analysis_reserved_concurrency) == (2, 5)
    assert defaults.organization_trail is False
    assert defaults.audit_anchor_lock_days == defaults.retention.days(DataCategory.AUDIT)
    custom = load_settings(
        {"callguard": {"privacy_step_reserved_concurrency": None, "analysis_reserved_concurrency": 20,
                       "organization_trail": True, "audit_checkpoint_minutes": 60}},
        environ={},
    )  # fmt: skip
    assert custom.privacy_step_reserved_concurrency is None
    assert (custom.analysis_reserved_concurrency, custom.organization_trail) == (20, True)
    for bad in ({"privacy_step_reserved_concurrency": 0}, {"audit_checkpoint_minutes": 1}):
        with pytest.raises((ConfigError, ValueError)):
            load_settings({"callguard": bad}, environ={})
