"""Only ``callguard.storage`` speaks DynamoDB's wire format and builds storage keys (issue #13 item 2).

Read from the syntax tree of every module of the domain package outside ``callguard/storage`` and of
every function: a dict literal with an attribute-value type as key (``{"S": …}``), a subscript or a
``.get`` with one (``item["S"]``, ``value.get("N")``) is wire format; a string or f-string that starts
with a storage key prefix (``REQUEST#…``) builds or parses a key. Stores return typed records instead.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.unit

DOMAIN = ROOT / "layers" / "common" / "python" / "callguard"
STORAGE = DOMAIN / "storage"
FUNCTIONS = ROOT / "functions"
#: DynamoDB's attribute-value types
WIRE_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
#: the partition-key kinds the storage package owns (``<KIND>#…``)
KEY_KINDS = frozenset(
    {"REQUEST", "SUBJECTREQUEST", "HOLD", "HOLDS", "TOMBSTONE", "EXPORT", "DOWNLOAD", "AUDIT", "PURGE"}
)
#: the kinds of the calls table (storage/calls.py) and the subjects table (storage/subjects.py), partition
#: and sort keys alike
KEY_KINDS |= frozenset({"CALL", "DECISION", "STATS", "RESOLUTION", "SUBJECT", "IDENT", "SEEN", "LINKED", "CONSENT"})
_KEY = re.compile(r"^(?P<kind>[A-Z]+)#\S*$")
#: modules whose aggregates are still on their way into ``callguard.storage``: none left (every aggregate
#: has its store); the list only shrinks (a test fails for a module that is clean)
LEFTOVERS: frozenset[str] = frozenset()


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _wire_type(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in WIRE_TYPES


def wire_format(source: str) -> Iterator[tuple[int, str]]:
    """``(line, what)`` for every use of the wire format in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict) and any(_wire_type(k) for k in node.keys):
            yield node.lineno, "dict literal with an attribute-value type as key"
        elif isinstance(node, ast.Subscript) and _wire_type(node.slice):
            yield node.lineno, "subscript with an attribute-value type"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and _wire_type(node.args[0])
        ):
            yield node.lineno, ".get with an attribute-value type"


def storage_keys(source: str) -> Iterator[tuple[int, str]]:
    """``(line, kind)`` for every string (or f-string's first part) that starts with a storage key kind."""
    tree = ast.parse(source)
    skipped = _docstrings(tree)  # and the parts of f-strings (judged as the f-string)
    skipped |= {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        text: object = None
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            text = node.values[0].value
        elif isinstance(node, ast.Constant) and id(node) not in skipped:
            text = node.value
        match = _KEY.match(text) if isinstance(text, str) else None
        if match and match["kind"] in KEY_KINDS:
            yield node.lineno, match["kind"]


def product_modules() -> list[tuple[str, Path]]:
    """``(name, path)`` of every module of the domain package outside storage, and of every function."""
    domain = [(str(p.relative_to(DOMAIN)), p) for p in DOMAIN.rglob("*.py") if STORAGE not in p.parents]
    functions = [(f"functions/{p.relative_to(FUNCTIONS)}", p) for p in FUNCTIONS.rglob("*.py")]
    return sorted(domain + functions)


def test_the_checks_find_every_way_of_using_the_wire_format_and_building_keys() -> None:
    planted = (
        '"""A docstring may name REQUEST#<id>."""\n'
        'item = {"pk": {"S": "REQUEST#" + rid}, "n": {"N": "1"}}\n'
        'status = item["status"]["S"]\n'
        'owner = item.get("subject_id", {}).get("S")\n'
        'key = f"HOLD#{hold_id}"\n'
        'day = pk.removeprefix("AUDIT#")\n'
        'fine = {"pk": "value", "S3": 1, "title": "CALLGUARD#notakey"}\n'
        'call = f"CALL#{call_id}"\n'
        'linked = sk.removeprefix("LINKED#")\n'
    )
    assert [line for line, _ in sorted(wire_format(planted))] == [2, 2, 3, 4]
    assert sorted(storage_keys(planted)) == [(2, "REQUEST"), (5, "HOLD"), (6, "AUDIT"), (8, "CALL"), (9, "LINKED")]


def test_no_module_outside_storage_uses_the_wire_format() -> None:
    modules = product_modules()
    assert len(modules) > 30
    found = [
        f"{name}:{line} {what}"
        for name, path in modules
        if name not in LEFTOVERS
        for line, what in wire_format(path.read_text())
    ]
    assert not found, "use a store of callguard.storage (typed records) instead:\n" + "\n".join(found)


def test_no_module_outside_storage_builds_a_storage_key() -> None:
    found = [
        f"{name}:{line} {kind}#…"
        for name, path in product_modules()
        if name not in LEFTOVERS
        for line, kind in storage_keys(path.read_text())
    ]
    assert not found, "keys are built in callguard.storage only:\n" + "\n".join(found)


def test_the_list_of_leftovers_only_shrinks() -> None:
    modules = dict(product_modules())
    clean = sorted(name for name in LEFTOVERS if name not in modules or not any(wire_format(modules[name].read_text())))
    assert not clean, f"no wire format left in {clean}: remove them from LEFTOVERS"
