"""Lambda packaging without Docker: layers built by ``pip --platform`` in CDK local bundling.

The third-party layer is installed for the Lambda platform (arm64, CPython 3.14) from
wheels only. Builds are cached under ``.build/`` keyed by the requirements' hash, so
repeated synths (tests, ``cdk diff``) reuse one download.
"""

from __future__ import annotations

import hashlib
import shutil

# B404 accepted: runs pip with fixed arguments to build the layer
import subprocess  # nosec B404
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import ROOT

__all__ = [
    "FUNCTIONS_DIR",
    "LAMBDA_ARCHITECTURE",
    "LAMBDA_RUNTIME",
    "common_layer_code",
    "deps_layer_code",
    "function_code",
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
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc"]


class LayerBuildError(RuntimeError):
    """pip could not build the layer for the Lambda platform."""


def _requirements_hash(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update("|".join((*PIP_PLATFORMS, PYTHON_VERSION, *PROVIDED_BY_RUNTIME)).encode())
    return digest.hexdigest()[:16]


def build_deps_layer(requirements: Path) -> Path:
    """Install ``requirements`` for the Lambda platform into a cached folder; return it."""
    target = BUILD_DIR / _requirements_hash(requirements)
    if (target / ".complete").exists():
        return target
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="layer-", dir=BUILD_DIR))
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    for platform in PIP_PLATFORMS:
        command += ["--platform", platform]
    command += [
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--target", str(staging / "python"),
        "-r", str(requirements),
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


@jsii.implements(ILocalBundling)
class _PipLocalBundling:
    def __init__(self, requirements: Path) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        built = build_deps_layer(self._requirements)
        shutil.copytree(built / "python", Path(output_dir) / "python", dirs_exist_ok=True)
        return True


def deps_layer_code(name: str = "deps") -> lambda_.Code:
    """Code of the third-party layer ``layers/<name>`` (its ``requirements.txt``)."""
    source = LAYERS_DIR / name
    requirements = source / "requirements.txt"
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=_requirements_hash(requirements),
        bundling=BundlingOptions(
            # Never used: local bundling always succeeds. Kept because CDK requires an image.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=_PipLocalBundling(requirements),
        ),
    )


def common_layer_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(LAYERS_DIR / "common"), exclude=ASSET_EXCLUDES)


def function_code(name: str, module: str = "handler") -> lambda_.Code:
    path = FUNCTIONS_DIR / name
    if not (path / f"{module}.py").is_file():
        raise FileNotFoundError(f"functions/{name}/{module}.py does not exist")
    return lambda_.Code.from_asset(str(path), exclude=ASSET_EXCLUDES)
