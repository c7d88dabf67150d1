"""What every store over DynamoDB shares: item keys, wire format, paging, batches, transactions.

The DynamoDB wire format (``{"S": ...}``, ``{"N": ...}``, ...) is spoken only inside
:mod:`callguard.storage`. Each store builds its own keys and maps items to typed records, the
way Powertools' idempotency persistence layer does (``_get_key`` builds the key in one place,
``_item_to_data_record`` deserialises an item into a ``DataRecord``); boto3's
:class:`~boto3.dynamodb.types.TypeDeserializer` decodes items here too. Items are written in
the explicit shapes v1 stored (byte-identical), each by the store that owns the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

__all__ = [
    "BatchRead",
    "ItemKey",
    "TransactionCanceledError",
    "UnprocessedItemsError",
    "Write",
    "all_items",
    "delete_keys",
    "from_item",
    "is_condition_failure",
    "partition_items",
    "write_together",
]

T = TypeVar("T")

#: the most keys one ``BatchGetItem`` may ask for, the most requests one ``BatchWriteItem`` may carry
BATCH_GET = 100
BATCH_WRITE = 25
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class ItemKey:
    """The primary key of an item of a ``pk``/``sk`` table (``sk`` a string, or a number as in the
    audit log). Opaque outside the store that made it: handed back to a store (to delete, to count),
    never taken apart."""

    pk: str
    sk: str | int

    def wire(self) -> dict[str, Any]:
        sk = {"S": self.sk} if isinstance(self.sk, str) else {"N": str(self.sk)}
        return {"pk": {"S": self.pk}, "sk": sk}

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> ItemKey:
        sk = item["sk"]
        return cls(str(item["pk"]["S"]), str(sk["S"]) if "S" in sk else int(sk["N"]))


_DESERIALIZER = TypeDeserializer()


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as plain Python values (numbers as :class:`~decimal.Decimal`, binaries as bytes)."""
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal | str | bool | int | float | set | frozenset) or value is None:
        return value
    return bytes(value)  # boto3's Binary


def is_condition_failure(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


def all_items(dynamodb: Any, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a DynamoDB ``query`` or ``scan``, across pages (botocore's paginator)."""
    return [item for page in dynamodb.get_paginator(operation).paginate(**kwargs) for item in page["Items"]]


def partition_items(dynamodb: Any, table: str, pk: str) -> list[dict[str, Any]]:
    """Every item under one partition key ``pk``, read consistently."""
    return all_items(
        dynamodb,
        "query",
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": pk}},
        ConsistentRead=True,
    )


# -- transactions -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Write:
    """One ``TransactWriteItems`` entry, built by the store that owns its table; handed around
    unopened and written with others by :func:`write_together`."""

    entry: dict[str, Any]

    def run(self, dynamodb: Any) -> None:
        """The entry on its own (``Put``, ``Update`` or ``Delete``), outside a transaction."""
        ((operation, request),) = self.entry.items()
        method = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}[operation]
        getattr(dynamodb, method)(**request)


class TransactionCanceledError(Exception):
    """A ``TransactWriteItems`` was cancelled: nothing of it was written. ``reasons``: the code per
    entry, in order (``None`` for an entry that was not the cause)."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__("the transaction was cancelled")
        self.reasons = reasons


def write_together(dynamodb: Any, writes: Iterable[Write]) -> None:
    """Write ``writes`` (on any tables) all or none, in one call; :class:`TransactionCanceledError`
    when a condition failed."""
    items = [w.entry for w in writes]
    if not items:
        return
    try:
        dynamodb.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = [r.get("Code") if r.get("Code") not in {None, "None"} else None
                   for r in exc.response.get("CancellationReasons", [])]  # fmt: skip
        raise TransactionCanceledError(reasons) from None


# -- batches -------------------------------------------------------------------------------------
def _key_id(table: str, key: Mapping[str, Any]) -> tuple[Any, ...]:
    return (table, *sorted((name, kind, value) for name, attr in key.items() for kind, value in attr.items()))


class BatchRead:
    """Consistent reads of items on several tables in as few ``BatchGetItem`` calls as the limits
    allow. Stores :meth:`add` their keys (each gets a handle), :meth:`run` reads them all, and each
    store maps the item its handle returns to its own record."""

    def __init__(self, dynamodb: Any) -> None:
        self._ddb = dynamodb
        self._wanted: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
        self._found: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._done = False

    def add(self, table: str, key: dict[str, Any]) -> Callable[[], dict[str, Any] | None]:
        """Ask for the item under ``key`` (wire format) in ``table``; the returned handle gives the
        item (or ``None``) once :meth:`run` has read it."""
        wanted = _key_id(table, key)
        self._wanted.setdefault(wanted, (table, key))

        def found() -> dict[str, Any] | None:
            if not self._done:
                raise RuntimeError("the batch was not read yet")
            return self._found.get(wanted)

        return found

    def run(self) -> None:
        """Read every key asked for (unprocessed keys again until none is left)."""
        wanted = list(self._wanted.values())
        for start in range(0, len(wanted), BATCH_GET):
            request: dict[str, Any] = {}
            for table, key in wanted[start : start + BATCH_GET]:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            names = {table: list(spec["Keys"][0]) for table, spec in request.items()}
            while request:
                response = self._ddb.batch_get_item(RequestItems=request)
                for table, items in response.get("Responses", {}).items():
                    for item in items:
                        self._found[_key_id(table, {n: item[n] for n in names[table]})] = item
                request = response.get("UnprocessedKeys") or {}
        self._done = True


class UnprocessedItemsError(RuntimeError):
    """A batch write left items unprocessed after every retry (the message names the table only)."""


def delete_keys(dynamodb: Any, table: str, keys: list[dict[str, Any]]) -> int:
    """Delete items by key (wire format) in batches of 25, retrying unprocessed items with backoff."""
    for start in range(0, len(keys), BATCH_WRITE):
        request: dict[str, Any] = {table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + BATCH_WRITE]]}
        for attempt in range(MAX_ATTEMPTS):
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))  # throttled: back off before the retry
        else:
            raise UnprocessedItemsError(f"{table}: items stayed unprocessed after {MAX_ATTEMPTS} attempts")
    return len(keys)
