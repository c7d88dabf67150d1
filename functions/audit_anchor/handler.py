"""Audit anchoring (EventBridge Scheduler, every few minutes; on demand locally). Thin: run, report.

Closes every day not yet anchored up to yesterday (signed day anchors linked day to day) and
signs a checkpoint of today's entries so far. A broken chain is never signed: the run fails,
its error alarm fires, and the failed event goes to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.clients import Lazy, entry_point
from callguard.security.audit_anchor import AuditAnchors
from callguard.wiring import build_audit_anchors

logger = Logger()
metrics = Metrics()
anchors: Lazy[AuditAnchors] = Lazy(build_audit_anchors)


@entry_point(logger, metrics, anchors)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = anchors().anchor()
    metrics.add_metric(name="AuditDaysAnchored", unit=MetricUnit.Count, value=len(report.days))
    metrics.add_metric(name="AuditCheckpoints", unit=MetricUnit.Count, value=int(report.checkpoint is not None))
    logger.info("audit anchored", extra={"days": len(report.days), "checkpoint": report.checkpoint is not None})
    return report.to_dict()
