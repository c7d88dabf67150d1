"""Signed anchors against an insider: every way a writer could rewrite history makes verify fail.

The writer here holds what the writing roles hold (PutItem/DeleteItem on the audit table) plus
what an administrator holds on the anchors bucket (PutObject): it deletes the latest entries,
deletes a whole day, rewrites an entry and recomputes every hash after it, reorders entries,
and replays old anchors. The anchors bucket and the anchor key are the synthesized ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.names import Env
from callguard.retention.policy import RetentionPolicy
from callguard.security.audit import GENESIS, AuditLog, chain_digest
from callguard.security.audit_anchor import AuditAnchors, AuditChainBrokenError, canonical_json, checkpoint_key, day_key
from callguard.wiring import build_audit_anchors, build_retention_purge

pytestmark = pytest.mark.functional

DAY1, DAY2, TODAY = "2026-11-25", "2026-11-26", "2026-11-27"


def _at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


class Insider:
    """Direct table and bucket access, as a writer role (and an administrator for S3) has it."""

    def __init__(self, aws: dict[str, Any]) -> None:
        self.ddb = aws["session"].client("dynamodb")
        self.s3 = aws["session"].client("s3")
        self.table = aws["env"][Env.AUDIT_TABLE]
        self.bucket = aws["env"][Env.AUDIT_ANCHORS_BUCKET]

    def items(self, day: str) -> list[dict[str, Any]]:
        return list(
            self.ddb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"AUDIT#{day}"}},
                ConsistentRead=True,
            )["Items"]
        )

    def delete(self, day: str, sequence: int) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": f"AUDIT#{day}"}, "sk": {"N": str(sequence)}})

    def rewrite(self, day: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        """Replace the day's entries by ``change(entries)``, renumbered, every hash recomputed."""
        items = self.items(day)
        entries = change([json.loads(i["entry"]["S"]) for i in items])
        for item in items:
            self.delete(day, int(item["sk"]["N"]))
        previous = GENESIS
        for n, entry in enumerate(entries, start=1):
            template = items[min(n, len(items)) - 1]
            digest = chain_digest(previous, entry)
            self.ddb.put_item(
                TableName=self.table,
                Item={**template, "sk": {"N": str(n)}, "entry": {"S": json.dumps(entry, sort_keys=True)},
                      "prev_hash": {"S": previous}, "hash": {"S": digest}},
            )  # fmt: skip
            previous = digest

    def body(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)


@pytest.fixture
def world(aws: dict[str, Any]) -> tuple[AuditAnchors, Insider, list[datetime]]:
    """Entries on two closed days and today; the anchoring ran just after midnight and again at noon."""
    now = [_at(DAY1)]
    log = AuditLog(
        dynamodb=aws["session"].client("dynamodb"),
        table=aws["env"][Env.AUDIT_TABLE],
        retention=RetentionPolicy.defaults(),
        clock=lambda: now[0],
    )
    for day, count in ((DAY1, 3), (DAY2, 4), (TODAY, 5)):
        for n in range(count):
            now[0] = _at(day, 9, n)
            log.append(actor=f"user:agent-{n}", action="read_call", resource=f"call/c-{day}-{n}")
    anchors = build_audit_anchors(aws["clients"])
    anchors.clock = anchors.log.clock = lambda: now[0]
    now[0] = _at(TODAY, 12)
    report = anchors.anchor()
    assert report.days[-2:] == [DAY1, DAY2]
    assert report.checkpoint == {"day": TODAY, "entries": 5}
    return anchors, Insider(aws), now


def _fails(anchors: AuditAnchors, day: str, words: str) -> None:
    verdict = anchors.verify(day)
    assert not verdict.ok, day
    assert any(words in p for p in verdict.problems), verdict.problems


def test_a_clean_log_verifies_day_by_day_with_every_entry_anchored(world: Any) -> None:
    anchors, _, _ = world
    for day, count in ((DAY1, 3), (DAY2, 4), (TODAY, 5)):
        verdict = anchors.verify(day)
        assert verdict.ok, verdict.problems
        assert (verdict.entries, verdict.anchored_entries) == (count, count)


def test_anchoring_again_signs_nothing_new_and_the_next_day_links_to_the_last(world: Any) -> None:
    anchors, insider, now = world
    assert anchors.anchor().to_dict() == {"days_anchored": [], "checkpoint": None}
    now[0] = _at("2026-11-28", 0, 10)
    assert anchors.anchor().days == [TODAY]
    signed = json.loads(insider.body(day_key(TODAY)))["anchor"]
    assert (signed["entries"], signed["previous_day"]) == (5, DAY2)
    assert signed["previous_head"] == insider.items(DAY2)[-1]["hash"]["S"]
    assert anchors.verify(TODAY).ok


def test_deleting_the_last_entry_of_a_closed_day_fails(world: Any) -> None:
    anchors, insider, _ = world
    insider.delete(DAY2, 4)
    assert anchors.log.verify(DAY2) is None  # the bare chain cannot see it
    _fails(anchors, DAY2, "counts 4 entries, the log has 3")


