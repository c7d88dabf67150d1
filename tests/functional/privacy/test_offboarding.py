"""Offboarding a tenant through its real step handlers, against moto provisioned from the template
with the README's tenants; every AWS call a step makes is judged against that step's role (the
permission proof).

The seed: the default tenant (v1's keys), ``acme-energie`` and ``acme`` (a tenant id that is a
prefix of the other's), each with the same call id, the same subject id and the same object keys in
every table and bucket, and transcripts with several versions and a delete marker. Offboarding
``acme-energie`` removes exactly its keys and versions, leaves the other two byte-identical, and
certifies counts that match the seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from callguard.clients import AwsClients
from callguard.names import SERVICE_NAME, Env
from callguard.privacy.offboarding import TenantDataRemainsError, TenantNotOffboardableError
from callguard.privacy.offboarding_runner import STEPS, offboarding_step
from callguard.storage.scope import V1, TenantScope
from callguard.storage.tenant_data import OffboardingRuns
from callguard.wiring import build_offboarding
from local import permissions
from tests.conftest import Synth
from tests.functional.accounts import provisioned_account
from tests.support import FakeContext

pytestmark = pytest.mark.functional

REGION = "eu-central-1"
ACME = "acme-energie"
#: a tenant whose id begins another's: its data must survive the other's offboarding
SHORT = "acme"
ENV_VARS = (Env.KEYS_TABLE, Env.CALLS_TABLE, Env.SUBJECTS_TABLE, Env.IDEMPOTENCY_TABLE, Env.PRIVACY_TABLE,
            Env.AUDIT_TABLE, Env.TRANSCRIPTS_BUCKET, Env.EXPORTS_BUCKET, Env.RETENTION)  # fmt: skip
#: per seeded tenant: what lands in each store (the certificate must count exactly this)
SEEDED = {"subject_keys": 2, "calls": 3, "subjects": 2, "idempotency": 1, "privacy": 2, "audit": 2,
          "transcripts": 4, "exports": 1}  # fmt: skip


@pytest.fixture
def offboard_aws(monkeypatch: pytest.MonkeyPatch, tenant_synth: Synth) -> Iterator[dict[str, Any]]:
    with provisioned_account(monkeypatch, tenant_synth.template, ["OffboardingStepStartOffboarding"]) as account:
        env = {key.value: value for key, value in account["env"].items()}
        # the template lists acme-energie; the test adds "acme" beside it (a prefix of the other's id)
        assert json.loads(env[Env.OFFBOARDABLE_TENANTS.value]) == [ACME]
        env[Env.OFFBOARDABLE_TENANTS.value] = json.dumps([SHORT, ACME])
        monkeypatch.setenv(Env.OFFBOARDABLE_TENANTS.value, env[Env.OFFBOARDABLE_TENANTS.value])
        yield {"session": account["session"], "env": env, "clients": account["clients"]}


def seed(aws: dict[str, Any], scope: TenantScope) -> None:
    """The same ids in every tenant, each under the tenant's keys (what the stores write)."""
    ddb, s3, env = aws["session"].client("dynamodb"), aws["session"].client("s3"), aws["env"]
    s = {"S": "x"}
    items = {
        Env.KEYS_TABLE: [{"subject_id": {"S": scope.key(sid)}, "wrapped_key": {"B": b"k" * 32}}
                         for sid in ("subj-1", "subj-2")],
        Env.CALLS_TABLE: [{"pk": {"S": scope.key("CALL#cc-1")}, "sk": {"S": sk}, "v": s}
                          for sk in ("CALL", "ANALYSIS", "FOLLOWUP")],
        Env.SUBJECTS_TABLE: [{"pk": {"S": scope.key("ID#mac-of-the-phone")}, "sk": {"S": "LINK"}, "v": s},
                             {"pk": {"S": scope.key("SUBJECT#subj-1")}, "sk": {"S": "PROFILE"}, "v": s}],
        Env.IDEMPOTENCY_TABLE: [{"id": {"S": scope.key("ingest#0123abcd")}, "v": s}],
        Env.PRIVACY_TABLE: [{"pk": {"S": scope.key("REQ#pr-00000000000000000001")}, "sk": {"S": "REQ"}, "v": s},
                            {"pk": {"S": scope.key("HOLD#h-1")}, "sk": {"S": "HOLD"}, "v": s}],
        Env.AUDIT_TABLE: [{"pk": {"S": scope.key("AUDIT#2026-01-15")}, "sk": {"N": str(n)}, "v": s} for n in (1, 2)],
    }  # fmt: skip
    for table, rows in items.items():
        for row in rows:
            ddb.put_item(TableName=env[table], Item=row)
    transcripts, exports = env[Env.TRANSCRIPTS_BUCKET], env[Env.EXPORTS_BUCKET]
    key = scope.object_key("transcripts/subj-1/cc-1.sealed")
    for body in (b"sealed v1", b"sealed v2"):
        s3.put_object(Bucket=transcripts, Key=key, Body=body)
    s3.delete_object(Bucket=transcripts, Key=key)  # a delete marker over the two versions
    s3.put_object(Bucket=transcripts, Key=scope.object_key("transcripts/subj-2/cc-2.sealed"), Body=b"sealed")
    s3.put_object(Bucket=exports, Key=scope.object_key("exports/subj-1/pr-1.json"), Body=b"{}")


