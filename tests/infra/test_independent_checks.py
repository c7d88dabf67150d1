"""Checks nobody here wrote: cfn-lint (with the cfn-lint-serverless rules) and checkov (offline)
over the synthesized template. Every finding must be acknowledged, with its reason, in
``infra/findings-acknowledged.yaml``; an acknowledgement that matches no finding fails too.

Both tools run once per session, side by side (about 20 s on this machine's two cores).
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Synth
from tests.support import ROOT

pytestmark = pytest.mark.infra

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
ACKNOWLEDGED = ROOT / "infra" / "findings-acknowledged.yaml"


@dataclass(frozen=True)
class Finding:
    tool: str
    rule: str
    resource: str
    message: str


@dataclass(frozen=True)
class Results:
    findings: list[Finding]
    checkov_summary: dict[str, Any]


def _cfn_lint(raw: str) -> Iterator[Finding]:
    for match in json.loads(raw or "[]"):
        path = match["Location"].get("Path") or ["", "<template>"]
        yield Finding("cfn-lint", match["Rule"]["Id"], str(path[1]), match["Message"])


def _checkov(raw: str) -> tuple[list[Finding], dict[str, Any]]:
    report = json.loads(raw)
    report = report[0] if isinstance(report, list) else report
    findings = [
        Finding("checkov", f["check_id"], f["resource"].split(".", 1)[1], f["check_name"])
        for f in report["results"]["failed_checks"]
    ]
    return findings, report["summary"]


@pytest.fixture(scope="session")
def results(console_synth: Synth) -> Results:
    assert CHECKOV.exists(), "checkov is not installed: run `make setup` (it installs requirements-checkov.txt)"
    # the template with the compliance console: v1's resources and the console's (a superset)
    template = str(console_synth.outdir / "Callguard.template.json")
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    lint = subprocess.Popen(  # both at once: each is mostly single-threaded
        [cfn_lint, "--append-rules", "cfn_lint_serverless.rules", "-f", "json", "--", template],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    checkov = subprocess.run(
        [str(CHECKOV), "--skip-download", "-f", template, "--framework", "cloudformation", "-o", "json", "--compact",
         "--quiet"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lint_out, lint_err = lint.communicate(timeout=300)
    assert lint.returncode in {0, 2, 4, 6, 8, 10, 12, 14}, lint_err[-2000:]  # bit flags: errors/warnings/infos
    assert checkov.returncode in {0, 1}, checkov.stderr[-2000:]
    checkov_findings, summary = _checkov(checkov.stdout)
    assert summary["parsing_errors"] == 0
    return Results([*_cfn_lint(lint_out), *checkov_findings], summary)


def acknowledged() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(ACKNOWLEDGED.read_text())
    return entries


def _covers(entry: dict[str, Any], finding: Finding) -> bool:
    return (entry["tool"], entry["rule"]) == (finding.tool, finding.rule) and any(
        fnmatch.fnmatchcase(finding.resource, pattern) for pattern in entry["resources"]
    )


def test_every_acknowledgement_names_a_tool_a_rule_resources_and_a_reason() -> None:
    for entry in acknowledged():
        assert set(entry) == {"tool", "rule", "reason", "resources"}, entry
        assert entry["tool"] in {"cfn-lint", "checkov"}
        assert len(entry["reason"]) >= 40, entry["rule"]
        assert entry["resources"], entry["rule"]
        assert all("*" not in r[:-1] for r in entry["resources"]), "a pattern may only end in the hash wildcard"


def test_no_finding_of_cfn_lint_or_checkov_is_unacknowledged(results: Results) -> None:
    entries = acknowledged()
    open_findings = [f for f in results.findings if not any(_covers(e, f) for e in entries)]
    assert open_findings == [], "\n".join(f"{f.tool} {f.rule} {f.resource}: {f.message}" for f in open_findings)


def test_no_acknowledgement_is_stale(results: Results) -> None:
    stale = [
        (entry["tool"], entry["rule"], pattern)
        for entry in acknowledged()
        for pattern in entry["resources"]
        if not any(_covers({**entry, "resources": [pattern]}, f) for f in results.findings)
    ]
    assert stale == [], f"acknowledged findings that no longer occur (remove them): {stale}"


def test_checkov_ran_its_cloudformation_checks(results: Results) -> None:
    summary = results.checkov_summary
    assert summary["passed"] > 400  # the checks really ran over the whole template
    assert summary["resource_count"] > 200
    print(  # noqa: T201 - the counts the README's proof section quotes (pytest -s shows them)
        f"\ncheckov {summary['checkov_version']}: passed {summary['passed']}, failed {summary['failed']} "
        f"(all acknowledged); cfn-lint: {sum(f.tool == 'cfn-lint' for f in results.findings)} findings, "
        "all acknowledged"
    )
