"""Unzipped size of each Lambda layer and function asset in ``cdk.out``, against Lambda's limit.

Lambda allows 250 MB (262,144,000 bytes) unzipped for a function's code and all its layers
together. Assets are found through the template's ``aws:asset:path`` metadata and described by
``<stack>.assets.json`` (display name, packaging: a directory CDK zips, or a ready file).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from local.provision import load_template

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MB as Lambda counts it (250 * 1024 * 1024 bytes)
FUNCTION = "AWS::Lambda::Function"
LAYER = "AWS::Lambda::LayerVersion"


def unzipped_bytes(path: Path) -> int:
    """Bytes of every file in an asset directory, or of the members of a zip asset."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    return path.stat().st_size


def _assets(cdk_out: Path, stack: str) -> dict[str, dict[str, Any]]:
    """``asset.<hash>`` path → its entry in the assets manifest."""
    manifest = json.loads((cdk_out / f"{stack}.assets.json").read_text())
    return {entry["source"]["path"]: entry for entry in manifest.get("files", {}).values()}


def _size(cdk_out: Path, resource: dict[str, Any], assets: dict[str, dict[str, Any]]) -> tuple[str, int | None]:
    """(display name, unzipped bytes) of a function's code or a layer's content."""
    asset_path = resource.get("Metadata", {}).get("aws:asset:path")
    if asset_path is None:
        inline = resource["Properties"].get("Code", {}).get("ZipFile")
        return ("inline code", len(inline.encode())) if isinstance(inline, str) else ("no local asset", None)
    entry = assets.get(asset_path)
    if entry is None:
        raise RuntimeError(f"{asset_path} is not in the assets manifest")
    return entry.get("displayName", asset_path), unzipped_bytes(cdk_out / asset_path)


def _short(logical: str) -> str:
    """A logical id without CDK's hash suffix."""
    return re.sub(r"[0-9A-F]{8}$", "", logical)


def _mb(n: int) -> str:
    return f"{n / 1_000_000:,.2f}"


def asset_sizes(cdk_out: Path, stack: str = "Callguard") -> tuple[str, float]:
    """Two tables (layers; functions with their layers) and the largest function's share of the limit."""
    template = load_template(cdk_out, stack)
    assets = _assets(cdk_out, stack)
    resources = template["Resources"]
    layers = {k: _size(cdk_out, r, assets) for k, r in sorted(resources.items()) if r["Type"] == LAYER}
    layer_rows = ["| layer | asset | unzipped bytes | MB |", "|---|---|---:|---:|"]
    for logical, (name, size) in layers.items():
        layer_rows.append(f"| {_short(logical)} | {name} | {size or 0:,} | {_mb(size or 0)} |")
    rows = [
        "| function | code asset (functions sharing it) | code bytes | layers | layer bytes | total bytes | total MB "
        "| total / 250 MB |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    functions = {k: r for k, r in sorted(resources.items()) if r["Type"] == FUNCTION}
    sharing = Counter(r.get("Metadata", {}).get("aws:asset:path") for r in functions.values())
    worst = 0.0
    for logical, resource in functions.items():
        _, code = _size(cdk_out, resource, assets)
        asset_path = resource.get("Metadata", {}).get("aws:asset:path")
        name = f"`{asset_path[:14]}...` ({sharing[asset_path]})" if asset_path else "inline"
        refs = [
            layer.get("Ref") if isinstance(layer, dict) else None for layer in resource["Properties"].get("Layers", [])
        ]
        unknown = [r for r in refs if r not in layers]
        layer_bytes = sum(layers[r][1] or 0 for r in refs if r in layers)
        total = (code or 0) + layer_bytes
        worst = max(worst, total / LAMBDA_UNZIPPED_LIMIT)
        names = ", ".join(_short(str(r)) for r in refs if r in layers) + (
            f" (+{len(unknown)} not local)" if unknown else ""
        )
        rows.append(
            f"| {_short(logical)} | {name} | {code or 0:,} | {names or '-'} | {layer_bytes:,} | {total:,} "
            f"| {_mb(total)} | {total / LAMBDA_UNZIPPED_LIMIT:.3f} |"
        )
    return "\n".join(layer_rows) + "\n\n" + "\n".join(rows), worst


def asset_gap(worst: float) -> str | None:
    if worst <= 1.0:
        return None
    return (
        f"- A function with its layers is {worst:.2f} times Lambda's 250 MB unzipped limit: it cannot be deployed. "
        "Cause: the layers' dependencies (see the layer table)."
    )


LARGEST_FUNCTION_GOAL_MB = 35.0


def largest_function(cdk_out: Path, stack: str = "Callguard") -> tuple[str, int]:
    """(function, unzipped bytes of its code and layers) of the largest function."""
    template = load_template(cdk_out, stack)
    assets = _assets(cdk_out, stack)
    resources = template["Resources"]
    layers = {k: _size(cdk_out, r, assets)[1] or 0 for k, r in resources.items() if r["Type"] == LAYER}
    sizes = {}
    for logical, resource in resources.items():
        if resource["Type"] != FUNCTION:
            continue
        refs = [ref.get("Ref") for ref in resource["Properties"].get("Layers", []) if isinstance(ref, dict)]
        sizes[_short(logical)] = (_size(cdk_out, resource, assets)[1] or 0) + sum(layers.get(r, 0) for r in refs)
    name = max(sizes, key=lambda k: sizes[k])
    return name, sizes[name]


def unused_packages(cdk_out: Path, stack: str = "Callguard") -> dict[str, set[str]]:
    """Function → top-level packages its layers ship that its code (and the domain layer it
    reaches) never imports, directly or through a distribution's requirements."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    from infra.dependencies import distributions_for, reached_imports, top_level_names

    template = load_template(cdk_out, stack)
    resources = template["Resources"]
    found: dict[str, set[str]] = {}
    for logical, resource in resources.items():
        path = resource.get("Metadata", {}).get("aws:asset:path")
        if resource["Type"] != FUNCTION or path is None:
            continue
        sites = [
            cdk_out / resources[ref["Ref"]]["Metadata"]["aws:asset:path"] / "python"
            for ref in resource["Properties"].get("Layers", [])
            if isinstance(ref, dict) and ref.get("Ref") in resources
        ]
        common = [s for s in sites if (s / "callguard").is_dir()]
        module = resource["Properties"]["Handler"].rpartition(".")[0]
        imports = reached_imports(module, [cdk_out / path, *common])
        for site in (s for s in sites if s not in common):
            needed = distributions_for(site, imports)
            allowed = {
                top
                for dist in metadata.distributions(path=[str(site)])
                if canonicalize_name(dist.metadata["Name"]) in needed
                for top in top_level_names(dist)
            }
            shipped = {
                p.name.split(".")[0] if p.is_file() else p.name
                for p in site.iterdir()
                if not p.name.endswith((".dist-info", ".data")) and p.name != "__pycache__"
            }
            if shipped - allowed:
                found[_short(logical)] = shipped - allowed
    return found
