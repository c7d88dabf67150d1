"""Erasure tombstones in the privacy table (``TOMBSTONE#<subject>`` / ``TOMBSTONE#call:<id>``):
read after a restore from backup, to erase again what the backup brought back. Written by the
privacy requests' store; no personal data in them."""

from __future__ import annotations

from typing import Any

from callguard.storage.dynamo import all_items

__all__ = ["read_tombstones"]

_TOMBSTONE = "TOMBSTONE#"


def read_tombstones(dynamodb: Any, privacy_table: str) -> tuple[list[str], dict[str, str]]:
    """The erased subjects and single calls (call id → owning subject) the tombstones name."""
    items = all_items(
        dynamodb,
        "scan",
        TableName=privacy_table,
        FilterExpression="begins_with(pk, :t)",
        ExpressionAttributeValues={":t": {"S": _TOMBSTONE}},
    )
    subjects, calls = [], {}
    for item in items:
        key = item["pk"]["S"].removeprefix(_TOMBSTONE)
        if key.startswith("call:"):
            calls[key.removeprefix("call:")] = item["subject_id"]["S"]
        else:
            subjects.append(key)
    return sorted(subjects), calls
