"""Tenant offboarding on the embedded stack with the README's tenants: `make offboard TENANT=` starts the
state machine (moto executes the synthesized ASL, each task reaching the step's handler), prints only the
certificate, and leaves the default tenant's data byte-identical; the default tenant and an unlisted
tenant are refused by the workflow itself."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import Synth
from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACME = "acme-energie"


@pytest.fixture(scope="module")
def tenant_stack(tenant_synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tenant_synth.outdir, tmp_path_factory.mktemp("local-offboarding") / "state.json")
    yield running
    stop_stack(running)


def make_offboard(stack: RunningStack, tenant: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLGUARD_LOCAL_STATE": str(stack.state_file)}
    return subprocess.run(
        ["make", "-s", "offboard", f"TENANT={tenant}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _everything(stack: RunningStack) -> dict[str, list[str]]:
    """Every item of every table and every object version of every bucket, as text, by store."""
    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    found: dict[str, list[str]] = {}
    for table in ddb.list_tables()["TableNames"]:
        items = [i for p in ddb.get_paginator("scan").paginate(TableName=table) for i in p["Items"]]
        found[table] = sorted(json.dumps(i, sort_keys=True, default=repr) for i in items)
    for bucket in s3.list_buckets()["Buckets"]:
        listed = s3.list_object_versions(Bucket=bucket["Name"])
        found[bucket["Name"]] = sorted(f"{v['Key']}@{v['VersionId']}" for v in listed.get("Versions", []))
    return found


def _seed(stack: RunningStack, prefix: str, object_prefix: str) -> None:
    """The same call id, subject id and object keys under a tenant's keys (what its stores write)."""
    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    tables = ddb.list_tables()["TableNames"]
    (calls,) = [t for t in tables if "DataCalls" in t]
    (keys,) = [t for t in tables if "DataSubjectKeys" in t]
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if "datatranscripts" in b["Name"]]
    ddb.put_item(TableName=calls, Item={"pk": {"S": f"{prefix}CALL#cc-1"}, "sk": {"S": "CALL"}})
    ddb.put_item(TableName=keys, Item={"subject_id": {"S": f"{prefix}subj-1"}, "wrapped_key": {"B": b"k" * 32}})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key=f"{object_prefix}transcripts/subj-1/cc-1.sealed", Body=body)


def test_make_offboard_runs_the_state_machine_and_prints_only_the_certificate(tenant_stack: RunningStack) -> None:
    _seed(tenant_stack, "", "")  # the default tenant: v1's keys
    _seed(tenant_stack, f"T#{ACME}#", f"tenants/{ACME}/")
    before = _everything(tenant_stack)
    result = make_offboard(tenant_stack, ACME)
    assert result.returncode == 0, result.stderr[-3000:]
    certificate = json.loads(result.stdout)  # only the certificate on stdout
    assert certificate["tenant"] == ACME
    assert certificate["subject_keys_shredded"] == 1
    assert certificate["stores"]["calls"]["removed"] == 1
    assert certificate["stores"]["transcripts"]["removed"] == 2
    assert certificate["verification"]["remaining"] == 0
    after = _everything(tenant_stack)
    owned = (f'"T#{ACME}#', f"tenants/{ACME}/")  # its partition keys, its object keys
    assert any(o in e for entries in before.values() for e in entries for o in owned)
    for store, entries in after.items():
        assert not any(o in e for e in entries for o in owned), store
        # everything else unchanged (new entries: only the processor's journal, certificate and audit entries)
        assert {e for e in before.get(store, []) if not any(o in e for o in owned)} <= set(entries), store


@pytest.mark.parametrize("tenant", ["default", "globex"])
def test_the_default_tenant_and_an_unlisted_one_are_refused_by_the_workflow(
    tenant_stack: RunningStack, tenant: str
) -> None:
    before = _everything(tenant_stack)
    result = make_offboard(tenant_stack, tenant)
    assert result.returncode != 0  # the command exits 1 (make reports it as 2)
    assert result.stdout == ""
    assert "TenantNotOffboardableError" in result.stderr
    assert _everything(tenant_stack) == before
