"""Nightly retention purge (EventBridge Scheduler, Europe/Berlin). Thin: parse, run, report.

The event is ``{}`` (purge as of now) or ``{"as_of": ISO-8601}``. The run stops with
``STOP_MARGIN_MS`` of its time left and reports ``complete: false``; the next scheduled run
of the night carries on. Metrics: items purged per category, object versions, held items,
whether the run completed (an alarm fires when no run of a night did).

One run purges every tenant of the deployment in turn (``DeploymentPurge``), each in its own
expiry partitions with its own report; the answer is the default tenant's report (v1's shape) with
``tenants`` beside it when tenants are listed. A tenant whose purge failed is logged by id and
error type, the others are purged, metrics are emitted, and then the invocation fails (the error
alarm fires; the next scheduled run tries again).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from callguard.clients import Lazy, entry_point
from callguard.models import PurgeRequest, PurgeRequestError
from callguard.names import Env
from callguard.retention.purge import DeploymentPurge, PurgeRun, TenantPurgeFailedError
from callguard.wiring import build_deployment_purge

logger = Logger()
metrics = Metrics()
STOP_MARGIN_MS = 60_000
purge: Lazy[DeploymentPurge] = Lazy(build_deployment_purge)


@entry_point(logger, metrics, purge)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = PurgeRequest.model_validate(event or {})
        as_of = request.instant(datetime.now(UTC), allow_future=os.environ.get(Env.PURGE_ALLOW_FUTURE.value) == "1")
    except ValidationError:
        raise PurgeRequestError("as_of must be an ISO-8601 instant, e.g. 2027-03-01T02:00:00Z.") from None
    failure: TenantPurgeFailedError | None = None
    try:
        run = purge().run(
            as_of,
            should_stop=lambda: context.get_remaining_time_in_millis() < STOP_MARGIN_MS,
            remaining_ms=lambda: context.get_remaining_time_in_millis() - STOP_MARGIN_MS,
        )
    except TenantPurgeFailedError as exc:
        failure, run = exc, exc.run
    _report(run)
    if failure is not None:
        raise failure
    return run.to_dict()


def _report(run: PurgeRun) -> None:
    """Metrics over every tenant (one per category, as the dashboards and alarms read them) and a log
    line per tenant: counts, ids and error types only."""
    for category, counts in run.totals().items():
        for name, value in (("ItemsPurged", counts.deleted), ("ItemsHeld", counts.held),
                            ("ObjectVersionsPurged", counts.object_versions)):  # fmt: skip
            # one metric per category (its own dimension), beside the service's, as the alarms read it
            with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace,
                               default_dimensions={"service": str(metrics.service)}) as metric:  # fmt: skip
                metric.add_dimension(name="category", value=category)
    metrics.add_metric(name="PurgeItemsRead", unit=MetricUnit.Count, value=run.items_read)
    metrics.add_metric(name="AuditEntriesUnanchored", unit=MetricUnit.Count, value=run.audit_unanchored)
    # entries of another tenant's item found in a tenant's expiry partitions (left alone): a store's bug
    metrics.add_metric(name="PurgeForeignEntries", unit=MetricUnit.Count, value=run.foreign)
    metrics.add_metric(name="PurgeComplete", unit=MetricUnit.Count, value=int(run.complete))
    for tenant, report in run.reports.items():
        logger.info(
            "retention purge finished",
            extra={"tenant": tenant, "complete": report.complete, "deleted": report.deleted,
                   "items_read": report.items_read, "duration_ms": report.duration_ms, "run_id": report.run_id},
        )  # fmt: skip
    for tenant, error in run.failed.items():
        logger.error("retention purge failed", extra={"tenant": tenant, "error": error})
