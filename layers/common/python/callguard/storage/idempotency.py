"""Powertools' idempotency table: the ids of ingest's records (per tenant), and the records as
erasure sees them: they hold the response, whose subject id identifies them; they live for the
idempotency TTL (an hour)."""

from __future__ import annotations

from typing import Any

from callguard.storage.dynamo import all_items, delete_keys
from callguard.storage.scope import V1, TenantScope

__all__ = ["IdempotencyRecords", "record_prefix"]


def record_prefix(function_name: str, scope: TenantScope = V1) -> str | None:
    """Powertools' ``key_prefix`` of the records ``function_name`` keeps for ``scope``'s tenant:
    ``None`` for the default tenant (Powertools' own, v1's record ids), ``T#<tenant>#<function>`` for a
    listed one, so another tenant posting the same call id and body never meets this tenant's record
    (its stored answer), and the tenant's records begin with its prefix like all its other data."""
    return None if scope.is_v1 else scope.key(function_name)


class IdempotencyRecords:
    """The records of one tenant (``scope``)."""

    def __init__(self, *, dynamodb: Any, table: str, scope: TenantScope = V1) -> None:
        self._ddb = dynamodb
        self._table = table
        self._scope = scope

    def of_subject(self, subject_id: str) -> list[str]:
        """The ids of this tenant's records whose stored response names the subject. A filtered scan
        of a table that small is the honest way to find them."""
        items = all_items(
            self._ddb,
            "scan",
            TableName=self._table,
            FilterExpression="contains(#d, :sid)",
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":sid": {"S": subject_id}},
        )
        return [record for record in (str(i["id"]["S"]) for i in items) if self._scope.owns(record)]

    def delete(self, record_ids: list[str]) -> int:
        if not all(self._scope.owns(record) for record in record_ids):
            raise ValueError("Only this tenant's records are deleted.")
        return delete_keys(self._ddb, self._table, [{"id": {"S": r}} for r in record_ids])
