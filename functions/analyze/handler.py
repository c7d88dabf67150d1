"""SQS → analysis of ingested calls. Thin: parse the message, call the domain, report.

Powertools ``BatchProcessor`` reports partial batch failures, so only the failed
messages return to the queue (and reach the DLQ after the queue's maxReceiveCount).
Analysis is idempotent per call (the analysis item is written once, conditionally).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callguard.analysis.service import AnalysisService
from callguard.clients import Lazy, entry_point
from callguard.names import CALL_ID_PATTERN
from callguard.wiring import build_analysis_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# A fully failed batch is reported item by item too (not raised), so the invocation itself succeeds.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class AnalysisMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str = Field(pattern=CALL_ID_PATTERN)


class MalformedMessageError(ValueError):
    """The message is not an analysis request; it will end in the DLQ."""


service: Lazy[AnalysisService] = Lazy(build_analysis_service)


def record_handler(record: SQSRecord) -> None:
    try:
        message = AnalysisMessage.model_validate(json.loads(record.body))
    except (ValidationError, json.JSONDecodeError):
        raise MalformedMessageError("message is not an analysis request") from None
    outcome = service().analyze(message.call_id)
    logger.info("call analysed", extra={"call_id": outcome.call_id, "status": outcome.status, "reason": outcome.reason})
    metrics.add_metric(name=f"Analysis{outcome.status.title()}", unit=MetricUnit.Count, value=1)
    if outcome.followup:
        metrics.add_metric(name="FollowupsOpened", unit=MetricUnit.Count, value=1)
    if outcome.followups_closed:
        metrics.add_metric(name="FollowupsClosed", unit=MetricUnit.Count, value=outcome.followups_closed)
    if outcome.sentiment_shift is not None:
        metrics.add_metric(name="SentimentShift", unit=MetricUnit.Count, value=outcome.sentiment_shift)
    units = sum(outcome.units.values())
    if units:
        metrics.add_metric(name="ComprehendUnits", unit=MetricUnit.Count, value=units)


@entry_point(logger, metrics, service, tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
