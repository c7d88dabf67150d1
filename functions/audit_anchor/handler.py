"""Audit anchoring (EventBridge Scheduler, every few minutes; on demand locally). Thin: run, report.

Closes every day not yet anchored up to yesterday (signed day anchors linked day to day) and
signs a checkpoint of today's entries so far, for each tenant's chain in turn. A broken chain is
never signed: the run fails (after the other tenants' chains), its error alarm fires, and the
failed event goes to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.clients import Lazy, entry_point
from callguard.security.audit_anchor import DeploymentAnchors
from callguard.wiring import build_deployment_anchors

logger = Logger()
metrics = Metrics()
anchors: Lazy[DeploymentAnchors] = Lazy(build_deployment_anchors)


@entry_point(logger, metrics, anchors)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = anchors().anchor()
    metrics.add_metric(name="AuditDaysAnchored", unit=MetricUnit.Count, value=len(report.days))
    metrics.add_metric(name="AuditCheckpoints", unit=MetricUnit.Count, value=report.checkpoints)
    logger.info("audit anchored", extra={"days": len(report.days), "checkpoints": report.checkpoints})
    return report.to_dict()
