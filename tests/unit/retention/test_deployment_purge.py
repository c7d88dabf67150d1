"""One scheduled run over every tenant: the order, the shared time, what a failure does, the answer's shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from callguard.retention.purge import CategoryCounts, DeploymentPurge, PurgeReport, TenantPurgeFailedError
from callguard.security.audit_anchor import AnchorReport, AuditChainBrokenError, DeploymentAnchors

pytestmark = pytest.mark.unit

AS_OF = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


class FakePurge:
    """A tenant's purge that deletes ``deleted`` items, or fails, or runs until told to stop."""

    def __init__(self, tenant: str, *, deleted: int = 0, fails: bool = False, backlog: bool = False) -> None:
        self.tenant, self.deleted, self.fails, self.backlog = tenant, deleted, fails, backlog

    def run(self, as_of: datetime, should_stop: Any = lambda: False) -> PurgeReport:
        if self.fails:
            raise ConnectionError("the store said something about +49 151 0000000")
        report = PurgeReport(run_id=f"run-{self.tenant}", as_of=as_of.isoformat(), started_at=as_of.isoformat())
        report.categories["calls"] = CategoryCounts(expired=self.deleted, deleted=self.deleted)
        report.complete = True
        while self.backlog:  # a page at a time until the time is up
            if should_stop():
                report.complete = False
                break
        return report


def _fakes(**kwargs: Any) -> Any:
    """A ``build`` of fake purges, each with ``kwargs``."""
    return lambda tenant: FakePurge(tenant, **kwargs)


def test_a_single_tenant_deployment_answers_v1s_report_and_fails_as_v1_did() -> None:
    run = DeploymentPurge(tenants=("default",), build=_fakes(deleted=2)).run(AS_OF)
    answer = run.to_dict()
    assert "tenants" not in answer
    assert answer["categories"]["calls"]["deleted"] == 2
    with pytest.raises(ConnectionError):  # the error itself, as before tenants
        DeploymentPurge(tenants=("default",), build=_fakes(fails=True)).run(AS_OF)


def test_every_tenant_runs_even_after_one_fails_and_the_failure_names_tenant_and_type_only() -> None:
    ran: list[str] = []

    def build(tenant: str) -> Any:
        ran.append(tenant)
        return FakePurge(tenant, deleted=1, fails=tenant == "default")

    with pytest.raises(TenantPurgeFailedError) as failed:
        DeploymentPurge(tenants=("default", "acme-energie", "beta-gas"), build=build).run(AS_OF)
    assert ran == ["default", "acme-energie", "beta-gas"]
    run = failed.value.run
    assert run.failed == {"default": "ConnectionError"}
    assert set(run.reports) == {"acme-energie", "beta-gas"}
    assert not run.complete
    assert "+49" not in str(failed.value)
    assert "default (ConnectionError)" in str(failed.value)


def test_the_answer_is_the_default_tenants_report_with_the_listed_tenants_beside_it() -> None:
    run = DeploymentPurge(
        tenants=("default", "acme-energie"),
        build=lambda t: FakePurge(t, deleted=3 if t == "default" else 5),
    ).run(AS_OF)
    answer = run.to_dict()
    assert answer["run_id"] == "run-default"
    assert answer["categories"]["calls"]["deleted"] == 3
    assert answer["tenants"]["acme-energie"]["categories"]["calls"]["deleted"] == 5
    assert run.totals()["calls"].deleted == 8
    assert run.complete


def test_a_tenant_with_a_backlog_stops_at_its_share_of_the_time_and_the_next_tenant_gets_the_rest() -> None:
    clock = iter(range(9_000, -(10**9), -1_000))  # remaining ms, one second gone per look
    run = DeploymentPurge(
        tenants=("default", "acme-energie", "beta-gas"),
        build=lambda t: FakePurge(t, backlog=t != "beta-gas"),
    ).run(AS_OF, remaining_ms=lambda: next(clock))
    assert not run.reports["default"].complete  # used its third and stopped
    assert not run.reports["acme-energie"].complete  # used half of what was left
    assert run.reports["beta-gas"].complete  # still ran
    assert not run.complete


def test_a_broken_chain_of_one_tenant_is_not_signed_but_the_others_are() -> None:
    class Anchors:
        def __init__(self, tenant: str) -> None:
            self.tenant = tenant

        def anchor(self) -> AnchorReport:
            if self.tenant == "acme-energie":
                raise AuditChainBrokenError("the audit chain of 2027-02-28 is broken at entry 3")
            return AnchorReport(days=["2027-02-28"])

    signed: list[str] = []

    def build(tenant: str) -> Any:
        signed.append(tenant)
        return Anchors(tenant)

    with pytest.raises(AuditChainBrokenError, match="acme-energie"):
        DeploymentAnchors(tenants=("default", "acme-energie", "beta-gas"), build=build).anchor()
    assert signed == ["default", "acme-energie", "beta-gas"]
    report = DeploymentAnchors(tenants=("default", "beta-gas"), build=build).anchor()
    assert report.to_dict() == {
        "days_anchored": ["2027-02-28"],
        "checkpoint": None,
        "tenants": {"beta-gas": {"days_anchored": ["2027-02-28"], "checkpoint": None}},
    }
