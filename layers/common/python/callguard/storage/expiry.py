"""The expiry index: every item that expires carries ``expires_at``, the index key
``<category>#<shard>`` and a DynamoDB TTL backstop a week later; the retention purge reads the
index (``by_expiry``) of each table that holds expiring data, never the tables themselves.

This module owns those attributes, the index's key and its reads; the purge report is kept
with the privacy records (``PURGE#<day>``), written here too.

Each tenant has expiry partitions of its own (:func:`expiry_key` through its
:class:`~callguard.storage.scope.TenantScope`): an :class:`ExpiryIndex` of one tenant queries only
that tenant's partitions and keeps only items whose key the tenant owns, so one tenant's purge
never reads, let alone deletes, another's data, whatever that tenant's retention periods are. The
default tenant keeps v1's partitions (``<category>#<shard>``) and v1's report key (``PURGE#<day>``).
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
from callguard.storage.dynamo import ItemKey, delete_keys, from_item, is_condition_failure, partition_items
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


def _unprefixed(scope: TenantScope, value: str | None) -> str | None:
    """An index attribute in the form the tenant's services use: a store may prefix a value that is
    also an index key (a subject id of the by-subject index) with the tenant's scope."""
    if value is None or scope.is_v1 or not value.startswith(scope.prefix):
        return value
    return value[len(scope.prefix) :]


@dataclass(frozen=True)
class ExpiredItem:
    """An index entry whose ``expires_at`` has passed: the item's key (as stored, to delete it by) and
    the attributes the index projects (``subject_id``, ``object_bucket``, ``object_key``,
    ``request_id``); ``partition`` is the item's partition key in v1's form (the tenant's prefix off)."""

    key: ItemKey
    expires_at: int
    subject_id: str | None = None
    object_bucket: str | None = None
    object_key: str | None = None
    request_id: str | None = None
    partition: str = ""

    @property
    def audit_day(self) -> str:
        """The day (yyyy-mm-dd) of an audit entry, from its partition ``AUDIT#<day>``."""
        return (self.partition or self.key.pk).removeprefix("AUDIT#")

    @classmethod
    def of(cls, item: dict[str, Any], scope: TenantScope = V1) -> ExpiredItem:
        data = from_item(item)
        key = ItemKey.of(item)
        return cls(
            key=key,
            expires_at=int(data["expires_at"]),
            subject_id=_unprefixed(scope, data.get("subject_id")),
            object_bucket=data.get("object_bucket"),
            object_key=data.get("object_key"),
            request_id=_unprefixed(scope, data.get("request_id")),
            partition=scope.unscoped(key.pk) or key.pk,
        )


@dataclass(frozen=True)
class ExpiredPage:
    items: list[ExpiredItem]
    #: items the index read (its cost)
    scanned: int
    #: entries of this tenant's partitions whose item key another tenant owns: never handed out
    #: (an item written with the wrong tenant's expiry key is not this tenant's to delete)
    foreign: int = 0


class ExpiryIndex:
    """Reads of the ``by_expiry`` index of any table, and the changes the purge makes there, for one
    tenant (``scope``): only its expiry partitions are read, only items it owns are handed out."""

    def __init__(self, *, dynamodb: Any, scope: TenantScope = V1) -> None:
        self._ddb = dynamodb
        self._scope = scope

    def expired(self, table: str, category: DataCategory, cutoff: int, page_size: int) -> Iterator[ExpiredPage]:
        """The pages (of at most ``page_size`` entries) of ``category`` in ``table`` that expire by
        ``cutoff`` (epoch seconds), shard by shard, of this tenant's partitions only; each page is read
        when the caller asks for it."""
        scope = self._scope
        for shard in range(EXPIRY_SHARDS):
            start: dict[str, Any] | None = None
            partition = expiry_key(category, shard, scope)
            while True:
                page = self._ddb.query(
                    TableName=table,
                    IndexName=GSI_BY_EXPIRY,
                    KeyConditionExpression="expiry_key = :k AND expires_at <= :t",
                    ExpressionAttributeValues={":k": {"S": partition}, ":t": {"N": str(cutoff)}},
                    Limit=page_size,
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                mine = [i for i in page["Items"] if scope.owns(str(i["pk"]["S"]))]
                yield ExpiredPage(
                    [ExpiredItem.of(i, scope) for i in mine], int(page["ScannedCount"]), len(page["Items"]) - len(mine)
                )
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
    """The purge's reports (counts only), kept with the privacy records for the accountability period:
    one per run and tenant, in the tenant's partition (``PURGE#<day>`` for the default tenant, as in
    v1; ``T#<tenant>#PURGE#<day>`` for a listed one), expiring with its privacy records."""

    def __init__(self, *, dynamodb: Any, table: str, retention: RetentionPolicy, scope: TenantScope = V1) -> None:
        self._ddb = dynamodb
        self._table = table
        self._retention = retention
        self._scope = scope

    def key(self, now: datetime, run_id: str) -> ItemKey:
        return ItemKey(self._scope.key(f"PURGE#{now.date().isoformat()}"), f"{now.isoformat()}#{run_id}")

    def put(self, run_id: str, report: dict[str, Any], now: datetime) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **self.key(now, run_id).wire(),
                "report": {"S": json.dumps(report, sort_keys=True, separators=(",", ":"))},
                **expiry_attributes(self._retention, DataCategory.PRIVACY_REQUESTS, now, self._scope),
            },
        )

    def of_day(self, day: str) -> list[dict[str, Any]]:
        """This tenant's reports of ``day`` (yyyy-mm-dd), oldest first."""
        items = partition_items(self._ddb, self._table, self._scope.key(f"PURGE#{day}"))
        return [json.loads(str(from_item(i)["report"])) for i in items]
