"""S3 "Object Created" (via EventBridge → the import queue) → import of a Contact Lens or
Transcribe Call Analytics file. Thin: parse the event, call the domain, report.

Powertools ``BatchProcessor`` reports partial batch failures: a transient failure (Connect
throttling, an outage) returns only that message to the queue, and after the queue's
maxReceiveCount it lands in the import DLQ. A bad *file* is not a failure: the domain copies it
to the quarantine prefix with its reason, and the ``ImportQuarantined`` metric counts it per
reason. Log lines carry the call id, status and reason only, never file content.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.calls.importer import ImportService
from callguard.clients import Lazy, entry_point
from callguard.names import METRICS_NAMESPACE
from callguard.wiring import build_import_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
service: Lazy[ImportService] = Lazy(build_import_service)


class MalformedEventError(ValueError):
    """The message is not an S3 object-created event; it will end in the DLQ."""


def objects(body: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(bucket, key, version id) of an EventBridge S3 event or an S3 event notification."""
    if body.get("source") == "aws.s3" and body.get("detail-type") == "Object Created":
        detail = body["detail"]
        return [(detail["bucket"]["name"], detail["object"]["key"], detail["object"].get("version-id"))]
    if isinstance(body.get("Records"), list):  # S3 event notifications (keys are URL-encoded)
        return [
            (r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]), r["s3"]["object"].get("versionId"))
            for r in body["Records"]
            if str(r.get("eventName", "")).startswith("ObjectCreated:")
        ]
    raise MalformedEventError("message is not an S3 object-created event")


def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    try:
        found = objects(json.loads(record.body))
    except (KeyError, TypeError, json.JSONDecodeError):
        raise MalformedEventError("message is not an S3 object-created event") from None
    results = []
    for bucket, key, version in found:
        outcome = service().handle(bucket, key, version)
        logger.info(
            "import handled",
            extra={"call_id": outcome.call_id, "status": outcome.status, "reason": outcome.reason},
        )
        metrics.add_metric(name=f"Import{outcome.status.title()}", unit=MetricUnit.Count, value=1)
        if outcome.status == "quarantined":
            with single_metric(
                name="ImportQuarantined", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
            ) as metric:
                metric.add_dimension(name="reason", value=str(outcome.reason))
        if outcome.redacted_input and outcome.status == "imported":
            metrics.add_metric(name="ImportRedactedOnly", unit=MetricUnit.Count, value=1)
        results.append(outcome.__dict__)
    return results


@entry_point(logger, metrics, service, tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
