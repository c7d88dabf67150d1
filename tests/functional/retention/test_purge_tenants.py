"""The retention purge of a deployment with two tenants (the README's ``default`` and ``acme-energie``):
each tenant's data goes by its own retention, in its own partitions, under its own holds, with its own
report; one tenant failing leaves no other unpurged and nothing unreported.

Attacker's view: tenant B (``acme-energie``) keeps data for shorter than tenant A (``default``); the same
call id and the same caller exist in both; an item of A even carries B's expiry-partition key (a
writer's bug, or a compromised one). B's purge must not touch A's data, and a hold of either tenant
must protect only that tenant's data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.models import CallIn, HoldIn
from callguard.names import Env
from callguard.retention.policy import DataCategory
from callguard.retention.purge import DeploymentPurge, TenantPurgeFailedError
from callguard.security.tenant_settings import TenantSettingsDocument
from callguard.storage.expiry import PurgeReports, expiry_attributes
from callguard.storage.scope import V1, TenantScope
from callguard.wiring import build_ingest_service, build_privacy_service, build_retention_purge, parts
from tests.support import FakeContext, call_body, load_handler

pytestmark = pytest.mark.functional

ACME = "acme-energie"
B = TenantScope(ACME)
#: acme-energie's shorter periods in this deployment (the deployment's: 90 and 6 * 365 days)
ACME_DECISION_DAYS, ACME_AUDIT_DAYS = 10, 400
CALL_ID = "cc-shared-1"  # the same call id in both tenants
CUSTOMER = "K-4711"  # the same authenticated customer id in both tenants


def acme_retention(env: dict[Env, str]) -> str:
    """The deployment's tenant settings with acme-energie keeping decisions and audit for shorter."""
    document = TenantSettingsDocument.from_env(env[Env.TENANT_SETTINGS])
    acme = document.settings_of(ACME)
    retention = {**acme.retention, "routing_decisions": ACME_DECISION_DAYS, "audit": ACME_AUDIT_DAYS}
    changed = document.tenants | {ACME: acme.model_copy(update={"retention": retention})}
    return TenantSettingsDocument(tenants=changed).to_env()


class Tenants:
    def __init__(self, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.aws, self.env = aws, aws["env"]
        self.ddb = aws["session"].client("dynamodb")
        monkeypatch.setenv(Env.PURGE_ALLOW_FUTURE.value, "1")
        monkeypatch.setenv(Env.TENANT_SETTINGS.value, acme_retention(self.env))
        self.t0 = datetime.now(UTC)
        self.policy = {
            "default": parts(aws["clients"]).retention,
            ACME: parts(aws["clients"], tenant=ACME).retention,
        }
        assert self.policy[ACME].days(DataCategory.ROUTING_DECISIONS) == ACME_DECISION_DAYS
        assert self.policy["default"].days(DataCategory.ROUTING_DECISIONS) == 90
        # the same authenticated customer calls both brands: two subjects
        self.subject = {t: self._ingest(t, f"cc-ingest-{t}") for t in ("default", ACME)}
        assert self.subject["default"] != self.subject[ACME]
        self.handler = load_handler("purge")
        self.handler.purge(aws["clients"])

    def _ingest(self, tenant: str, call_id: str) -> str:
        caller = {"customer_id": CUSTOMER, "verification": {"identifiers": ["customer_id"], "method": "ivr_pin"}}
        call = CallIn.model_validate_json(json.dumps(call_body(call_id=call_id, caller=caller)))
        return build_ingest_service(self.aws["clients"], tenant=tenant).ingest(call).subject_id

    def decision(self, tenant: str, name: str, *, expiry_scope: TenantScope | None = None) -> dict[str, Any]:
        """A routing decision of ``tenant``'s call ``CALL_ID`` as its store keeps it: the tenant's keys, its
        retention's ``expires_at``, its expiry partition (or ``expiry_scope``'s, as a faulty writer would)."""
        scope = TenantScope(tenant)
        key = {"pk": {"S": scope.key(f"CALL#{CALL_ID}")}, "sk": {"S": f"DECISION#{name}"}}
        item = {
            **key,
            "subject_id": {"S": self.subject[tenant]},
            **expiry_attributes(self.policy[tenant], DataCategory.ROUTING_DECISIONS, self.t0, expiry_scope or scope),
        }
        self.ddb.put_item(TableName=self.env[Env.CALLS_TABLE], Item=item)
        return key

    def exists(self, key: dict[str, Any]) -> bool:
        return "Item" in self.ddb.get_item(TableName=self.env[Env.CALLS_TABLE], Key=key)

    def purge(self, days: float) -> dict[str, Any]:
        as_of = self.t0 + timedelta(days=days)
        report: dict[str, Any] = self.handler.lambda_handler({"as_of": as_of.isoformat()}, FakeContext(900_000))
        return report

    def stored_reports(self, scope: TenantScope) -> list[dict[str, Any]]:
        reports = PurgeReports(
            dynamodb=self.ddb, table=self.env[Env.PRIVACY_TABLE], retention=self.policy[scope.tenant], scope=scope
        )
        return reports.of_day(datetime.now(UTC).date().isoformat())


@pytest.fixture
def tenants(tenant_aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Tenants:
    return Tenants(tenant_aws, monkeypatch)


def test_b_purges_only_its_own_items_by_its_shorter_retention_and_never_as(
    tenants: Tenants, capsys: pytest.CaptureFixture[str]
) -> None:
    mine_a = tenants.decision("default", "a")
    mine_b = tenants.decision(ACME, "b")
    # A's item filed in B's expiry partition, already "expired" there: B's run must still leave it alone
    forged = tenants.decision("default", "forged", expiry_scope=B)
    tenants.ddb.update_item(
        TableName=tenants.env[Env.CALLS_TABLE],
        Key=forged,
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(tenants.t0.timestamp()) - 86400)}},
    )

    capsys.readouterr()
    report = tenants.purge(ACME_DECISION_DAYS + 1)  # B's period is over, A's is not
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["PurgeForeignEntries"] for m in emitted if "PurgeForeignEntries" in m] == [[1.0]]  # the forged one

    assert not tenants.exists(mine_b)
    assert tenants.exists(mine_a)
    assert tenants.exists(forged)
    assert report["complete"]
    assert set(report["tenants"]) == {ACME}
    acme = report["tenants"][ACME]
    assert acme["complete"]
    assert acme["categories"]["routing_decisions"]["deleted"] == 1
    assert acme["categories"]["routing_decisions"]["expired"] == 1  # the forged entry is not B's to count
    assert report["categories"]["routing_decisions"]["deleted"] == 0
    # each tenant's report under its own key (T#acme-energie#PURGE#<day>); the default tenant's in v1's
    # place (PURGE#<day>) and shape
    (stored_default,) = tenants.stored_reports(V1)
    (stored_acme,) = tenants.stored_reports(B)
    assert stored_default == {k: v for k, v in report.items() if k != "tenants"}
    assert stored_acme == acme
    assert set(stored_default) == {"run_id", "as_of", "started_at", "complete", "duration_ms", "items_read",
                                   "categories"}  # fmt: skip

    tenants.purge(91)  # A's own period is over now
    assert not tenants.exists(mine_a)


