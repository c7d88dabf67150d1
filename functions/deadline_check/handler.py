"""Daily: privacy requests due within 7 days or overdue → metrics (and the alarms on them), for every
tenant of the deployment. Thin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.clients import Lazy, entry_point
from callguard.privacy.workflow import DeadlineCheck, DeadlineReport
from callguard.wiring import build_deadline_check

logger = Logger()
metrics = Metrics()
check: Lazy[DeadlineCheck] = Lazy(build_deadline_check)

_METRICS = {
    "PrivacyRequestsListedLate": "listed_late",
    "PrivacyRequestsOpen": "open",
    "PrivacyRequestsDueSoon": "due_soon",
    "PrivacyRequestsOverdue": "overdue",
}


@entry_point(logger, metrics, check)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    # one scan: every tenant's counts, and requests from before the compliance queue's index join their list
    reports = check().by_tenant(datetime.now(UTC))
    total = DeadlineReport.total(reports.values())
    for name, field in _METRICS.items():  # the deployment's (the alarms of v1 watch these)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(total, field))
    if len(reports) > 1:  # tenants listed: each tenant's counts too, under its own dimension
        for tenant, report in reports.items():
            for name, field in _METRICS.items():
                with single_metric(
                    name=name,
                    unit=MetricUnit.Count,
                    value=getattr(report, field),
                    namespace=metrics.namespace,
                    default_dimensions=metrics.default_dimensions,
                ) as metric:
                    metric.add_dimension(name="tenant", value=tenant)
            logger.info("privacy deadlines checked", extra={"tenant": tenant, **report.counts()})
    counts = total.counts()
    logger.info("privacy deadlines checked", extra=counts | {"listed_late": total.listed_late})
    return counts
