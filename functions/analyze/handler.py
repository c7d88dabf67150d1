"""SQS → analysis of ingested calls. Thin: parse the message, call the domain, report.

Powertools ``BatchProcessor`` reports partial batch failures, so only the failed
messages return to the queue (and reach the DLQ after the queue's maxReceiveCount).
Analysis is idempotent per call (the analysis item is written once, conditionally).

A listed tenant's call comes with its tenant in the message (ingest wrote it from the verified
token): the analysis acts for that tenant (its intents, retention and subject keys); a tenant the
deployment does not list fails the record (it ends in the DLQ). v1's message names no tenant.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callguard.analysis.service import AnalysisService
from callguard.clients import Lazy, entry_point
from callguard.names import CALL_ID_PATTERN, TENANT_DIMENSION
from callguard.security.tenancy import DEFAULT_TENANT, TENANT_ID_PATTERN, acting_for
from callguard.wiring import build_analysis_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# A fully failed batch is reported item by item too (not raised), so the invocation itself succeeds.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class AnalysisMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_id: str = Field(pattern=CALL_ID_PATTERN)
    #: a listed tenant's call names it (ingest writes it from the verified token); v1's message has none
    tenant: str = Field(default=DEFAULT_TENANT, pattern=TENANT_ID_PATTERN)


class MalformedMessageError(ValueError):
    """The message is not an analysis request; it will end in the DLQ."""


service: Lazy[AnalysisService] = Lazy(build_analysis_service)


def _count(tenant: str, name: str, value: float) -> None:
    """One metric of a record: the default tenant's on the invocation's metric set (v1), a listed
    tenant's on its own with the ``tenant`` dimension (its scorecard; a batch may mix tenants)."""
    if tenant == DEFAULT_TENANT:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value, default_dimensions={TENANT_DIMENSION: tenant}):
        pass


def record_handler(record: SQSRecord) -> None:
    try:
        message = AnalysisMessage.model_validate(json.loads(record.body))
    except (ValidationError, json.JSONDecodeError):
        raise MalformedMessageError("message is not an analysis request") from None
    tenant = message.tenant
    with acting_for(tenant):  # the call's tenant: its intents, retention and subject keys
        outcome = service().analyze(message.call_id)
    logger.info(
        "call analysed",
        extra={"call_id": outcome.call_id, "status": outcome.status, "reason": outcome.reason, "tenant": tenant},
    )
    _count(tenant, f"Analysis{outcome.status.title()}", 1)
    if outcome.followup:
        _count(tenant, "FollowupsOpened", 1)
    if outcome.followups_closed:
        _count(tenant, "FollowupsClosed", outcome.followups_closed)
    if outcome.sentiment_shift is not None:
        _count(tenant, "SentimentShift", outcome.sentiment_shift)
    units = sum(outcome.units.values())
    if units:
        _count(tenant, "ComprehendUnits", units)


@entry_point(logger, metrics, service, tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