def test_deleting_the_last_entry_of_today_fails_against_the_checkpoint(world: Any) -> None:
    anchors, insider, _ = world
    insider.delete(TODAY, 5)
    assert anchors.log.verify(TODAY) is None
    _fails(anchors, TODAY, "entries were deleted")


def test_deleting_a_whole_day_fails_for_that_day_and_the_next(world: Any) -> None:
    anchors, insider, _ = world
    for item in insider.items(DAY1):
        insider.delete(DAY1, int(item["sk"]["N"]))
    _fails(anchors, DAY1, "counts 3 entries, the log has 0")
    _fails(anchors, DAY2, f"entries of the day before ({DAY1}) no longer match")


def test_a_rewrite_with_recomputed_hashes_fails(world: Any) -> None:
    anchors, insider, _ = world

    def blame_someone_else(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [entries[0], {**entries[1], "actor": "user:somebody-else"}, *entries[2:]]

    insider.rewrite(DAY2, blame_someone_else)
    assert anchors.log.verify(DAY2) is None  # the chain itself is intact again
    _fails(anchors, DAY2, "does not match its signed anchor")
    insider.rewrite(TODAY, blame_someone_else)
    _fails(anchors, TODAY, "does not match its signed checkpoint")


def test_reordering_with_recomputed_hashes_fails(world: Any) -> None:
    anchors, insider, _ = world
    insider.rewrite(DAY2, lambda entries: [entries[1], entries[0], *entries[2:]])
    assert anchors.log.verify(DAY2) is None
    _fails(anchors, DAY2, "does not match its signed anchor")


def test_replaying_an_older_days_anchor_fails(world: Any) -> None:
    anchors, insider, _ = world
    for item in insider.items(DAY2):  # make DAY2 look like DAY1 ...
        insider.delete(DAY2, int(item["sk"]["N"]))
    insider.put(day_key(DAY2), insider.body(day_key(DAY1)))  # ... and put DAY1's signed anchor over its own
    _fails(anchors, DAY2, "an anchor of something else")


def test_replaying_an_early_checkpoint_over_a_truncated_day_fails(world: Any) -> None:
    anchors, insider, now = world
    now[0] = _at(TODAY, 12, 30)
    early = insider.body(checkpoint_key(TODAY, 5))
    anchors.log.append(actor="user:agent-9", action="read_call", resource="call/c-late")
    assert anchors.anchor().checkpoint == {"day": TODAY, "entries": 6}
    insider.delete(TODAY, 6)
    insider.put(checkpoint_key(TODAY, 6), early)  # the 5-entry checkpoint as the latest
    _fails(anchors, TODAY, "a replayed anchor")


def test_an_anchor_signed_by_another_key_fails(world: Any, aws: dict[str, Any]) -> None:
    anchors, insider, _ = world
    kms = aws["session"].client("kms")
    forger = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    insider.rewrite(DAY2, lambda entries: entries[:2])
    signed = json.loads(insider.body(day_key(DAY2)))
    signed["anchor"] |= {"entries": 2, "head": insider.items(DAY2)[-1]["hash"]["S"]}
    digest = hashlib.sha256(canonical_json(signed["anchor"])).digest()
    signature = kms.sign(KeyId=forger, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    signed["signature"] = base64.b64encode(signature["Signature"]).decode()
    insider.put(day_key(DAY2), json.dumps(signed).encode())
    _fails(anchors, DAY2, "does not carry a valid signature")


def test_the_anchoring_refuses_to_sign_a_broken_chain(world: Any) -> None:
    anchors, insider, now = world
    insider.delete(TODAY, 2)
    now[0] = _at("2026-11-28", 0, 10)
    with pytest.raises(AuditChainBrokenError, match="broken at entry 2: missing entry"):
        anchors.anchor()
    assert not anchors.is_anchored(TODAY)


def test_a_closed_day_without_an_anchor_does_not_verify(aws: dict[str, Any]) -> None:
    anchors = build_audit_anchors(aws["clients"])
    verdict = anchors.verify("2020-01-01")
    assert not verdict.ok
    assert "no signed day anchor" in verdict.problems[0]


def test_the_purge_removes_expired_audit_days_only_once_they_are_anchored(aws: dict[str, Any]) -> None:
    now = [_at(DAY1)]
    log = AuditLog(
        aws["session"].client("dynamodb"), aws["env"][Env.AUDIT_TABLE], RetentionPolicy.defaults(), lambda: now[0]
    )
    for day in (DAY1, DAY2):
        now[0] = _at(day, 8)
        log.append(actor="user:a", action="read_call", resource="call/c-1")
    anchors = build_audit_anchors(aws["clients"])
    anchors.clock = lambda: _at(DAY2, 12)  # DAY1 closed and anchored, DAY2 still open
    assert anchors.anchor().days[-1] == DAY1
    purge = build_retention_purge(aws["clients"])
    report = purge.run(_at(DAY2) + timedelta(days=6 * 365 + 10))
    assert (report.categories["audit"].deleted, report.audit_unanchored) == (1, 1)
    insider = Insider(aws)
    assert insider.items(DAY1) == []
    assert len(insider.items(DAY2)) == 1
