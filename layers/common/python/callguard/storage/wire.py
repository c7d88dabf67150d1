"""DynamoDB's wire format (``{"S": …}``) and the partition keys of the privacy and audit stores, in
one place.

Stores turn items into typed records the way Powertools' idempotency persistence layer does
(``_item_to_data_record``): the whole item through boto3's :class:`TypeDeserializer`, then the
record from plain values. Writes go the other way through :class:`TypeSerializer`. Nothing outside
``callguard.storage`` sees an attribute value.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

__all__ = ["from_item", "partition", "partition_name", "sort_key", "to_attribute", "to_item"]

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def partition(kind: str, name: str) -> str:
    """``<KIND>#<name>``: every partition key of the privacy and audit stores is built here, so a
    prefix that applies to all of them (a tenant's, issue #18) is added in this one place (with
    :func:`partition_name`, which reads it back)."""
    return f"{kind}#{name}"


def partition_name(kind: str, key: str) -> str:
    """The ``<name>`` of a partition key ``<KIND>#<name>`` (the inverse of :func:`partition`)."""
    return key.removeprefix(f"{kind}#")


def sort_key(kind: str, name: str) -> str:
    """``<KIND>#<name>`` as a sort key: inside a partition, so never prefixed."""
    return f"{kind}#{name}"


def to_attribute(value: Any) -> dict[str, Any]:
    """One Python value as an attribute value (str → S, int → N, bytes → B, list → L, dict → M)."""
    attribute: dict[str, Any] = _SERIALIZER.serialize(value)
    return attribute


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """An item from plain values; ``None`` means the attribute is absent (never a NULL)."""
    return {name: to_attribute(value) for name, value in values.items() if value is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Binary):
        return bytes(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item (or a projection of one) as plain values: numbers as ``int``, binaries as ``bytes``."""
    return {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in item.items()}
