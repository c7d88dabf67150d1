"""The audit log of a deployment with two tenants: one hash chain per tenant (``AUDIT#<day>`` for the
default tenant, as in v1; ``T#<tenant>#AUDIT#<day>`` for a listed one), each anchored, verified and
purged on its own.

Attacker's view: one tenant's signed anchor replayed as another's; the latest entries of one tenant's
chain deleted; one tenant's audit retention shorter than the other's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.names import Env
from callguard.retention.purge import DeploymentPurge
from callguard.security.audit_anchor import AuditAnchors, DeploymentAnchors, day_key
from callguard.storage.scope import TenantScope
from callguard.wiring import build_audit_anchors, build_audit_verifier, build_retention_purge, parts
from tests.functional.retention.test_purge_tenants import ACME_AUDIT_DAYS, acme_retention

pytestmark = pytest.mark.functional

ACME = "acme-energie"
TENANTS = ("default", ACME)


class Chains:
    def __init__(self, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.aws, self.env = aws, aws["env"]
        self.s3 = aws["session"].client("s3")
        self.ddb = aws["session"].client("dynamodb")
        monkeypatch.setenv(Env.TENANT_SETTINGS.value, acme_retention(self.env))
        self.t0 = datetime.now(UTC)
        self.day = self.t0.date().isoformat()
        self.logs = {t: parts(aws["clients"], tenant=t).audit_log() for t in TENANTS}
        for tenant, count in (("default", 3), (ACME, 2)):
            for n in range(count):
                self.logs[tenant].append(actor=f"{tenant}-agent", action="read_call", resource=f"call/cc-{n}")

    def anchors(self, tenant: str) -> AuditAnchors:
        anchors = build_audit_anchors(self.aws["clients"], tenant=tenant)
        anchors.clock = lambda: self.t0 + timedelta(days=1, hours=1)  # the day is closed
        return anchors

    def anchor_all(self) -> dict[str, Any]:
        return DeploymentAnchors(tenants=TENANTS, build=self.anchors).anchor().to_dict()


@pytest.fixture
def chains(tenant_aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Chains:
    return Chains(tenant_aws, monkeypatch)


def test_each_tenant_has_its_own_chain_anchored_and_verified_on_its_own(chains: Chains) -> None:
    assert [e.entry["actor"] for e in chains.logs["default"].entries(chains.day)] == ["default-agent"] * 3
    assert [e.entry["actor"] for e in chains.logs[ACME].entries(chains.day)] == [f"{ACME}-agent"] * 2
    stored = chains.ddb.scan(TableName=chains.env[Env.AUDIT_TABLE])["Items"]
    assert {i["pk"]["S"] for i in stored} == {f"AUDIT#{chains.day}", f"T#{ACME}#AUDIT#{chains.day}"}

    report = chains.anchor_all()
    assert chains.day in report["days_anchored"]  # the default tenant's report keeps v1's shape
    assert chains.day in report["tenants"][ACME]["days_anchored"]
    keys = {v["Key"] for v in chains.s3.list_object_versions(Bucket=chains.env[Env.AUDIT_ANCHORS_BUCKET])["Versions"]}
    assert {day_key(chains.day), f"tenants/{ACME}/days/{chains.day}.json"} <= keys
    for tenant, entries in (("default", 3), (ACME, 2)):
        verdict = chains.anchors(tenant).verify(chains.day)
        assert verdict.ok, (tenant, verdict.problems)
        assert verdict.entries == entries
    # what `callguard audit verify --tenant` builds: the audit table, bucket and key are all it needs
    names = (Env.AUDIT_TABLE, Env.AUDIT_ANCHORS_BUCKET, Env.AUDIT_ANCHOR_KEY_ID)
    verifier = build_audit_verifier(chains.aws["clients"], {n.value: chains.env[n] for n in names}, tenant=ACME)
    assert verifier.verify(chains.day).entries == 2


def test_one_tenants_anchor_replayed_as_anothers_and_a_deleted_entry_are_seen_in_that_chain_only(
    chains: Chains,
) -> None:
    chains.anchor_all()
    bucket = chains.env[Env.AUDIT_ANCHORS_BUCKET]
    acme_anchor = chains.s3.get_object(Bucket=bucket, Key=day_key(chains.day, TenantScope(ACME)))["Body"].read()
    # acme-energie's validly signed anchor of the same day, put where the default tenant's is
    chains.s3.put_object(Bucket=bucket, Key=day_key(chains.day), Body=acme_anchor)
    assert not chains.anchors("default").verify(chains.day).ok
    assert chains.anchors(ACME).verify(chains.day).ok

    # the latest entry of acme-energie's day deleted: its chain fails, the default tenant's is not concerned
    chains.ddb.delete_item(
        TableName=chains.env[Env.AUDIT_TABLE],
        Key={"pk": {"S": f"T#{ACME}#AUDIT#{chains.day}"}, "sk": {"N": "2"}},
    )
    verdict = chains.anchors(ACME).verify(chains.day)
    assert not verdict.ok
    assert any("entries" in p for p in verdict.problems)


def test_each_tenants_audit_entries_go_by_its_own_retention_once_its_own_day_is_anchored(chains: Chains) -> None:
    as_of = chains.t0 + timedelta(days=ACME_AUDIT_DAYS + 1)

    def purge() -> Any:
        return DeploymentPurge(
            tenants=TENANTS, build=lambda t: build_retention_purge(chains.aws["clients"], tenant=t)
        ).run(as_of)

    # only the default tenant's day is anchored: acme-energie's expired entries stay (unanchored history)
    chains.anchors("default").anchor()
    run = purge()
    assert run.reports[ACME].categories["audit"].deleted == 0
    assert run.reports[ACME].audit_unanchored == 2
    assert len(chains.logs[ACME].entries(chains.day)) == 2

    chains.anchor_all()
    run = purge()
    assert run.reports[ACME].categories["audit"].deleted == 2
    assert chains.logs[ACME].entries(chains.day) == []
    # the default tenant keeps its audit for six years: none of its entries went with acme-energie's
    assert run.reports["default"].categories["audit"].expired == 0
    assert len(chains.logs["default"].entries(chains.day)) == 3
    assert chains.anchors("default").verify(chains.day).ok
