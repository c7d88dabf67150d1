"""The Makefile's contract: CDK_ARGS reaches every cdk command, make setup installs the CLI and the
domain package of this checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.unit

CONTEXT = """-c callguard='{"removal": "destroy"}'"""


def _dry_run(*args: str) -> str:
    make = shutil.which("make")
    assert make, "make is the project's entry point"
    done = subprocess.run(
        [make, "-n", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


@pytest.mark.parametrize("target", ["synth", "bootstrap", "diff", "deploy"])
def test_cdk_args_reach_every_cdk_command(target: str) -> None:
    commands = [line for line in _dry_run(target, f"CDK_ARGS={CONTEXT}").splitlines() if "/cdk " in line]
    assert len(commands) == 1, commands
    assert f"cdk {target}" in commands[0]
    assert commands[0].rstrip().endswith(CONTEXT)


def test_setup_installs_this_checkout_as_the_callguard_command() -> None:
    text = _dry_run("setup")
    assert "-e ." in text
    assert "--no-deps" in text
    assert f"file://{ROOT}" in text  # reinstalled when the venv's callguard points at another checkout
    assert 'callguard = "callguard_cli.__main__:app"' in (ROOT / "pyproject.toml").read_text()


def test_setup_installs_the_domain_package_of_this_checkout_editable() -> None:
    text = _dry_run("setup")
    assert "-e layers/common" in text
    assert f"file://{ROOT}/layers/common" in text  # reinstalled when it points at another checkout
    # the venv that runs this test: `callguard` is layers/common/python/callguard of this checkout,
    # found through the installed distribution (no sys.path edit, no pytest pythonpath)
    import callguard

    assert Path(callguard.__file__).resolve().parent == ROOT / "layers" / "common" / "python" / "callguard"
    direct = json.loads(metadata.distribution("callguard-domain").read_text("direct_url.json") or "{}")
    assert direct == {"dir_info": {"editable": True}, "url": f"file://{ROOT}/layers/common"}
