"""Only ``callguard.storage`` speaks DynamoDB's wire format and builds the tables' keys (issue 13).

Read from the syntax tree of every module of the domain package and of the functions, outside
``callguard/storage/``:

* a dict literal keyed by a wire-format type descriptor (``{"S": ...}``, ``{"N": ...}``, ``"M"``,
  ``"L"``, ``"BOOL"``, ``"B"``, ``"NULL"``, ``"SS"``, ``"NS"``, ``"BS"``),
* a subscript or ``.get()`` with one (``item["pk"]["S"]``, ``value.get("BOOL")``),
* a string that starts with a key prefix a store owns (``"CALL#"``, ``f"SUBJECT#{id}"``, …).

Not checked, on purpose: ``local/`` (the embedded AWS: provisioning and emulators speak the wire
format as AWS does), ``bench/`` (fills tables directly to measure the purge) and ``tests/`` (they
read the tables as AWS returns them, to prove the stored v1 item shapes stay byte-identical).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.unit

DOMAIN = ROOT / "layers" / "common" / "python" / "callguard"
STORAGE = DOMAIN / "storage"
CHECKED = (DOMAIN, ROOT / "functions")
#: DynamoDB attribute-value type descriptors
WIRE_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
#: key prefixes of the tables' items, each built by one function of its store
KEY_PREFIXES = (
    # calls table (storage/calls.py)
    "CALL#",
    "DECISION#",
    "STATS#",
    "RESOLUTION#",
    # subjects table (storage/subjects.py)
    "SUBJECT#",
    "IDENT#",
    "SEEN#",
    "LINKED#",
    "CONSENT#",
)
#: modules of the privacy-request / legal-hold / audit side that still speak the wire format for
#: their own tables (requests, holds, audit): their stores move into callguard/storage in the
#: same restructuring on another branch, which empties this set. Nothing may be added to it.
PENDING = frozenset(
    {
        "callguard/privacy/workflow.py",
        "callguard/privacy/steps.py",
        "callguard/privacy/desk.py",
        "callguard/security/audit.py",
        "callguard/security/audit_anchor.py",
    }
)


def _is_wire_type(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in WIRE_TYPES


def _starts_key(node: ast.AST) -> bool:
    """A string (or a literal part of an f-string) that starts with a store's key prefix."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(KEY_PREFIXES)


def findings(source: str) -> Iterator[tuple[int, str]]:
    """``(line, what)`` for every use of the wire format or a store's key prefix in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict) and any(_is_wire_type(k) for k in node.keys):
            yield node.lineno, "wire-format dict"
        elif isinstance(node, ast.Subscript) and _is_wire_type(node.slice):
            yield node.lineno, "wire-format subscript"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and _is_wire_type(node.args[0])
        ):
            yield node.lineno, "wire-format get()"
        elif _starts_key(node):
            yield node.lineno, "a store's key prefix"


def _label(path: Path) -> str:
    return str(path.relative_to(DOMAIN.parent)) if path.is_relative_to(DOMAIN) else str(path.relative_to(ROOT))


def _modules() -> Iterator[Path]:
    for folder in CHECKED:
        for path in sorted(folder.rglob("*.py")):
            if not path.is_relative_to(STORAGE):
                yield path


def test_the_detector_finds_every_shape_and_nothing_else() -> None:
    caught = """
item = {"pk": {"S": pk}}
flag = record["objected"]["BOOL"]
calls = record.get("calls", {}).get("SS", [])
key = f"CALL#{call_id}"
prefix = "SUBJECT#"
absent = {"NULL": True}
"""
    assert sorted(findings(caught)) == [
        (2, "wire-format dict"),
        (3, "wire-format subscript"),
        (4, "wire-format get()"),
        (5, "a store's key prefix"),
        (6, "a store's key prefix"),
        (7, "wire-format dict"),
    ]
    clean = """
body = {"Sx": 1, "status": "S", "sizes": {"small": "S"}}
text = "keys look like CALL#<id>"
value = record["S3"]
versions = page.get("Versions", [])
"""
    assert list(findings(clean)) == []


def test_no_module_outside_storage_speaks_the_wire_format_or_builds_a_key() -> None:
    offending = {}
    for path in _modules():
        label = _label(path)
        if label in PENDING:
            continue
        found = sorted(set(findings(path.read_text())))
        if found:
            offending[label] = [f"{line}: {what}" for line, what in found]
    assert offending == {}


def test_the_pending_modules_exist_and_still_need_their_move() -> None:
    """An entry left behind after its module moved to storage would hide a new offender."""
    for label in sorted(PENDING):
        path = DOMAIN.parent / label
        assert path.exists(), label
        assert list(findings(path.read_text())), f"{label} no longer needs to be pending"
