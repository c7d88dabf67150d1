"""The calls store of two tenants on one table (moto, the synthesized template): every partition key and every
index key a listed tenant's items carry begins with its prefix, and nothing the store reads, lists, changes or
deletes for one tenant is another's, even where both use the same call id and the same subject id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.names import Env
from callguard.retention.policy import RetentionPolicy
from callguard.storage.calls import CallsRepository, NewCall, SegmentMeta
from callguard.storage.dynamo import ItemKey
from callguard.storage.idempotency import IdempotencyRecords, record_prefix
from callguard.storage.scope import V1, TenantScope
from callguard.storage.transcripts import TranscriptStore

pytestmark = pytest.mark.functional

ACME = TenantScope("acme-energie")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
#: the attributes of the calls table that are index keys (by_subject, by_due, by_expiry)
INDEX_KEYS = ("subject_id", "followup_status", "expiry_key")


def _repo(aws: dict[str, Any], scope: TenantScope) -> CallsRepository:
    return CallsRepository(
        dynamodb=aws["clients"].dynamodb,
        table=aws["env"][Env.CALLS_TABLE],
        retention=RetentionPolicy.from_env(None),
        scope=scope,
    )


def _call(call_id: str, subject_id: str) -> NewCall:
    return NewCall(
        call_id=call_id,
        subject_id=subject_id,
        fingerprint="f",
        started_at=NOW.isoformat(),
        channel="voice",
        live=True,
        consent={"recording": True, "ai_analysis": True},
        segments=(SegmentMeta("customer", 0, 10),),
        analysis_status="queued",
    )


def _fill(repo: CallsRepository, call_id: str, subject_id: str) -> None:
    """One of each item the store writes: call, transcript marker, analysis with follow-up, decision, statistics."""
    assert repo.put_new(_call(call_id, subject_id), NOW) is None
    assert repo.mark_transcript(call_id, subject_id, "bucket", f"transcripts/{subject_id}/{call_id}.sealed", NOW)
    followup = {"followup_id": f"fu-{call_id}", "subject_id": subject_id, "due_at": NOW.isoformat(), "reason": "x"}
    assert repo.put_analysis(call_id, {"status": "done"}, NOW, followup, subject_id=subject_id)
    repo.put_decision(f"d-{call_id}", subject_id, {"call_id": call_id}, NOW)
    repo.record_resolution("billing", ["Gutschrift"], NOW)


def _items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    ddb = aws["session"].client("dynamodb")
    return list(ddb.scan(TableName=aws["env"][Env.CALLS_TABLE])["Items"])


def test_every_key_of_a_listed_tenants_items_begins_with_its_prefix(aws: dict[str, Any]) -> None:
    _fill(_repo(aws, V1), "cc-1", "sub_same")
    _fill(_repo(aws, ACME), "cc-1", "sub_same")  # the same call id, even the same subject id
    items = _items(aws)
    acme = [i for i in items if i["pk"]["S"].startswith(ACME.prefix)]
    default = [i for i in items if not i["pk"]["S"].startswith("T#")]
    assert len(acme) == len(default) == len(items) / 2 == 6
    assert {i["pk"]["S"].removeprefix(ACME.prefix) for i in acme} == {i["pk"]["S"] for i in default}
    for item in acme:
        for name in INDEX_KEYS:
            if name in item:
                assert item[name]["S"].startswith(ACME.prefix), (item["sk"]["S"], name)
    for item in default:  # the default tenant's: v1's values
        assert not any(item[name]["S"].startswith("T#") for name in INDEX_KEYS if name in item)
    assert {i["followup_status"]["S"] for i in items if "followup_status" in i} == {"open", f"{ACME.prefix}open"}


def test_each_tenants_store_reads_lists_and_changes_only_its_own_items(aws: dict[str, Any]) -> None:
    default, acme = _repo(aws, V1), _repo(aws, ACME)
    _fill(default, "cc-1", "sub_same")
    _fill(acme, "cc-1", "sub_same")
    _fill(acme, "cc-acme", "sub_acme")
    before = [i for i in _items(aws) if i["pk"]["S"].startswith(ACME.prefix)]

    # reads: the same id gives each tenant its own call; the other tenant's id gives nothing
    own, theirs = default.get("cc-1"), acme.get("cc-1")
    assert own is not None
    assert theirs is not None
    assert own.subject_id == theirs.subject_id == "sub_same"  # ids come back in v1's form
    assert default.get("cc-acme") is None
    assert default.get_analysis("cc-acme") is None
    # listings: by subject, by due date, statistics
    assert default.partitions_of("sub_same") == ["CALL#cc-1", "DECISION#d-cc-1"]
    assert acme.partitions_of("sub_same") == [f"{ACME.prefix}CALL#cc-1", f"{ACME.prefix}DECISION#d-cc-1"]
    assert default.partitions_of("sub_acme") == []
    later = (NOW + timedelta(days=1)).isoformat()
    assert [f["call_id"] for f in default.followups_due(later)] == ["cc-1"]
    assert sorted(f["call_id"] for f in acme.followups_due(later)) == ["cc-1", "cc-acme"]
    assert default.recent_activity("sub_acme", NOW - timedelta(days=1)) == ([], 0)
    assert acme.recent_activity("sub_same", NOW - timedelta(days=1)) == (["cc-1"], 1)
    assert default.resolutions("billing") == [("Gutschrift", 1)]
    assert acme.resolutions("billing") == [("Gutschrift", 2)]
    # another tenant's partition, named outright: nothing is read, nothing may be deleted
    foreign = acme.partition_of("cc-acme")
    assert default.partition(foreign).keys == ()
    with pytest.raises(ValueError, match="tenant"):
        default.delete([ItemKey(foreign, "CALL")])
    # changes for the same subject id in the default tenant leave acme's alone
    assert default.close_followups("sub_same", except_call="cc-none", now=NOW) == 1
    default.forget_transcript("cc-acme")  # a call the default tenant does not have: nothing happens
    default.set_live_intent("cc-1", "billing")
    assert default.put_new(_call("cc-acme", "sub_default"), NOW) is None  # a new call of its own

    assert [i for i in _items(aws) if i["pk"]["S"].startswith(ACME.prefix)] == before
    assert [f["status"] for f in acme.followups_due(later)] == ["open", "open"]
    assert default.followups_due(later) == []


def test_transcripts_and_idempotency_records_are_per_tenant(aws: dict[str, Any]) -> None:
    bucket = aws["env"][Env.TRANSCRIPTS_BUCKET]
    s3, key_id = aws["clients"].s3, aws["env"][Env.DATA_KEY_ID]
    default = TranscriptStore(s3=s3, bucket=bucket, kms_key_id=key_id)
    acme = TranscriptStore(s3=s3, bucket=bucket, kms_key_id=key_id, scope=ACME)
    assert default.key_for("sub_1", "cc-1") == "transcripts/sub_1/cc-1.sealed"  # v1's key
    pointer = acme.put("sub_1", "cc-1", b"sealed")
    assert pointer["key"] == "tenants/acme-energie/transcripts/sub_1/cc-1.sealed"
    assert acme.get(pointer) == b"sealed"
    # a pointer to another tenant's object is neither read nor deleted by this tenant's store
    for use in (default.get, default.delete_version):
        with pytest.raises(LookupError):
            use(pointer)
    assert acme.get(pointer) == b"sealed"

    assert record_prefix("callguard-ingest", V1) is None  # Powertools' own: v1's record ids
    assert record_prefix("callguard-ingest", ACME) == f"{ACME.prefix}callguard-ingest"
    ddb, table = aws["clients"].dynamodb, aws["env"][Env.IDEMPOTENCY_TABLE]
    for record in ("callguard-ingest.ingest#h1", f"{ACME.prefix}callguard-ingest#h1"):
        ddb.put_item(TableName=table, Item={"id": {"S": record}, "data": {"S": '{"subject_id":"sub_same"}'}})
    assert IdempotencyRecords(dynamodb=ddb, table=table).of_subject("sub_same") == ["callguard-ingest.ingest#h1"]
    records = IdempotencyRecords(dynamodb=ddb, table=table, scope=ACME)
    assert records.of_subject("sub_same") == [f"{ACME.prefix}callguard-ingest#h1"]
    with pytest.raises(ValueError, match="tenant"):
        records.delete(["callguard-ingest.ingest#h1"])
