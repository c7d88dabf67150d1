"""Each function's layers, as `cdk synth` wrote them, hold exactly the packages its code can import.

"Can import" is found from the function's code and the domain layer in ``cdk.out`` (statically,
``infra.dependencies``), with each imported distribution's own requirements from its metadata.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from infra.dependencies import RUNTIME_TOP_LEVEL, Imports, distributions_for, reached_imports, top_level_names
from tests.conftest import Synth
from tests.support import ROOT

pytestmark = pytest.mark.infra

#: Shipped by the Lambda Python runtime: never in a layer.
RUNTIME = set(RUNTIME_TOP_LEVEL)  # boto3 and its dependencies, SnapStart's runtime hooks


def _asset(synth: Synth, resource: dict) -> Path:  # type: ignore[type-arg]
    return synth.outdir / resource["Metadata"]["aws:asset:path"]


def _top_level(site: Path) -> set[str]:
    """What a layer's ``python/`` folder makes importable, metadata folders aside."""
    names = set()
    for entry in site.iterdir():
        if entry.name.endswith((".dist-info", ".data")) or entry.name == "__pycache__":
            continue
        names.add(entry.name.split(".")[0] if entry.is_file() else entry.name)
    return names


def _functions(synth: Synth) -> dict[str, tuple[Path, str, Path | None, Path]]:
    """Function → (code folder, entry module, third-party layer site or None, domain layer site)."""
    layers = synth.resources("AWS::Lambda::LayerVersion")
    found = {}
    for logical, fn in synth.product_functions().items():
        if "aws:asset:path" not in fn.get("Metadata", {}):
            continue  # inline code of CDK's own helpers
        sites = [_asset(synth, layers[ref["Ref"]]) / "python" for ref in fn["Properties"].get("Layers", [])]
        common = [s for s in sites if (s / "callguard").is_dir()]
        deps = [s for s in sites if not (s / "callguard").is_dir()]
        assert len(common) == 1, logical
        assert len(deps) <= 1, logical
        module = fn["Properties"]["Handler"].rpartition(".")[0]
        found[logical] = (_asset(synth, fn), module, deps[0] if deps else None, common[0])
    return found


def _imports(code: Path, module: str, common: Path) -> Imports:
    return reached_imports(module, [code, common])


def _files(folder: Path) -> list[str]:
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def test_the_domain_layer_holds_the_domain_package_and_nothing_else(synth: Synth) -> None:
    """layers/common is also the domain package's project (its pyproject.toml, whatever an install
    leaves there): the layer is exactly ``python/callguard`` of the checkout, as /opt/python/callguard."""
    layers = [_asset(synth, layer) for layer in synth.resources("AWS::Lambda::LayerVersion").values()]
    common = [asset for asset in layers if (asset / "python" / "callguard").is_dir()]
    assert len(common) == 1
    source = ROOT / "layers" / "common"
    assert (source / "pyproject.toml").is_file()  # the project file exists, and stays out of the layer
    package = [f"python/callguard/{name}" for name in _files(source / "python" / "callguard")]
    assert "python/callguard/wiring.py" in package
    assert _files(common[0]) == package


def test_every_function_ships_exactly_what_it_imports(synth: Synth) -> None:
    functions = _functions(synth)
    assert len(functions) >= 9
    for logical, (code, module, site, common) in functions.items():
        imports = _imports(code, module, common)
        if site is None:
            assert imports.packages <= RUNTIME, logical
            continue
        needed = distributions_for(site, imports)  # raises if an import is not in the layer
        installed = metadata.distributions(path=[str(site)])
        installed = [d for d in installed if canonicalize_name(d.metadata["Name"]) in needed]
        allowed = {top for d in installed for top in top_level_names(d)}
        shipped = _top_level(site)
        assert not shipped & RUNTIME, f"{logical} ships what the runtime provides: {sorted(shipped & RUNTIME)}"
        assert shipped <= allowed, f"{logical} ships packages it never imports: {sorted(shipped - allowed)}"
        assert imports.packages - RUNTIME <= shipped, logical


def test_the_pre_token_trigger_ships_no_models_crypto_or_phone_numbers(synth: Synth) -> None:
    pre_token = next(v for k, v in _functions(synth).items() if k.startswith("IdentityPreToken"))
    site = pre_token[2]
    shipped = _top_level(site) if site else set()
    assert not shipped & {"pydantic", "pydantic_core", "cryptography", "phonenumbers", "aws_xray_sdk", "stdnum"}


def test_the_x_ray_sdk_ships_only_with_tracer_and_phone_numbers_without_their_data(synth: Synth) -> None:
    for logical, (code, module, site, common) in _functions(synth).items():
        imports = _imports(code, module, common)
        shipped = _top_level(site) if site else set()
        uses_tracer = bool({"aws_lambda_powertools.Tracer", "aws_lambda_powertools.tracing"} & imports.names)
        assert ("aws_xray_sdk" in shipped) == uses_tracer, logical
        assert not {n for n in imports.names if n.startswith(("phonenumbers.geocoder", "phonenumbers.carrier"))}
        assert not {n for n in imports.names if n.startswith("phonenumbers.timezone")}, logical
        if "phonenumbers" in shipped:
            assert site is not None
            assert not (site / "phonenumbers" / "geodata").exists(), f"{logical} ships the geocoder data"
