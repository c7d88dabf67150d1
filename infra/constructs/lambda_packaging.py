"""Lambda packaging without Docker: third-party layers built by ``pip --platform`` at synth.

``layers/deps/requirements.txt`` (with the Lambda-only substitutes) is installed once for the
Lambda platform (arm64, CPython 3.14) from wheels only; each function's layer is then the subset
of that install its code can import (``infra.dependencies``). Builds are cached under
``.build/`` keyed by the requirements' hash (and the subset), so repeated synths (tests,
``cdk diff``) reuse one download.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil

# B404 accepted: runs pip with fixed arguments to build the layer
import subprocess  # nosec B404
import sys
import tempfile
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_
from packaging.utils import canonicalize_name

from infra import ROOT
from infra.dependencies import distribution_files, distributions_for, reached_imports

__all__ = [
    "FUNCTIONS_DIR",
    "LAMBDA_ARCHITECTURE",
    "LAMBDA_RUNTIME",
    "common_layer_code",
    "function_code",
    "function_deps",
    "function_deps_code",
]

#: The newest Lambda Python runtime (cdk-nag AwsSolutions-L1); wheels are built for the same version.
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
PYTHON_VERSION = "3.14"
FUNCTIONS_DIR = ROOT / "functions"
LAYERS_DIR = ROOT / "layers"
BUILD_DIR = ROOT / ".build" / "layers"
#: The Lambda runtime ships boto3/botocore; keeping them out keeps the layer small.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
#: Lambda-only replacements of ``layers/deps/requirements.txt`` pins: same import names, less data.
#: phonenumberslite is phonenumbers without the geocoder, carrier and timezone data (19 of its
#: 23 MB), which no callguard code imports (a test checks); local runs keep the full package.
LAMBDA_SUBSTITUTES = {"phonenumbers": "phonenumberslite==9.0.42"}
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc"]


class LayerBuildError(RuntimeError):
    """pip could not build the layer for the Lambda platform."""


def lambda_requirements(requirements: Path) -> str:
    """``requirements`` with the Lambda-only substitutes in place of the pins they replace."""
    lines = []
    for line in requirements.read_text().splitlines():
        name = re.split(r"[\[=<>~!; ]", line.strip(), maxsplit=1)[0]
        substitute = LAMBDA_SUBSTITUTES.get(canonicalize_name(name)) if name and not line.startswith("#") else None
        lines.append(substitute or line)
    return "\n".join(lines) + "\n"


def _requirements_hash(requirements: Path) -> str:
    digest = hashlib.sha256(lambda_requirements(requirements).encode())
    digest.update("|".join((*PIP_PLATFORMS, PYTHON_VERSION, *PROVIDED_BY_RUNTIME)).encode())
    return digest.hexdigest()[:16]


def build_deps_layer(requirements: Path) -> Path:
    """Install ``requirements`` for the Lambda platform into a cached folder; return it."""
    target = BUILD_DIR / _requirements_hash(requirements)
    if (target / ".complete").exists():
        return target
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="layer-", dir=BUILD_DIR))
    (staging / "requirements.txt").write_text(lambda_requirements(requirements))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    for platform in PIP_PLATFORMS:
        command += ["--platform", platform]
    command += [
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--target", str(staging / "python"),
        "-r", str(staging / "requirements.txt"),
    ]  # fmt: skip
    # B603 accepted: sys.executable -m pip with arguments built here, no shell, no outside input
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LayerBuildError(f"pip could not build the Lambda layer:\n{result.stderr[-4000:]}")
    for name in PROVIDED_BY_RUNTIME:
        for path in (staging / "python").glob(f"{name}*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (staging / ".complete").write_text("ok\n")
    try:
        staging.rename(target)
    except OSError:  # a concurrent build finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


#: What ``layers/common`` holds besides the layer's ``python/`` folder: the domain package's
#: project file and what building or installing it may leave behind. Never in the layer.
COMMON_PROJECT_FILES = ["pyproject.toml", "*.egg-info", "**/*.egg-info", "build", "dist"]


def common_layer_code() -> lambda_.Code:
    """The domain layer: ``layers/common/python/callguard`` as ``/opt/python/callguard``, as Lambda's
    layer layout wants it (the same folder the venv installs in editable mode)."""
    return lambda_.Code.from_asset(str(LAYERS_DIR / "common"), exclude=[*ASSET_EXCLUDES, *COMMON_PROJECT_FILES])


def function_code(name: str, module: str = "handler") -> lambda_.Code:
    path = FUNCTIONS_DIR / name
    if not (path / f"{module}.py").is_file():
        raise FileNotFoundError(f"functions/{name}/{module}.py does not exist")
    return lambda_.Code.from_asset(str(path), exclude=ASSET_EXCLUDES)


def function_deps(name: str, module: str = "handler", requirements: Path | None = None) -> dict[str, set[str]]:
    """Distributions (name → extras) that ``functions/<name>/<module>.py`` needs from the deps layer:
    what it and the domain modules it reaches import, with their own requirements."""
    requirements = requirements or LAYERS_DIR / "deps" / "requirements.txt"
    site = build_deps_layer(requirements) / "python"
    imports = reached_imports(module, [FUNCTIONS_DIR / name, LAYERS_DIR / "common" / "python"])
    return distributions_for(site, imports)


def function_deps_code(
    distributions: dict[str, set[str]], requirements: Path | None = None
) -> tuple[str, lambda_.Code]:
    """(short digest, code) of a layer holding exactly ``distributions`` of the built deps layer."""
    requirements = requirements or LAYERS_DIR / "deps" / "requirements.txt"
    built = build_deps_layer(requirements)
    key = json.dumps(sorted((n, sorted(e)) for n, e in distributions.items()))
    digest = hashlib.sha256(f"{_requirements_hash(requirements)}|{key}".encode()).hexdigest()[:16]
    target = BUILD_DIR / f"subset-{digest}"
    if not (target / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix="subset-", dir=BUILD_DIR))
        for file in distribution_files(built / "python", distributions):
            destination = staging / "python" / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built / "python" / file, destination)
        (staging / "python" / ".complete").unlink(missing_ok=True)
        try:
            staging.rename(target)
        except OSError:  # a concurrent build finished first
            shutil.rmtree(staging, ignore_errors=True)
        else:
            (target / ".complete").write_text("ok\n")
    code = lambda_.Code.from_asset(
        str(target), asset_hash_type=AssetHashType.CUSTOM, asset_hash=digest, exclude=[".complete"]
    )
    return digest, code
