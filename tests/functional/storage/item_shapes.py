"""The v1 item shapes of the calls, subjects and keys tables, as one JSON document.

Every item is reduced to its kind (the key's fixed parts, ids replaced by ``<id>``) and the
DynamoDB type of each attribute, nested into maps and lists (map keys kept). The scenario drives the
real handlers: new and known callers (authenticated, shown, several identifiers, no recording
consent, metadata), an imported call, a live call with segments, analysis with a follow-up and
a routing decision.

``tests/fixtures/v1_item_shapes.json`` was written from main before the storage layer existed
(issue 13); regenerate only for an intended change of a stored shape:
``CALLGUARD_WRITE_ITEM_SHAPES=1 .venv/bin/python -m pytest tests/functional/storage/test_item_shapes.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "v1_item_shapes.json"

_ID_PARTS = re.compile(r"#.*")


def _kind(value: str) -> str:
    """``CALL#cc-1`` → ``CALL#<id>``; ``CONSENT#2026-…#cc-1`` → ``CONSENT#<id>``; ``LINK`` stays."""
    return _ID_PARTS.sub("#<id>", value)


def _type(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "M":
        return {"M": {k: _type(v) for k, v in sorted(inner.items())}}
    if kind == "L":
        return {"L": sorted({json.dumps(_type(v), sort_keys=True) for v in inner})}
    return kind


def shape(item: dict[str, Any], key_names: tuple[str, ...]) -> tuple[str, str]:
    """``(kind, attributes)`` of one item; the kind from the key, with the id parts replaced."""
    if key_names == ("pk", "sk"):
        kind = f"{_kind(item['pk']['S'])} / {_kind(item['sk']['S'])}"
    else:
        kind = " / ".join(f"{name}=<id>" for name in key_names)
    attributes = {name: _type(value) for name, value in sorted(item.items())}
    return kind, json.dumps(attributes, sort_keys=True)


def shapes(dynamodb: Any, tables: dict[str, str]) -> dict[str, dict[str, list[Any]]]:
    """Per table (by role: calls, subjects, keys), per item kind, the distinct attribute shapes."""
    out: dict[str, dict[str, list[Any]]] = {}
    for role, table in sorted(tables.items()):
        key_names = tuple(k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"])
        found: dict[str, set[str]] = {}
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                kind, attributes = shape(item, key_names)
                found.setdefault(kind, set()).add(attributes)
        out[role] = {kind: [json.loads(a) for a in sorted(found[kind])] for kind in sorted(found)}
    return out
