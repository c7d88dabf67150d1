"""Session-wide fixtures. The CDK app is synthesized once per session (CLI, like `make synth`)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: dict[str, Any]
    report: dict[str, Any]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}


def cdk_env() -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = ROOT / "node_modules" / ".bin"
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    env["JSII_NODE"] = str(bin_dir / "node")
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    for name in ("CALLGUARD_REGION", "CALLGUARD_ACCOUNT"):
        env.pop(name, None)
    return env


def run_cdk_synth(outdir: Path, *context: str) -> subprocess.CompletedProcess[str]:
    args = [str(ROOT / "node_modules" / ".bin" / "cdk"), "synth", "--no-notices", "--quiet", "-o", str(outdir)]
    for item in context:
        args += ["-c", item]
    return subprocess.run(args, cwd=ROOT, env=cdk_env(), capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk") / "cdk.out"
    result = run_cdk_synth(outdir)
    assert result.returncode == 0, f"cdk synth failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    template = json.loads((outdir / "Callguard.template.json").read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(outdir=outdir, template=template, report=report)
