"""Which way dependencies point (docs/architecture.md), read from the import statements.

The domain package (layers/common/python/callguard) is what Lambda ships in the common layer: it
never imports the infrastructure, the embedded stack, the CLI, the functions or the tests (none of
them exists in /opt/python). The functions ship only their own folder and the layers, so they never
import infra, local or the CLI either. infra imports the domain for names and models, never its
composition root. Every import counts, also inside functions and ``if TYPE_CHECKING:`` blocks, and
``importlib.import_module("…")`` with a literal name.
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
#: top-level packages of this repository that are not shipped to Lambda
OUTSIDE_LAMBDA = frozenset({"infra", "local", "callguard_cli", "functions", "tests", "bench", "app"})
#: private names defined in the domain and still imported by tests and the bench; the domain
#: restructuring (issue 13) makes them public. Nothing may be added to this set.
DOMAIN_PRIVATE_IMPORTS_LEFT = frozenset({})


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str, str | None]]:
    """(line, absolute module, imported name or None) of every import in ``source``.

    Relative imports are resolved against ``module``; one that climbs above the top-level package
    comes back with a leading ``.`` (it cannot be resolved, so it never passes for the package)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                keep = len(parts) - (node.level - 1)
                base = "." * node.level + base if keep <= 0 else ".".join([*parts[:keep], *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, base, alias.name
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value, None


def imports_in(path: Path, base: Path) -> list[tuple[int, str, str | None]]:
    """The imports of the module at ``path`` (named from ``base``), by line."""
    module = module_name(path, base)
    return sorted(imports_of(path.read_text(), module, is_package=path.name == "__init__.py"), key=lambda i: i[0])


def foreign_imports(folder: Path, base: Path, forbidden: frozenset[str]) -> list[str]:
    """``path:line module`` for every import under ``folder`` whose top-level package is in
    ``forbidden`` or that climbs out of the package it is in."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for line, imported, _ in imports_in(path, base):
            if imported.split(".")[0] in forbidden or imported.startswith("."):
                found.append(f"{path.relative_to(base)}:{line} {imported}")
    return found


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_check_finds_every_way_of_importing_the_outside(tmp_path: Path) -> None:
    """The checker itself: each planted import is found, the package's own imports are not."""
    base = _write(
        tmp_path,
        {
            "callguard/__init__.py": "",
            "callguard/ok.py": "from . import names\nfrom .sub import deep\nimport json\nfrom callguard import x\n",
            "callguard/names.py": "from infra.config import Settings\n",
            "callguard/sub/__init__.py": "from .. import names\n",
            "callguard/sub/deep.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    import local.gateway\n"
                "def later():\n    from tests.support import ROOT\n"
                "import importlib\nimportlib.import_module('callguard_cli.__main__')\n"
                "from ...functions import handler\n"
            ),
        },
    )
    found = foreign_imports(base / "callguard", base, OUTSIDE_LAMBDA)
    assert [f.rpartition(" ")[2] for f in found] == [
        "infra.config",
        "local.gateway",
        "tests.support",
        "callguard_cli.__main__",
        "...functions",
    ]


def test_the_domain_never_imports_infra_local_the_cli_the_functions_or_the_tests() -> None:
    base = DOMAIN.parent
    assert (DOMAIN / "wiring.py").is_file()  # the package is where the layer layout puts it
    modules = [module_name(p, base) for p in DOMAIN.rglob("*.py")]
    assert len(modules) > 20
    assert all(m == "callguard" or m.startswith("callguard.") for m in modules)
    assert foreign_imports(DOMAIN, base, OUTSIDE_LAMBDA) == []


def test_the_functions_import_only_the_layers_and_their_own_folder() -> None:
    found = []
    for folder in sorted(p for p in (ROOT / "functions").iterdir() if p.is_dir()):
        found += foreign_imports(folder, folder, OUTSIDE_LAMBDA)
    assert found == []


def test_infra_never_imports_the_composition_root_or_the_embedded_stack() -> None:
    """infra reads the domain's names and models at synth; it never builds a service (wiring) and
    never depends on the local stack, which is built from what infra synthesizes."""
    found = []
    for path in [*sorted((ROOT / "infra").rglob("*.py")), ROOT / "app.py"]:
        for line, imported, name in imports_in(path, ROOT):
            target = f"{imported}.{name}" if name else imported
            if re.match(r"(callguard\.wiring|local|callguard_cli|tests|bench)(\.|$)", target):
                found.append(f"{path.relative_to(ROOT)}:{line} {target}")
    assert found == []


def test_no_private_name_is_imported_from_another_module() -> None:
    """Shared helpers are public: ``from x import _y`` across modules only for the domain's
    remaining few, and none of those may be added to."""
    outside, domain = [], set()
    folders = [ROOT / p for p in ("infra", "local", "callguard_cli", "tests", "bench", "functions")]
    paths = [p for folder in folders for p in sorted(folder.rglob("*.py"))] + sorted(DOMAIN.rglob("*.py"))
    for path in paths:
        for line, imported, name in imports_in(path, DOMAIN.parent if path.is_relative_to(DOMAIN) else ROOT):
            if name is None or not name.startswith("_") or name.startswith("__"):
                continue
            if imported == "callguard" or imported.startswith("callguard."):
                domain.add(f"{imported}.{name}")
            else:
                outside.append(f"{path.relative_to(ROOT)}:{line} {imported}.{name}")
    assert outside == []
    assert domain <= DOMAIN_PRIVATE_IMPORTS_LEFT, sorted(domain - DOMAIN_PRIVATE_IMPORTS_LEFT)


def test_every_path_docs_architecture_names_exists() -> None:
    """docs/architecture.md says where each capability lives: it must name real paths (written
    ``callguard/…`` for the domain package under layers/common/python)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    paths = {
        token.split("/<")[0]
        for token in re.findall(r"`([^`\s]+)`", text)
        if ("/" in token or token.endswith((".py", ".toml"))) and not token.startswith("/") and "…" not in token
    }  # absolute paths are Lambda's (/opt/python, /var/task)
    assert "callguard/wiring.py" in paths
    assert "layers/common/pyproject.toml" in paths
    missing = sorted(p for p in paths if not ((DOMAIN.parent if p.startswith("callguard/") else ROOT) / p).exists())
    assert missing == []


def test_nothing_edits_sys_path() -> None:
    """The domain package is installed (make setup), so no module reaches it, or anything else,
    through ``sys.path``: the venv's installs and Lambda's layout are the only import paths."""
    folders = [ROOT / p for p in ("infra", "local", "callguard_cli", "tests", "bench", "functions", "layers")]
    found = []
    for path in [ROOT / "app.py", *(p for folder in folders for p in sorted(folder.rglob("*.py")))]:
        for node in ast.walk(ast.parse(path.read_text())):
            uses = (
                isinstance(node, ast.Attribute)
                and node.attr == "path"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ) or (isinstance(node, ast.ImportFrom) and node.module == "sys" and "path" in {a.name for a in node.names})
            if uses:
                found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    assert found == []


#: the modules every capability uses, and the only ones beside the capability packages
SHARED_MODULES = {"__init__.py", "names.py", "models.py", "errors.py", "clients.py", "wiring.py"}
CAPABILITIES = {"calls", "analysis", "routing", "privacy", "retention", "storage", "security", "edge", "policy"}


def test_the_domain_is_one_package_per_capability_and_the_tests_mirror_it() -> None:
    """A new capability gets a package, not another flat module; its tests go beside its package's."""
    assert {p.name for p in DOMAIN.glob("*.py")} == SHARED_MODULES
    packages = {p.name for p in DOMAIN.iterdir() if (p / "__init__.py").is_file()}
    assert packages == CAPABILITIES
    for tier in ("unit", "functional"):
        mirrored = {p.name for p in (ROOT / "tests" / tier).iterdir() if (p / "__init__.py").is_file()}
        assert mirrored <= CAPABILITIES | {"local"}, f"tests/{tier} has folders that name no capability"
        assert mirrored, f"tests/{tier} does not mirror the domain packages"
