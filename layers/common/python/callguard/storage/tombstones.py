"""Erasure tombstones in the privacy table: ``TOMBSTONE#<subject id>`` and ``TOMBSTONE#call:<call id>``
(with the subject the call belonged to), sort key ``TOMBSTONE``.

Without personal data (a pseudonymous id, the request id and the instant), written by the erasure
workflow and read after a restore from backup, to erase again what the backup brought back
(docs/runbooks). A listed tenant's tombstones are in its partitions (``T#<tenant>#TOMBSTONE#…``,
:class:`TenantScope`); each tenant reads only its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.dynamo import all_items
from callguard.storage.expiry import expiry_attributes
from callguard.storage.scope import V1, TenantScope
from callguard.storage.wire import from_item, partition, partition_name, to_attribute, to_item

__all__ = ["Tombstones", "read_tombstones"]

TOMBSTONE = "TOMBSTONE"
CALL = "call:"


def _partition(scope: TenantScope, target: str) -> str:
    """A tombstone's partition key, in ``scope``'s keys (the one place it is built)."""
    return scope.key(partition(TOMBSTONE, target))


def read_tombstones(dynamodb: Any, privacy_table: str, scope: TenantScope = V1) -> tuple[list[str], dict[str, str]]:
    """The erased subjects and single calls (call id → owning subject) ``scope``'s tombstones name."""
    items = all_items(
        dynamodb,
        "scan",
        TableName=privacy_table,
        FilterExpression="begins_with(pk, :t)",
        ExpressionAttributeValues={":t": to_attribute(_partition(scope, ""))},
    )
    subjects: list[str] = []
    calls: dict[str, str] = {}
    for item in items:
        data = from_item(item)
        stored = scope.unscoped(data["pk"])
        if stored is None:
            continue  # another tenant's (never: the filter is this tenant's prefix)
        target = partition_name(TOMBSTONE, stored)
        if target.startswith(CALL):
            calls[target.removeprefix(CALL)] = data["subject_id"]
        else:
            subjects.append(target)
    return sorted(subjects), calls


@dataclass
class Tombstones:
    dynamodb: Any
    table: str
    retention: RetentionPolicy
    scope: TenantScope = V1

    def put_subject(self, subject_id: str, request_id: str, now: datetime) -> None:
        """A whole history was erased."""
        self._put(subject_id, request_id, now, None)

    def put_call(self, call_id: str, owner: str | None, request_id: str, now: datetime) -> None:
        """A single call of ``owner``'s history was erased."""
        self._put(f"{CALL}{call_id}", request_id, now, owner)

    def _put(self, target: str, request_id: str, now: datetime, subject_id: str | None) -> None:
        values = {
            "pk": _partition(self.scope, target),
            "sk": TOMBSTONE,
            "request_id": request_id,
            "erased_at": now.isoformat(),
            "subject_id": subject_id or None,
        }
        item = {**to_item(values), **expiry_attributes(self.retention, DataCategory.PRIVACY_REQUESTS, now, self.scope)}
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def erased(self) -> tuple[list[str], dict[str, str]]:
        """The erased subjects and single calls (see :func:`read_tombstones`)."""
        return read_tombstones(self.dynamodb, self.table, self.scope)
