"""Retention policy and the purge's instant: the rules the purge and the docs depend on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callguard.models import PurgeRequest, PurgeRequestError
from callguard.names import ATTR_TTL, EXPIRY_SHARDS, TTL_GRACE_SECONDS
from callguard.retention.policy import DataCategory, RetentionPolicy, RetentionPolicyError
from callguard.storage.expiry import expiry_attributes

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def test_sealed_data_may_not_outlive_the_subject_key_it_is_sealed_under() -> None:
    with pytest.raises(RetentionPolicyError, match="transcripts retention \\(400 days\\) exceeds the subjects"):
        RetentionPolicy.defaults({"transcripts": 400})
    with pytest.raises(RetentionPolicyError, match="calls retention"):
        RetentionPolicy.defaults({"calls": 30, "subjects": 20, "transcripts": 10})
    assert RetentionPolicy.defaults({"transcripts": 365}).days(DataCategory.TRANSCRIPTS) == 365


def test_expiry_attributes_shard_the_index_key_and_put_the_ttl_backstop_a_week_later() -> None:
    policy = RetentionPolicy.defaults()
    shards = set()
    for micro in range(64):
        attributes = expiry_attributes(policy, DataCategory.ANALYSES, NOW + timedelta(microseconds=micro))
        category, shard = attributes["expiry_key"]["S"].split("#")
        assert category == "analyses"
        shards.add(int(shard))
        expires = int(attributes["expires_at"]["N"])
        assert expires == int((NOW + timedelta(days=365)).timestamp())
        assert int(attributes[ATTR_TTL]["N"]) == expires + TTL_GRACE_SECONDS
    assert shards == set(range(EXPIRY_SHARDS))


def test_the_purge_instant_is_now_a_given_instant_or_a_date_at_utc_midnight() -> None:
    assert PurgeRequest.model_validate({}).instant(NOW, allow_future=False) == NOW
    past = PurgeRequest.model_validate({"as_of": "2026-11-01T03:00:00+01:00"})
    assert past.instant(NOW, allow_future=False) == datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    date = PurgeRequest.model_validate({"as_of": "2027-03-01"})
    assert date.instant(NOW, allow_future=True) == datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(PurgeRequestError, match="future"):
        date.instant(NOW, allow_future=False)
    with pytest.raises(PurgeRequestError, match="time zone"):
        PurgeRequest.model_validate({"as_of": "2026-11-01T03:00:00"}).instant(NOW, allow_future=True)
    scheduler_event = {"source": "scheduler", "detail": {}}  # extra fields from the scheduler are ignored
    assert PurgeRequest.model_validate(scheduler_event).instant(NOW, allow_future=False) == NOW
