"""What a Lambda function imports, found statically, and the distributions that provides.

``reached_imports`` follows a function's entry module through the modules it imports from
its own folder and the domain layer, definition by definition: a module's top-level
statements run at import and always count; a function or class counts only when code that
counts names it (a method when its name is used as an attribute anywhere in counted code).
So ``from callguard.wiring import build_privacy_steps`` reaches what that builder reaches,
not every builder in the composition root. Imports under ``if TYPE_CHECKING:`` never run and
do not count. Whatever is neither in those folders nor in the standard library is a
third-party top-level package.

``distributions_for`` maps those packages to the distributions installed in a layer folder
(their ``RECORD``), adds each one's requirements from its own metadata (markers evaluated for
the Lambda runtime, extras only when the function uses what needs them), and stops at what the
Lambda runtime already provides (boto3 and its dependencies).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "EXTRA_TRIGGERS",
    "RUNTIME_PROVIDED",
    "RUNTIME_TOP_LEVEL",
    "Imports",
    "distribution_files",
    "distributions_for",
    "reached_imports",
    "top_level_names",
]

#: Distributions the Lambda Python runtime ships (boto3 and what it needs, and SnapStart's runtime hooks,
#: ``snapshot-restore-py``, in the Python runtimes from 3.12 on).
RUNTIME_PROVIDED = frozenset(
    canonicalize_name(n)
    for n in ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six", "snapshot-restore-py")
)
#: Their top-level packages (what a function's code imports by).
RUNTIME_TOP_LEVEL = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "snapshot_restore_py"}
)
#: An extra of a distribution is needed only when the function imports one of these names from
#: it: Powertools loads the X-Ray SDK for ``Tracer`` only.
EXTRA_TRIGGERS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "aws-lambda-powertools": {
        "tracer": frozenset({"aws_lambda_powertools.Tracer", "aws_lambda_powertools.tracing"}),
    },
}
#: The Lambda runtime's platform, for requirement markers.
LAMBDA_MARKERS: dict[str, str] = {
    **{k: str(v) for k, v in default_environment().items()},
    "python_version": "3.14",
    "python_full_version": "3.14.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@dataclass
class Imports:
    """Third-party top-level packages a function imports, and the dotted names it takes from them."""

    packages: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)


@dataclass
class _Module:
    name: str
    path: Path
    tree: ast.Module
    definitions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]
    wanted: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    methods_done: set[tuple[str, str]] = field(default_factory=set)

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def _is_type_checking(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Graph:
    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = [Path(r) for r in roots]
        self.modules: dict[str, _Module] = {}
        self.attributes: set[str] = set()
        self.imports = Imports()
        self.changed = True

    # ----- resolution
    def _find(self, name: str) -> Path | None:
        parts = name.split(".")
        for root in self.roots:
            base = root.joinpath(*parts)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None

    def _load(self, name: str) -> _Module | None:
        if name in self.modules:
            return self.modules[name]
        path = self._find(name)
        if path is None:
            return None
        tree = ast.parse(path.read_text(), filename=str(path))
        definitions = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        module = _Module(name, path, tree, definitions)
        self.modules[name] = module
        self.changed = True
        if "." in name:  # importing a.b runs a/__init__.py first
            self._load(name.rpartition(".")[0])
        self._visit_module_level(module)
        return module

    # ----- what an import statement reaches
    def _import(self, module_name: str, names: Iterable[str] | None) -> None:
        top = module_name.split(".")[0]
        if self._find(top) is None:
            if top in sys.stdlib_module_names or top == "__future__":
                return
            self.imports.packages.add(top)
            self.imports.names.add(module_name)
            self.imports.names.update(f"{module_name}.{n}" for n in names or ())
            return
        module = self._load(module_name)
        if module is None:
            return
        for name in names or ():
            if self._find(f"{module_name}.{name}") is not None:
                self._load(f"{module_name}.{name}")
            elif name == "*":
                self._want(module, set(module.definitions))
            else:
                self._want(module, {name})

    def _want(self, module: _Module, names: set[str]) -> None:
        new = names - module.wanted
        if new:
            module.wanted |= new
            self.changed = True

    # ----- walking code that runs
    def _visit(self, module: _Module, nodes: Iterable[ast.AST]) -> None:
        stack = list(nodes)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.stmt) and _is_type_checking(node):
                stack.extend(node.orelse)  # type: ignore[attr-defined]
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self._import(alias.name, None)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = module.package.split(".") if module.package else []
                    keep = len(package) - (node.level - 1)
                    base = ".".join([*package[: max(keep, 0)], *([base] if base else [])])
                self._import(base, [a.name for a in node.names])
            elif isinstance(node, ast.Name):
                if node.id in module.definitions:
                    self._want(module, {node.id})
            elif isinstance(node, ast.Attribute) and node.attr not in self.attributes:
                self.attributes.add(node.attr)
                self.changed = True
            stack.extend(ast.iter_child_nodes(node))

    def _visit_module_level(self, module: _Module) -> None:
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                # decorators and defaults run at import; the body runs only when called
                defaults = [d for d in node.args.kw_defaults if d is not None]
                self._visit(module, [*node.decorator_list, *node.args.defaults, *defaults])
            elif isinstance(node, ast.ClassDef):
                self._visit(module, [*node.decorator_list, *node.bases, *node.keywords])
                self._visit(module, [n for n in node.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)])
                for method in node.body:
                    if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                        self._visit(module, method.decorator_list)
            else:
                self._visit(module, [node])

    def _step(self) -> None:
        for module in list(self.modules.values()):
            for name in sorted(module.wanted - module.done):
                module.done.add(name)
                node = module.definitions.get(name)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self._visit(module, node.body)
            for name in module.done:
                node = module.definitions.get(name)
                if not isinstance(node, ast.ClassDef):
                    continue
                for method in node.body:
                    if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                        continue
                    key = (name, method.name)
                    used = method.name.startswith("__") or method.name in self.attributes
                    if used and key not in module.methods_done:
                        module.methods_done.add(key)
                        self._visit(module, method.body)
                        self.changed = True

    def run(self) -> None:
        while self.changed:
            self.changed = False
            self._step()


def reached_imports(entry: str, roots: Iterable[Path]) -> Imports:
    """Third-party packages that running module ``entry`` (found in ``roots``) can import."""
    graph = _Graph(roots)
    module = graph._load(entry)
    if module is None:
        raise FileNotFoundError(f"module {entry} is not in {', '.join(map(str, graph.roots))}")
    graph._want(module, set(module.definitions))
    graph.run()
    return graph.imports


def _distributions(site: Path) -> dict[str, metadata.Distribution]:
    return {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[str(site)])}


def top_level_names(dist: metadata.Distribution) -> set[str]:
    """Top-level importable names a distribution installs (from its RECORD)."""
    names = set()
    for file in dist.files or ():
        first = file.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "__pycache__") or first.endswith(".pth"):
            continue
        names.add(first.split(".")[0] if len(file.parts) == 1 else first)
    return names


def distributions_for(site: Path, imports: Imports) -> dict[str, set[str]]:
    """Distributions in ``site`` (name → extras used) that provide ``imports``, with their requirements.

    Raises ``LookupError`` for an imported package no distribution in ``site`` provides (the
    function would fail to import on Lambda).
    """
    installed = _distributions(site)
    provider = {top: name for name, dist in installed.items() for top in top_level_names(dist)}
    missing = sorted(p for p in imports.packages if p not in provider)
    runtime_tops = RUNTIME_TOP_LEVEL
    missing = [m for m in missing if m not in runtime_tops]
    if missing:
        raise LookupError(f"imported but in no distribution of the layer: {', '.join(missing)}")
    wanted: dict[str, set[str]] = {}
    queue: list[tuple[str, set[str]]] = []
    for package in sorted(imports.packages - runtime_tops):
        name = provider[package]
        triggers = EXTRA_TRIGGERS.get(name, {})
        extras = {extra for extra, names in triggers.items() if names & imports.names}
        queue.append((name, extras))
    while queue:
        name, extras = queue.pop()
        if name in RUNTIME_PROVIDED:
            continue
        known = wanted.get(name)
        if known is not None and extras <= known:
            continue
        wanted[name] = (known or set()) | extras
        dist = installed.get(name)
        if dist is None:
            raise LookupError(f"{name} is required but not in the layer")
        for line in dist.requires or ():
            requirement = Requirement(line)
            applies = requirement.marker is None or any(
                requirement.marker.evaluate({**LAMBDA_MARKERS, "extra": extra}) for extra in ({""} | wanted[name])
            )
            if applies:
                queue.append((canonicalize_name(requirement.name), set(requirement.extras)))
    return wanted


def distribution_files(site: Path, names: Iterable[str]) -> list[Path]:
    """Every file (relative to ``site``) that the distributions ``names`` installed, metadata included."""
    installed = _distributions(site)
    files: list[Path] = []
    for name in sorted(set(names)):
        for file in installed[name].files or ():
            path = Path(file)
            if path.parts[0] == ".." or "__pycache__" in path.parts:
                continue
            files.append(path)
    return files
