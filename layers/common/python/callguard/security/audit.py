"""Append-only, hash-chained audit log of reads of personal data and privacy actions.

Entries live in one partition per UTC day (``AUDIT#<yyyy-mm-dd>``) with a sequence
number as sort key. Each entry stores the SHA-256 of its canonical content together
with the previous entry's hash, so altering, deleting or reordering an entry breaks
the chain from that point (:func:`verify`). Appends are race-safe: the next sequence
number is written conditionally and retried on conflict. No content is logged —
who, what, which resource, when.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.repository import expiry_attributes, partition_items

__all__ = ["GENESIS", "AuditLog", "ChainBreak", "chain_digest"]

GENESIS = "0" * 64


def chain_digest(previous: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{previous}|{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    partition: str
    sequence: int
    problem: str


@dataclass
class AuditLog:
    dynamodb: Any
    table: str
    retention: RetentionPolicy
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def append(self, *, actor: str, action: str, resource: str, attempts: int = 8) -> int:
        now = self.clock()
        partition = f"AUDIT#{now.date().isoformat()}"
        entry = {"actor": actor, "action": action, "resource": resource, "at": now.isoformat()}
        for _ in range(attempts):
            head = self._head(partition)
            sequence = head[0] + 1 if head else 1
            previous = head[1] if head else GENESIS
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        "pk": {"S": partition},
                        "sk": {"N": str(sequence)},
                        "entry": {"S": json.dumps(entry, sort_keys=True)},
                        "prev_hash": {"S": previous},
                        "hash": {"S": chain_digest(previous, entry)},
                        **expiry_attributes(self.retention, DataCategory.AUDIT, now),
                    },
                    ConditionExpression="attribute_not_exists(sk)",
                )
                return sequence
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError("audit log append lost too many races")

    def _head(self, partition: str) -> tuple[int, str] | None:
        items = self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": partition}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        return (int(items[0]["sk"]["N"]), items[0]["hash"]["S"]) if items else None

    def entries(self, partition: str) -> list[dict[str, Any]]:
        return partition_items(self.dynamodb, self.table, partition)

    def verify(self, day: str) -> ChainBreak | None:
        """The first break in the chain of ``day`` (yyyy-mm-dd), or None when intact."""
        partition = f"AUDIT#{day}"
        previous, expected = GENESIS, 1
        for item in self.entries(partition):
            sequence = int(item["sk"]["N"])
            if sequence != expected:
                return ChainBreak(partition, expected, "missing entry")
            if item["prev_hash"]["S"] != previous:
                return ChainBreak(partition, sequence, "previous hash does not match")
            if chain_digest(previous, json.loads(item["entry"]["S"])) != item["hash"]["S"]:
                return ChainBreak(partition, sequence, "entry altered")
            previous, expected = item["hash"]["S"], expected + 1
        return None
