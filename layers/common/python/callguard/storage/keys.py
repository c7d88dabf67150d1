"""The keys table: one wrapped data key per subject (``subject_id`` → ``wrapped_key``).

A listed tenant's items are keyed ``T#<tenant>#<subject id>`` (:class:`TenantScope`), the default
tenant's by the bare subject id (v1): a store acting for one tenant never reads, overwrites or shreds
another tenant's key, and offboarding finds a tenant's keys by their prefix.

Only :class:`~callguard.security.crypto.SubjectKeyring` unwraps keys; erasure shreds them here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.storage.dynamo import BatchRead, Write, is_condition_failure
from callguard.storage.scope import V1, TenantScope

__all__ = ["KeyTakenError", "SubjectKeysStore", "WrappedKey"]


class KeyTakenError(Exception):
    """The subject has a data key already (another writer stored it first)."""


@dataclass(frozen=True)
class WrappedKey:
    subject_id: str
    wrapped: bytes

    @classmethod
    def of(cls, item: dict[str, Any], scope: TenantScope = V1) -> WrappedKey:
        stored = str(item["subject_id"]["S"])
        subject_id = scope.unscoped(stored)
        if subject_id is None:  # never read by this store's keys: a defect, not a lookup miss
            raise ValueError("a subject key of another tenant")
        return cls(subject_id=subject_id, wrapped=bytes(item["wrapped_key"]["B"]))


class SubjectKeysStore:
    def __init__(self, *, dynamodb: Any, table: str, scope: TenantScope = V1) -> None:
        self._ddb = dynamodb
        self._table = table
        self._scope = scope

    @property
    def scope(self) -> TenantScope:
        return self._scope

    def _key(self, subject_id: str) -> dict[str, Any]:
        """The one place a keys-table key is built, in the store's tenant's keys."""
        return {"subject_id": {"S": self._scope.key(subject_id)}}

    def get(self, subject_id: str) -> WrappedKey | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(subject_id), ConsistentRead=True).get("Item")
        return None if item is None else WrappedKey.of(item, self._scope)

    def prefetch(self, batch: BatchRead, subject_id: str) -> Callable[[], WrappedKey | None]:
        """The subject's wrapped key, read with the other items of ``batch``."""
        found = batch.add(self._table, self._key(subject_id))
        return lambda: None if (item := found()) is None else WrappedKey.of(item, self._scope)

    def exists(self, subject_id: str) -> bool:
        return self.get(subject_id) is not None

    def new_key_write(self, subject_id: str, wrapped: bytes) -> Write:
        """The wrapped key as a transaction entry, stored only if the subject has none (a cancelled
        transaction names this entry when another writer's key won)."""
        return Write(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **self._key(subject_id),
                        "wrapped_key": {"B": wrapped},
                        "created_at": {"S": datetime.now(UTC).isoformat()},
                    },
                    "ConditionExpression": "attribute_not_exists(subject_id)",
                }
            }
        )

    def put_new(self, subject_id: str, wrapped: bytes) -> None:
        """Store the subject's wrapped key; :class:`KeyTakenError` when it has one already."""
        try:
            self.new_key_write(subject_id, wrapped).run(self._ddb)
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            raise KeyTakenError("the subject has a data key already") from None

    def shred(self, subject_id: str) -> bool:
        """Delete the subject's wrapped key (crypto-shredding). True when there was one."""
        response = self._ddb.delete_item(TableName=self._table, Key=self._key(subject_id), ReturnValues="ALL_OLD")
        return "Attributes" in response
