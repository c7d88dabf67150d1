"""Daily: privacy requests due within 7 days or overdue → metrics (and the alarms on them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.clients import AwsClients, Lazy
from callguard.names import Env
from callguard.repository import all_items
from callguard.wiring import require_env

logger = Logger()
metrics = Metrics()
OPEN = ("received", "awaiting_verification", "in_progress")
WARN_DAYS = 7
clients: Lazy[AwsClients] = Lazy(lambda injected: injected)


def count_deadlines(now: datetime) -> dict[str, int]:
    items = all_items(
        clients().dynamodb,
        "scan",
        TableName=require_env(Env.PRIVACY_TABLE),
        FilterExpression="begins_with(pk, :r) AND #s IN (:a, :b, :c)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":r": {"S": "REQUEST#"},
            **{f":{k}": {"S": v} for k, v in zip("abc", OPEN, strict=True)},
        },
        ProjectionExpression="due_at, extended_due_at",
    )
    counts = {"open": len(items), "due_soon": 0, "overdue": 0}
    for item in items:
        due = datetime.fromisoformat(item.get("extended_due_at", item["due_at"])["S"])
        if due < now:
            counts["overdue"] += 1
        elif due < now + timedelta(days=WARN_DAYS):
            counts["due_soon"] += 1
    return counts


@logger.inject_lambda_context(clear_state=True, log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    counts = count_deadlines(datetime.now(UTC))
    metrics.add_metric(name="PrivacyRequestsOpen", unit=MetricUnit.Count, value=counts["open"])
    metrics.add_metric(name="PrivacyRequestsDueSoon", unit=MetricUnit.Count, value=counts["due_soon"])
    metrics.add_metric(name="PrivacyRequestsOverdue", unit=MetricUnit.Count, value=counts["overdue"])
    logger.info("privacy deadlines checked", extra=counts)
    return counts
