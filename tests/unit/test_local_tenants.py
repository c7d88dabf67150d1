"""`make local` and `make demo` serve two tenants (the contract) without touching what `make deploy` builds:
they synthesize cdk.json's config plus the example tenants into .local/cdk.out."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from local.tenants import LOCAL_CDK_OUT, TENANTS_EXAMPLE, local_config
from tests.support import ROOT

pytestmark = pytest.mark.unit


def _cdk_json(tmp_path: Path, block: object) -> Path:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"app": "x", "context": {"callguard": block, "other": True}}))
    return path


def test_without_a_tenant_list_the_local_stack_gets_the_example_tenants_and_keeps_the_rest(tmp_path: Path) -> None:
    config = local_config(_cdk_json(tmp_path, {"removal": "destroy", "alarm_emails": ["ops@example.com"]}))
    example = json.loads(TENANTS_EXAMPLE.read_text())["tenants"]
    assert [t["id"] for t in example] == ["acme-energie"]
    assert config == {"removal": "destroy", "alarm_emails": ["ops@example.com"], "tenants": example}


def test_a_configured_tenant_list_is_served_as_it_is(tmp_path: Path) -> None:
    tenants = [{"id": "stadtwerk-nord", "controller": {"name": "Stadtwerk Nord"}}]
    assert local_config(_cdk_json(tmp_path, {"tenants": tenants})) == {"tenants": tenants}


def test_the_repositorys_config_lists_no_tenants_so_make_local_adds_acme_energie() -> None:
    """cdk.json (what `make deploy` deploys) stays a one-tenant deployment; the local stack gets two."""
    deployed = json.loads((ROOT / "cdk.json").read_text())["context"]["callguard"]
    assert not deployed.get("tenants")
    assert [t["id"] for t in local_config()["tenants"]] == ["acme-energie"]


def test_make_local_and_demo_synthesize_into_their_own_directory_never_cdk_out() -> None:
    make = shutil.which("make")
    assert make
    for target, command in (("local", "-m local serve"), ("demo", "-m local demo")):
        done = subprocess.run([make, "-n", "--no-print-directory", target], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=True)  # fmt: skip
        synth = [line for line in done.stdout.splitlines() if "/cdk synth" in line]
        assert len(synth) == 1, synth  # not `make synth` (cdk.out) as well
        assert f"-o {LOCAL_CDK_OUT.relative_to(ROOT)} " in synth[0]
        assert '-c "callguard=$(' in synth[0]
        assert "-m local local-config)" in synth[0]
        run = [line for line in done.stdout.splitlines() if command in line]
        assert run
        assert run[0].rstrip().endswith(f"--cdk-out {LOCAL_CDK_OUT.relative_to(ROOT)}")