def snapshot(aws: dict[str, Any], owner: TenantScope) -> dict[str, Any]:
    """Every item (all attributes, as stored) and every object version (with its body) ``owner`` owns."""
    ddb, s3, env = aws["session"].client("dynamodb"), aws["session"].client("s3"), aws["env"]
    found: dict[str, Any] = {}
    tables = ((Env.KEYS_TABLE, "subject_id"), (Env.CALLS_TABLE, "pk"), (Env.SUBJECTS_TABLE, "pk"),
              (Env.IDEMPOTENCY_TABLE, "id"), (Env.PRIVACY_TABLE, "pk"), (Env.AUDIT_TABLE, "pk"))  # fmt: skip
    for table, partition in tables:
        items = [i for p in ddb.get_paginator("scan").paginate(TableName=env[table]) for i in p["Items"]]
        # the processor's own records of the offboarding (its journal, certificates and audit entries) aside
        owned = [i for i in items if owner.owns(i[partition]["S"]) and not i[partition]["S"].startswith("OFFBOARD")
                 and "tenant-offboarding" not in i.get("entry", {}).get("S", "")]  # fmt: skip
        found[table.name] = sorted(json.dumps(i, sort_keys=True, default=str) for i in owned)
    for bucket in (Env.TRANSCRIPTS_BUCKET, Env.EXPORTS_BUCKET):
        listed = s3.list_object_versions(Bucket=env[bucket])
        versions = []
        for v in listed.get("Versions", []):
            if owner.owns_object(v["Key"]):
                body = s3.get_object(Bucket=env[bucket], Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
                versions.append((v["Key"], v["VersionId"], body.decode()))
        markers = [(m["Key"], m["VersionId"]) for m in listed.get("DeleteMarkers", []) if owner.owns_object(m["Key"])]
        found[bucket.name] = (sorted(versions), sorted(markers))
    return found


def run_step(name: str, clients: AwsClients, tenant: Any) -> dict[str, Any]:
    """One step's handler as Lambda runs it, acting as that step's function of the template."""
    handler = offboarding_step(name)
    handler.clients = clients
    with permissions.acting_as(f"service:{SERVICE_NAME}-offboarding-{name}"):
        return handler({"tenant": tenant}, FakeContext())


def offboard(clients: AwsClients, tenant: str) -> dict[str, Any]:
    """The state machine's order: start, then each sweeping step while it answers ``more``, then the certificate."""
    run_step("start_offboarding", clients, tenant)
    for step in ("shred_tenant_keys", "delete_tenant_data", "verify_tenant_gone"):
        while run_step(step, clients, tenant)["more"]:
            pass
    return run_step("issue_offboarding_certificate", clients, tenant)


def test_offboarding_removes_exactly_the_tenants_data_and_certifies_what_it_removed(
    offboard_aws: dict[str, Any],
) -> None:
    scopes = {name: TenantScope(name) for name in ("default", ACME, SHORT)}
    for scope in scopes.values():
        seed(offboard_aws, scope)
    before = {name: snapshot(offboard_aws, scope) for name, scope in scopes.items()}
    assert before[ACME]["TRANSCRIPTS_BUCKET"][1], "the seed has a delete marker"

    certificate = offboard(offboard_aws["clients"], ACME)

    after = {name: snapshot(offboard_aws, scope) for name, scope in scopes.items()}
    assert all(not v for v in after[ACME].values() if isinstance(v, list))
    assert after[ACME]["TRANSCRIPTS_BUCKET"] == ([], [])
    assert after[ACME]["EXPORTS_BUCKET"] == ([], [])
    assert after["default"] == before["default"]  # v1's keys, byte for byte
    assert after[SHORT] == before[SHORT]  # "acme" begins "acme-energie" but is another tenant
    assert certificate["tenant"] == ACME
    assert {name: s["removed"] for name, s in certificate["stores"].items()} == SEEDED
    assert certificate["subject_keys_shredded"] == SEEDED["subject_keys"]
    assert certificate["verification"] == {**certificate["verification"], "result": "passed", "remaining": 0}
    assert certificate["keys_shredded_at"] <= certificate["data_deleted_at"] <= certificate["verified_at"]
    assert "subj-1" not in json.dumps(certificate)
    assert "cc-1" not in json.dumps(certificate)
    # kept where it outlives the tenant, and chained into the processor's audit log by its hash
    runs = OffboardingRuns(dynamodb=offboard_aws["clients"].dynamodb, table=offboard_aws["env"][Env.PRIVACY_TABLE])
    assert runs.certificates(ACME) == [certificate]
    audit = offboard_aws["session"].client("dynamodb").scan(TableName=offboard_aws["env"][Env.AUDIT_TABLE])["Items"]
    actions = [json.loads(i["entry"]["S"])["action"] for i in audit if "entry" in i and V1.owns(i["pk"]["S"])]
    assert actions.count("tenant_offboarded") == 1
    assert actions.count("tenant_offboarding_started") == 1


def test_the_default_tenant_an_unlisted_one_and_a_malformed_id_are_refused_before_anything_is_read(
    offboard_aws: dict[str, Any],
) -> None:
    seed(offboard_aws, V1)
    before = snapshot(offboard_aws, V1)
    for tenant in ("default", "globex", "T#acme-energie#", None, ["acme-energie"]):
        with pytest.raises(TenantNotOffboardableError):
            run_step("start_offboarding", offboard_aws["clients"], tenant)
        with pytest.raises(TenantNotOffboardableError):
            build_offboarding(offboard_aws["clients"], tenant=tenant)
    assert snapshot(offboard_aws, V1) == before


def test_a_step_that_dies_after_journaling_a_page_finishes_it_on_retry_and_counts_it_once(
    offboard_aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(offboard_aws, TenantScope(ACME))
    clients = offboard_aws["clients"]
    run_step("start_offboarding", clients, ACME)
    while run_step("shred_tenant_keys", clients, ACME)["more"]:
        pass
    # the deletion dies right after its first page was journaled (a Lambda timeout, a crash)
    from callguard.storage.tenant_data import TenantData

    real_delete = TenantData.delete
    calls = {"n": 0}

    def dies_once(self: TenantData, store: Any, keys: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("planted: the invocation died before deleting its page")
        real_delete(self, store, keys)

    monkeypatch.setattr(TenantData, "delete", dies_once)
    with pytest.raises(RuntimeError, match="planted"):
        run_step("delete_tenant_data", clients, ACME)
    # the retry (and a whole second execution started on top of it) resume the open run
    run_step("start_offboarding", clients, ACME)
    while run_step("delete_tenant_data", clients, ACME)["more"]:
        pass
    while run_step("verify_tenant_gone", clients, ACME)["more"]:
        pass
    certificate = run_step("issue_offboarding_certificate", clients, ACME)
    again = run_step("issue_offboarding_certificate", clients, ACME)  # a retried last step
    assert again == certificate
    assert {name: s["removed"] for name, s in certificate["stores"].items()} == SEEDED
    assert all(not v for v in snapshot(offboard_aws, TenantScope(ACME)).values() if isinstance(v, list))


def test_data_written_after_deletion_fails_verification_and_the_next_execution_removes_and_counts_it(
    offboard_aws: dict[str, Any],
) -> None:
    seed(offboard_aws, TenantScope(ACME))
    clients = offboard_aws["clients"]
    run_step("start_offboarding", clients, ACME)
    for step in ("shred_tenant_keys", "delete_tenant_data"):
        while run_step(step, clients, ACME)["more"]:
            pass
    # a late write (a still-running ingest, a compromised step writing after deletion)
    ddb = offboard_aws["session"].client("dynamodb")
    ddb.put_item(TableName=offboard_aws["env"][Env.CALLS_TABLE],
                 Item={"pk": {"S": f"T#{ACME}#CALL#late"}, "sk": {"S": "CALL"}})  # fmt: skip

    def verify() -> None:
        while run_step("verify_tenant_gone", clients, ACME)["more"]:
            pass

    with pytest.raises(TenantDataRemainsError, match="calls: 1"):
        verify()
    certificate = offboard(clients, ACME)  # the operator starts it again: the same run resumes
    assert certificate["stores"]["calls"]["removed"] == SEEDED["calls"] + 1
    assert certificate["verification"]["remaining"] == 0


def test_a_second_offboarding_after_a_certificate_certifies_only_what_was_found_since(
    offboard_aws: dict[str, Any],
) -> None:
    seed(offboard_aws, TenantScope(ACME))
    clients = offboard_aws["clients"]
    first = offboard(clients, ACME)
    second = offboard(clients, ACME)
    assert second["run_id"] != first["run_id"]
    assert all(s["removed"] == 0 for s in second["stores"].values())
    runs = OffboardingRuns(dynamodb=clients.dynamodb, table=offboard_aws["env"][Env.PRIVACY_TABLE])
    assert runs.certificates(ACME) == sorted([first, second], key=lambda c: c["run_id"])


def test_every_step_has_a_handler_file() -> None:
    from tests.support import ROOT

    assert sorted(p.stem for p in (ROOT / "functions" / "offboarding").glob("*.py")) == sorted(STEPS)


def test_a_compromised_deletion_step_cannot_delete_the_default_tenants_or_the_processors_items(
    offboard_aws: dict[str, Any],
) -> None:
    """The step's own check refuses another scope's key; and if its code were replaced, its role would not
    let it: batch writes of the offboarding roles carry ``dynamodb:LeadingKeys`` ``T#*`` (the proof shows AWS
    would deny a delete of v1's ``CALL#cc-1`` or of the journal's ``OFFBOARDING#…``; moto itself does not)."""
    from callguard.storage.dynamo import delete_keys
    from callguard.storage.tenant_data import Store, TenantData

    seed(offboard_aws, V1)
    env, clients = offboard_aws["env"], offboard_aws["clients"]
    calls = Store("calls", "table", env[Env.CALLS_TABLE], "pk", ("pk", "sk"))
    v1_key = {"pk": {"S": "CALL#cc-1"}, "sk": {"S": "CALL"}}
    with pytest.raises(ValueError, match="not the tenant's"):
        TenantData(dynamodb=clients.dynamodb, s3=clients.s3, scope=TenantScope(ACME)).delete(calls, [v1_key])
    model = permissions.active_model()
    assert model is not None
    permissions.activate(model, log=False)  # the denials below are the test's finding, not a failure of it
    try:
        with permissions.acting_as(f"service:{SERVICE_NAME}-offboarding-delete_tenant_data"):
            delete_keys(clients.dynamodb, env[Env.CALLS_TABLE], [v1_key])
            delete_keys(clients.dynamodb, env[Env.PRIVACY_TABLE],
                        [{"pk": {"S": f"OFFBOARDING#{ACME}"}, "sk": {"S": "RUN"}}])  # fmt: skip
            delete_keys(clients.dynamodb, env[Env.CALLS_TABLE], [{"pk": {"S": f"T#{ACME}#CALL#cc-1"}, "sk": s}
                                                                 for s in ({"S": "CALL"},)])  # fmt: skip
        denied = permissions.take_violations()
    finally:
        permissions.activate(model)
    assert [(v.call, v.resource.rsplit("/", 1)[-1]) for v in denied] == [
        ("dynamodb:BatchWriteItem", env[Env.CALLS_TABLE]),
        ("dynamodb:BatchWriteItem", env[Env.PRIVACY_TABLE]),
    ]  # the listed tenant's own partition passes
