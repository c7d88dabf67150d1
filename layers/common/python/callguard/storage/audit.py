"""The audit log's items: one partition per UTC day, ``AUDIT#<yyyy-mm-dd>``, sequence numbers as sort keys.

Each item holds the entry (canonical JSON: who, what, which resource, when — no content), the
previous entry's hash and its own (:mod:`callguard.security.audit` chains them). An append is
conditional on its sequence number being free, so two writers never take the same place.

Each tenant has a chain of its own: the default tenant's days are v1's ``AUDIT#<day>``, a listed
tenant's ``T#<tenant>#AUDIT#<day>`` (its :class:`~callguard.storage.scope.TenantScope`), so each
controller's log is verified, anchored, counted and kept for its own retention period apart from
every other's (README "Tenants").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.names import EXPIRY_SHARDS, GSI_BY_EXPIRY
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.dynamo import partition_items
from callguard.storage.expiry import expiry_attributes, expiry_key
from callguard.storage.scope import V1, TenantScope
from callguard.storage.wire import from_item, partition, partition_name, to_attribute, to_item

__all__ = ["AuditEntries", "AuditRecord", "day_of_partition", "day_partition"]

AUDIT = "AUDIT"


def day_partition(day: str) -> str:
    """The partition key of ``day`` (yyyy-mm-dd)."""
    return partition(AUDIT, day)


def day_of_partition(partition_key: str) -> str:
    """The day (yyyy-mm-dd) of an audit partition key."""
    return partition_name(AUDIT, partition_key)


@dataclass(frozen=True)
class AuditRecord:
    """One stored entry of the chain."""

    day: str
    sequence: int
    entry: dict[str, Any]
    prev_hash: str
    hash: str


def _item_to_record(item: Mapping[str, Any], scope: TenantScope) -> AuditRecord:
    data = from_item(item)
    return AuditRecord(
        day=day_of_partition(scope.unscoped(data["pk"]) or data["pk"]),
        sequence=data["sk"],
        entry=json.loads(data["entry"]),
        prev_hash=data["prev_hash"],
        hash=data["hash"],
    )


@dataclass
class AuditEntries:
    dynamodb: Any
    table: str
    retention: RetentionPolicy
    #: whose chain: the default tenant's (v1's partitions) unless told otherwise
    scope: TenantScope = field(default=V1)

    def partition(self, day: str) -> str:
        """The partition key of this tenant's ``day`` (the one place it is built)."""
        return self.scope.key(day_partition(day))

    def put(self, day: str, sequence: int, entry: dict[str, Any], prev_hash: str, digest: str, now: datetime) -> bool:
        """Write the entry at ``sequence`` of ``day``: ``False`` when another writer took the place first."""
        values = {
            "pk": self.partition(day),
            "sk": sequence,
            "entry": json.dumps(entry, sort_keys=True),
            "prev_hash": prev_hash,
            "hash": digest,
        }
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={**to_item(values), **expiry_attributes(self.retention, DataCategory.AUDIT, now, self.scope)},
                ConditionExpression="attribute_not_exists(sk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def head(self, day: str) -> AuditRecord | None:
        """The latest entry of ``day`` (read consistently), ``None`` before the first."""
        items = self.dynamodb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": to_attribute(self.partition(day))},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        return _item_to_record(items[0], self.scope) if items else None

    def day(self, day: str) -> list[AuditRecord]:
        """Every entry of ``day`` in sequence order, read consistently."""
        items = partition_items(self.dynamodb, self.table, self.partition(day))
        return [_item_to_record(item, self.scope) for item in items]

    def earliest_expiry(self) -> int | None:
        """The earliest ``expires_at`` of any entry of this tenant (from its expiry partitions: one item
        per shard)."""
        firsts: list[int] = []
        for shard in range(EXPIRY_SHARDS):
            items = self.dynamodb.query(
                TableName=self.table,
                IndexName=GSI_BY_EXPIRY,
                KeyConditionExpression="expiry_key = :k",
                ExpressionAttributeValues={":k": to_attribute(expiry_key(DataCategory.AUDIT, shard, self.scope))},
                ScanIndexForward=True,
                Limit=1,
            )["Items"]
            firsts += [from_item(i)["expires_at"] for i in items]
        return min(firsts) if firsts else None