@pytest.mark.parametrize("holder", ["default", ACME])
def test_a_legal_hold_protects_its_own_tenants_data_only(tenants: Tenants, holder: str) -> None:
    other = ACME if holder == "default" else "default"
    held = tenants.decision(holder, "held")
    unheld = tenants.decision(other, "unheld")  # the same customer id, the same call id, the other tenant
    hold = HoldIn.model_validate({"subject": {"customer_id": CUSTOMER}, "reason": "pending litigation"})
    build_privacy_service(tenants.aws["clients"], tenant=holder).add_hold(hold)

    report = tenants.purge(91)

    assert tenants.exists(held)
    assert not tenants.exists(unheld)
    by_tenant = {"default": report, ACME: report["tenants"][ACME]}
    assert by_tenant[holder]["categories"]["routing_decisions"]["held"] >= 1
    assert by_tenant[other]["categories"]["routing_decisions"]["held"] == 0


def test_a_failing_tenant_is_reported_and_the_others_are_still_purged(
    tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine_a = tenants.decision("default", "a")
    mine_b = tenants.decision(ACME, "b")

    def broken(tenant: str) -> Any:
        purge = build_retention_purge(tenants.aws["clients"], tenant=tenant)
        if tenant == "default":
            monkeypatch.setattr(purge.index, "expired", _raise)
        return purge

    run = DeploymentPurge(tenants=("default", ACME), build=broken)
    with pytest.raises(TenantPurgeFailedError, match=r"default \(ConnectionError\)") as failed:
        run.run(tenants.t0 + timedelta(days=91))

    assert failed.value.run.failed == {"default": "ConnectionError"}
    assert failed.value.run.reports[ACME].complete
    assert not tenants.exists(mine_b)  # the other tenant was purged
    assert tenants.exists(mine_a)
    # the failed tenant's run is on record: incomplete, with the error's type and nothing of its message
    (stored,) = tenants.stored_reports(V1)
    assert stored["complete"] is False
    assert stored["error"] == "ConnectionError"
    assert "secret" not in json.dumps(stored)
    assert not failed.value.run.complete


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise ConnectionError("the store is gone (secret detail)")


def test_time_is_shared_so_a_backlog_of_one_tenant_does_not_starve_the_next(tenants: Tenants) -> None:
    remaining = iter(range(10_000, -(10**9), -1000))  # each look at the clock costs a second
    seen: list[str] = []

    def build(tenant: str) -> Any:
        seen.append(tenant)
        return build_retention_purge(tenants.aws["clients"], tenant=tenant)

    tenants.decision(ACME, "b")
    run = DeploymentPurge(tenants=("default", ACME), build=build).run(
        tenants.t0 + timedelta(days=91), remaining_ms=lambda: next(remaining)
    )
    assert seen == ["default", ACME]
    assert not run.reports["default"].complete  # out of its half of the time: carries on next run
    assert run.reports[ACME].categories["routing_decisions"].deleted == 1  # the next tenant still ran
