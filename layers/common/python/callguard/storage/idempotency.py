"""Powertools' idempotency table, as erasure sees it: records hold the response, whose subject id
identifies them; they live for the idempotency TTL (an hour)."""

from __future__ import annotations

from typing import Any

from callguard.storage.dynamo import all_items, delete_keys

__all__ = ["IdempotencyRecords"]


class IdempotencyRecords:
    def __init__(self, *, dynamodb: Any, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    def of_subject(self, subject_id: str) -> list[str]:
        """The ids of the records whose stored response names the subject. A filtered scan of a table
        that small is the honest way to find them."""
        items = all_items(
            self._ddb,
            "scan",
            TableName=self._table,
            FilterExpression="contains(#d, :sid)",
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":sid": {"S": subject_id}},
        )
        return [str(i["id"]["S"]) for i in items]

    def delete(self, record_ids: list[str]) -> int:
        return delete_keys(self._ddb, self._table, [{"id": {"S": r}} for r in record_ids])
