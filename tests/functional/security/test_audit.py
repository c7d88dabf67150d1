"""The hash-chained audit log: appends chain, verification pinpoints tampering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from callguard.names import Env
from callguard.retention.policy import RetentionPolicy
from callguard.security.audit import AuditLog

pytestmark = pytest.mark.functional

DAY = "2026-11-27"


@pytest.fixture
def audit(aws: dict[str, Any]) -> AuditLog:
    log = AuditLog(
        dynamodb=aws["session"].client("dynamodb"),
        table=aws["env"][Env.AUDIT_TABLE],
        retention=RetentionPolicy.defaults(),
        clock=lambda: datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
    )
    for n in range(1, 6):
        assert log.append(actor="user:a", action="read_call", resource=f"call/c-{n}") == n
    return log


def _item(aws: dict[str, Any], sequence: int) -> dict[str, Any]:
    ddb = aws["session"].client("dynamodb")
    key = {"pk": {"S": f"AUDIT#{DAY}"}, "sk": {"N": str(sequence)}}
    return dict(ddb.get_item(TableName=aws["env"][Env.AUDIT_TABLE], Key=key)["Item"])


def _put(aws: dict[str, Any], item: dict[str, Any]) -> None:
    aws["session"].client("dynamodb").put_item(TableName=aws["env"][Env.AUDIT_TABLE], Item=item)


def test_an_untouched_chain_verifies(audit: AuditLog) -> None:
    assert audit.verify(DAY) is None


def test_an_altered_entry_is_pinpointed(audit: AuditLog, aws: dict[str, Any]) -> None:
    item = _item(aws, 3)
    entry = json.loads(item["entry"]["S"])
    entry["resource"] = "call/someone-else"
    item["entry"] = {"S": json.dumps(entry, sort_keys=True)}
    _put(aws, item)
    broken = audit.verify(DAY)
    assert broken is not None
    assert (broken.sequence, broken.problem) == (3, "entry altered")


def test_a_deleted_entry_is_pinpointed(audit: AuditLog, aws: dict[str, Any]) -> None:
    aws["session"].client("dynamodb").delete_item(
        TableName=aws["env"][Env.AUDIT_TABLE], Key={"pk": {"S": f"AUDIT#{DAY}"}, "sk": {"N": "2"}}
    )
    broken = audit.verify(DAY)
    assert broken is not None
    assert (broken.sequence, broken.problem) == (2, "missing entry")


def test_reordered_entries_are_pinpointed(audit: AuditLog, aws: dict[str, Any]) -> None:
    second, fourth = _item(aws, 2), _item(aws, 4)
    second["sk"], fourth["sk"] = {"N": "4"}, {"N": "2"}
    _put(aws, second)
    _put(aws, fourth)
    broken = audit.verify(DAY)
    assert broken is not None
    assert broken.sequence == 2
    assert broken.problem == "previous hash does not match"


def test_a_rewritten_tail_with_recomputed_hash_still_breaks_at_the_next_link(
    audit: AuditLog, aws: dict[str, Any]
) -> None:
    from callguard.security.audit import chain_digest

    item = _item(aws, 3)
    entry = json.loads(item["entry"]["S"]) | {"actor": "user:b"}
    item["entry"] = {"S": json.dumps(entry, sort_keys=True)}
    item["hash"] = {"S": chain_digest(item["prev_hash"]["S"], entry)}  # a forger recomputes this entry's hash
    _put(aws, item)
    broken = audit.verify(DAY)
    assert broken is not None
    assert (broken.sequence, broken.problem) == (4, "previous hash does not match")
