"""Daily: privacy requests due within 7 days or overdue → metrics (and the alarms on them). Thin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.clients import Lazy, entry_point
from callguard.privacy.workflow import DeadlineCheck
from callguard.wiring import build_deadline_check

logger = Logger()
metrics = Metrics()
check: Lazy[DeadlineCheck] = Lazy(build_deadline_check)


@entry_point(logger, metrics, check)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    # one scan: the counts, and requests from before the compliance queue's index join it
    report = check().run(datetime.now(UTC))
    counts = report.counts()
    metrics.add_metric(name="PrivacyRequestsListedLate", unit=MetricUnit.Count, value=report.listed_late)
    metrics.add_metric(name="PrivacyRequestsOpen", unit=MetricUnit.Count, value=counts["open"])
    metrics.add_metric(name="PrivacyRequestsDueSoon", unit=MetricUnit.Count, value=counts["due_soon"])
    metrics.add_metric(name="PrivacyRequestsOverdue", unit=MetricUnit.Count, value=counts["overdue"])
    logger.info("privacy deadlines checked", extra=counts | {"listed_late": report.listed_late})
    return counts
