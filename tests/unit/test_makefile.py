"""The Makefile's contract: CDK_ARGS reaches every cdk command, make setup installs the CLI."""

from __future__ import annotations

import shutil
import subprocess

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
