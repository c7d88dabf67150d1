"""Legal holds in the privacy table.

Items (every key is built here):

* ``HOLD#<id>``/``HOLD`` — the hold: status (``active``/``lifted``), when and by whom it was placed
  and lifted, the sealed reasons, and the identifiers it covers (kinds and MACs, never values).
* ``HOLDS#active``/``HOLD#<id>`` — one per standing hold, with its identifiers: the retention purge
  and the erasure workflow read every standing hold with one query (holds are few).

Placing and lifting write both items in one transaction. A listed tenant's partition keys begin with
``T#<tenant>#`` (:class:`TenantScope`), the default tenant's are v1's: each tenant's standing holds are
its own list, and another tenant's hold id is not found (hold ids may repeat across tenants).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callguard.storage.dynamo import all_items
from callguard.storage.scope import V1, TenantScope
from callguard.storage.wire import from_item, partition, partition_name, sort_key, to_attribute, to_item

__all__ = ["ACTIVE", "LIFTED", "LegalHold", "LegalHolds", "StandingHold"]

HOLD = "HOLD"
#: a hold id is new: its item is never overwritten
NEW = "attribute_not_exists(pk)"
#: the partition listing every standing legal hold (v1's; a listed tenant's is this in its keys)
STANDING = partition("HOLDS", "active")
ACTIVE = "active"
LIFTED = "lifted"


def _hold_partition(scope: TenantScope, hold_id: str) -> str:
    return scope.key(partition(HOLD, hold_id))


def _hold_key(scope: TenantScope, hold_id: str) -> dict[str, Any]:
    return to_item({"pk": _hold_partition(scope, hold_id), "sk": HOLD})


def _standing_key(scope: TenantScope, hold_id: str) -> dict[str, Any]:
    return to_item({"pk": scope.key(STANDING), "sk": sort_key(HOLD, hold_id)})


@dataclass(frozen=True)
class StandingHold:
    """A hold in force: its id and the identifiers ``(kind, mac)`` it was placed on."""

    hold_id: str
    identifiers: list[tuple[str, str]]


@dataclass(frozen=True)
class LegalHold:
    hold_id: str
    status: str
    created_at: str
    subject_kinds: tuple[str, ...] = ()
    subject_macs: tuple[str, ...] = ()
    placed_by: str | None = None
    sealed_reason: bytes | None = None
    lifted_at: str | None = None
    lifted_by: str | None = None
    sealed_lift_reason: bytes | None = None

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def identifiers(self) -> list[tuple[str, str]]:
        return list(zip(self.subject_kinds, self.subject_macs, strict=True))


def _item_to_hold(item: Mapping[str, Any], scope: TenantScope) -> LegalHold:
    data = from_item(item)
    return LegalHold(
        hold_id=partition_name(HOLD, scope.unscoped(data["pk"]) or ""),
        status=data["status"],
        created_at=data["created_at"],
        subject_kinds=tuple(data.get("subject_kinds", ())),
        subject_macs=tuple(data.get("subject_macs", ())),
        placed_by=data.get("placed_by"),
        sealed_reason=data.get("sealed_reason"),
        lifted_at=data.get("lifted_at"),
        lifted_by=data.get("lifted_by"),
        sealed_lift_reason=data.get("sealed_lift_reason"),
    )


@dataclass
class LegalHolds:
    dynamodb: Any
    table: str
    scope: TenantScope = V1

    def place(self, hold: LegalHold) -> None:
        """The hold and its standing entry, together (the hold id is new: it is never overwritten)."""
        identifiers = {"subject_macs": list(hold.subject_macs), "subject_kinds": list(hold.subject_kinds)}
        record = {
            "pk": _hold_partition(self.scope, hold.hold_id),
            "sk": HOLD,
            "status": hold.status,
            "created_at": hold.created_at,
            **identifiers,
            "sealed_reason": hold.sealed_reason,
            "placed_by": hold.placed_by,
        }
        standing = {**identifiers, "created_at": hold.created_at}
        self.dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self.table, "Item": to_item(record), "ConditionExpression": NEW}},
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {**_standing_key(self.scope, hold.hold_id), **to_item(standing)},
                    }
                },
            ]
        )

    def get(self, hold_id: str, *, consistent: bool = False) -> LegalHold | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key=_hold_key(self.scope, hold_id), **({"ConsistentRead": True} if consistent else {})
        ).get("Item")
        return None if item is None else _item_to_hold(item, self.scope)

    def lift(self, hold_id: str, now: datetime, *, lifted_by: str | None, sealed_reason: bytes | None) -> None:
        """End a standing hold (who and why, where given) and remove its standing entry, together
        (the transaction is cancelled when the hold is no longer active)."""
        updates = ["#s = :lifted", "lifted_at = :now"]
        values: dict[str, str | bytes] = {":lifted": LIFTED, ":active": ACTIVE, ":now": now.isoformat()}
        if lifted_by is not None:
            updates.append("lifted_by = :by")
            values[":by"] = lifted_by
        if sealed_reason is not None:
            updates.append("sealed_lift_reason = :why")
            values[":why"] = sealed_reason
        self.dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _hold_key(self.scope, hold_id),
                        "UpdateExpression": "SET " + ", ".join(updates),
                        "ConditionExpression": "#s = :active",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
                {"Delete": {"TableName": self.table, "Key": _standing_key(self.scope, hold_id)}},
            ]
        )

    def standing(self) -> list[StandingHold]:
        """Every standing legal hold with the identifiers it covers."""
        items = all_items(
            self.dynamodb,
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": to_attribute(self.scope.key(STANDING))},
            ConsistentRead=True,
        )
        holds = []
        for item in items:
            data = from_item(item)
            identifiers = list(zip(data["subject_kinds"], data["subject_macs"], strict=True))
            holds.append(StandingHold(data["sk"].removeprefix(f"{HOLD}#"), identifiers))
        return holds
