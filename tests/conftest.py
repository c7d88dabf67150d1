"""Session-wide fixtures. The CDK app is synthesized once per session (CLI, like `make synth`).

The permission proof (local/permissions.py) is hooked in here once: every AWS call a function makes
in this process or in a local stack started from it (which inherits ``CALLGUARD_PERMISSION_LOG``)
is judged against the function's role in the template, and a test during which a call was denied
fails, naming the function, the call and the missing statement.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local import permissions
from tests.support import ROOT

permissions.install()
_CREATED_LOG = not os.environ.get("CALLGUARD_PERMISSION_LOG")
if _CREATED_LOG:
    _handle, _path = tempfile.mkstemp(prefix="callguard-permissions-", suffix=".jsonl")
    os.close(_handle)
    os.environ["CALLGUARD_PERMISSION_LOG"] = _path
PERMISSION_LOG = Path(os.environ["CALLGUARD_PERMISSION_LOG"])


def _denials_since(offset: int) -> tuple[list[str], int]:
    if not PERMISSION_LOG.exists():
        return [], offset
    with PERMISSION_LOG.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    complete, _, _ = data.rpartition(b"\n")
    records = [json.loads(line) for line in complete.splitlines() if line.strip()]
    lines = [r["violation"] for r in records if "violation" in r]
    return lines, offset + len(complete) + (1 if complete else 0)


def _judged() -> dict[str, set[str]]:
    calls: dict[str, set[str]] = {}
    if PERMISSION_LOG.exists():
        for line in PERMISSION_LOG.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if "judged" in record:
                calls.setdefault(record["judged"][0], set()).add(record["judged"][1])
    return calls


_LOG_OFFSET = {"at": PERMISSION_LOG.stat().st_size if PERMISSION_LOG.exists() else 0}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Denials after the last test (a local stack's background work) still fail the run."""
    denied, _LOG_OFFSET["at"] = _denials_since(_LOG_OFFSET["at"])
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    judged = _judged()
    if reporter is not None and judged:
        total = sum(len(c) for c in judged.values())
        reporter.write_line(
            f"permission proof: {total} distinct calls of {len(judged)} functions judged against the template "
            f"({', '.join(sorted(judged))})"
        )
    if denied:
        if reporter is not None:
            reporter.write_line("AWS calls that would be denied in AWS, after the last test:", red=True)
            for line in dict.fromkeys(denied):
                reporter.write_line(f"- {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _CREATED_LOG:
        PERMISSION_LOG.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def aws_permissions_hold() -> Iterator[None]:
    """Fails the test if a function made an AWS call its role (or a key policy) would not allow."""
    permissions.take_violations()
    yield
    permissions.take_violations()  # (also written to the log, read below)
    denied, _LOG_OFFSET["at"] = _denials_since(_LOG_OFFSET["at"])
    if denied:
        unique = list(dict.fromkeys(denied))
        pytest.fail(
            f"{len(unique)} AWS call(s) would be denied in AWS (function, call, missing statement):\n"
            + "\n".join(f"- {line}" for line in unique),
            pytrace=False,
        )


#: logical-id prefixes of functions CDK itself adds for deployment-time custom resources (the console's
#: BucketDeployment copies its files and invalidates CloudFront): no product code, no personal data,
#: never invoked by a request; tests/infra holds product functions to the product's rules
CDK_PROVIDER_PREFIXES = ("CustomCDKBucketDeployment",)


def is_cdk_provider(logical_id: str) -> bool:
    return logical_id.startswith(CDK_PROVIDER_PREFIXES)


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: dict[str, Any]
    report: dict[str, Any]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def product_functions(self) -> dict[str, dict[str, Any]]:
        """The product's Lambda functions (without CDK's deployment-time providers)."""
        return {k: v for k, v in self.resources("AWS::Lambda::Function").items() if not is_cdk_provider(k)}


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


#: the app with the compliance console (it needs a CLOUDFRONT web ACL from us-east-1, named in the config:
#: docs/console.md): its infra tests and the independent checks run on this template (a superset of v1's)
TEST_WEB_ACL_ARN = (
    "arn:aws:wafv2:us-east-1:123456789012:global/webacl/callguard-console/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
)
CONSOLE_CONTEXT = "callguard=" + json.dumps({"console": {"web_acl_arn": TEST_WEB_ACL_ARN}})


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk") / "cdk.out"
    result = run_cdk_synth(outdir)
    assert result.returncode == 0, f"cdk synth failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    template = json.loads((outdir / "Callguard.template.json").read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(outdir=outdir, template=template, report=report)


@pytest.fixture(scope="session")
def console_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app synthesized with the compliance console (``console.web_acl_arn`` set)."""
    outdir = tmp_path_factory.mktemp("cdk-console") / "cdk.out"
    result = run_cdk_synth(outdir, CONSOLE_CONTEXT)
    assert result.returncode == 0, f"cdk synth failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    template = json.loads((outdir / "Callguard.template.json").read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(outdir=outdir, template=template, report=report)


#: the example tenant list of the README (docs/tenants.example.json): ``default`` plus ``acme-energie``
TENANTS_EXAMPLE = ROOT / "docs" / "tenants.example.json"


@pytest.fixture(scope="session")
def tenant_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The app synthesized with the README's two tenants (as ``make synth CDK_ARGS=...`` would)."""
    outdir = tmp_path_factory.mktemp("cdk-tenants") / "cdk.out"
    config = json.dumps(json.loads(TENANTS_EXAMPLE.read_text()))
    result = run_cdk_synth(outdir, f"callguard={config}")
    assert result.returncode == 0, f"cdk synth failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    template = json.loads((outdir / "Callguard.template.json").read_text())
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synth(outdir=outdir, template=template, report=report)
