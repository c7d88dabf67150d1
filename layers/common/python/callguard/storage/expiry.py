"""The expiry index: every item that expires carries ``expires_at``, the index key
``<category>#<shard>`` and a DynamoDB TTL backstop a week later; the retention purge reads the
index (``by_expiry``) of each table that holds expiring data, never the tables themselves.

This module owns those attributes, the index's key and its reads; the purge report is kept
with the privacy records (``PURGE#<day>``), written here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.names import ATTR_TTL, EXPIRY_SHARDS, GSI_BY_EXPIRY, TTL_GRACE_SECONDS
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.dynamo import ItemKey, delete_keys, from_item, is_condition_failure
from callguard.storage.scope import V1, TenantScope

__all__ = ["ExpiredItem", "ExpiryIndex", "PurgeReports", "expiry_attributes", "expiry_key"]


def expiry_key(category: DataCategory, shard: int, scope: TenantScope = V1) -> str:
    """The expiry index's partition key of one shard of a category, in ``scope``'s keys (the one
    place it is built): ``<category>#<shard>`` for the default tenant, ``T#<tenant>#…`` for a listed one."""
    return scope.key(f"{category}#{shard}")


def expiry_attributes(
    policy: RetentionPolicy, category: DataCategory, start: datetime, scope: TenantScope = V1
) -> dict[str, Any]:
    """``expires_at``, the expiry-index key (:func:`expiry_key`) and the TTL backstop, as item
    attributes (wire format, for the stores to put on their items).

    The shard comes from the write instant's microseconds, so a burst of writes of one
    category spreads over :data:`EXPIRY_SHARDS` index partitions.
    """
    shard = int(start.timestamp() * 1_000_000) % EXPIRY_SHARDS
    expires_at = policy.expires_at(category, start)
    return {
        "expires_at": {"N": str(expires_at)},
        ATTR_TTL: {"N": str(expires_at + TTL_GRACE_SECONDS)},
        "expiry_key": {"S": expiry_key(category, shard, scope)},
        "category": {"S": str(category)},
    }


@dataclass(frozen=True)
class ExpiredItem:
    """An index entry whose ``expires_at`` has passed: the item's key and the attributes the index
    projects (``subject_id``, ``object_bucket``, ``object_key``, ``request_id``)."""

    key: ItemKey
    expires_at: int
    subject_id: str | None = None
    object_bucket: str | None = None
    object_key: str | None = None
    request_id: str | None = None

    @property
    def audit_day(self) -> str:
        """The day (yyyy-mm-dd) of an audit entry, from its partition ``AUDIT#<day>``."""
        return self.key.pk.removeprefix("AUDIT#")

    @classmethod
    def of(cls, item: dict[str, Any]) -> ExpiredItem:
        data = from_item(item)
        return cls(
            key=ItemKey.of(item),
            expires_at=int(data["expires_at"]),
            subject_id=data.get("subject_id"),
            object_bucket=data.get("object_bucket"),
            object_key=data.get("object_key"),
            request_id=data.get("request_id"),
        )


@dataclass(frozen=True)
class ExpiredPage:
    items: list[ExpiredItem]
    #: items the index read (its cost)
    scanned: int


class ExpiryIndex:
    """Reads of the ``by_expiry`` index of any table, and the changes the purge makes there."""

    def __init__(self, *, dynamodb: Any) -> None:
        self._ddb = dynamodb

    def expired(self, table: str, category: DataCategory, cutoff: int, page_size: int) -> Iterator[ExpiredPage]:
        """The pages (of at most ``page_size`` entries) of ``category`` in ``table`` that expire by
        ``cutoff`` (epoch seconds), shard by shard; each page is read when the caller asks for it."""
        for shard in range(EXPIRY_SHARDS):
            start: dict[str, Any] | None = None
            while True:
                page = self._ddb.query(
                    TableName=table,
                    IndexName=GSI_BY_EXPIRY,
                    KeyConditionExpression="expiry_key = :k AND expires_at <= :t",
                    ExpressionAttributeValues={":k": {"S": expiry_key(category, shard)}, ":t": {"N": str(cutoff)}},
                    Limit=page_size,
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                yield ExpiredPage([ExpiredItem.of(i) for i in page["Items"]], int(page["ScannedCount"]))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break

    def push_backstop(self, table: str, keys: list[ItemKey], later: int) -> None:
        """Move the TTL backstop of held items to ``later`` (epoch seconds); items gone meanwhile are
        left alone."""
        for key in keys:
            try:
                self._ddb.update_item(
                    TableName=table,
                    Key=key.wire(),
                    UpdateExpression="SET #ttl = :later",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames={"#ttl": ATTR_TTL},
                    ExpressionAttributeValues={":later": {"N": str(later)}},
                )
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise

    def delete(self, table: str, keys: list[ItemKey]) -> int:
        """Delete expired items by key (batched, unprocessed items retried)."""
        return delete_keys(self._ddb, table, [k.wire() for k in keys])


class PurgeReports:
    """The purge's reports (counts only), kept with the privacy records for the accountability period."""

    def __init__(self, *, dynamodb: Any, table: str, retention: RetentionPolicy) -> None:
        self._ddb = dynamodb
        self._table = table
        self._retention = retention

    @staticmethod
    def key(now: datetime, run_id: str) -> ItemKey:
        return ItemKey(f"PURGE#{now.date().isoformat()}", f"{now.isoformat()}#{run_id}")

    def put(self, run_id: str, report: dict[str, Any], now: datetime) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **self.key(now, run_id).wire(),
                "report": {"S": json.dumps(report, sort_keys=True, separators=(",", ":"))},
                **expiry_attributes(self._retention, DataCategory.PRIVACY_REQUESTS, now),
            },
        )
