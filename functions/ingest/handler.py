"""POST /v1/calls and POST /v1/calls/{call_id}/segments — thin: parse, call the domain, answer.

Idempotent on ``call_id`` (Powertools Idempotency; the stored response holds ids only).
Nothing personal is logged: log lines carry the call id, status codes and error codes.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.clients import Lazy, entry_point, register_snapstart_hooks
from callguard.edge.resolver import build_resolver, json_response
from callguard.edge.responses import parse_body
from callguard.errors import CallConflictError, NotFoundError
from callguard.models import CallAccepted, CallIn, LiveSegments, is_call_id
from callguard.wiring import IngestApi, build_ingest_api

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def _conflict(_: Exception) -> CallConflictError:
    return CallConflictError("A different call was already stored under this call_id.")


def _in_progress(_: Exception) -> CallConflictError:
    error = CallConflictError("This call is being stored by another request; retry shortly.")
    error.code = "call_in_progress"
    return error


app = build_resolver(
    logger,
    metrics,
    {
        IdempotencyValidationError: _conflict,
        IdempotencyAlreadyInProgressError: _in_progress,
    },
)


dependencies: Lazy[IngestApi] = Lazy(build_ingest_api)
register_snapstart_hooks(dependencies)  # SnapStart: no invocation's state, clients or seeds in a snapshot


@app.post("/v1/calls")
def post_call() -> Response[str]:
    call = parse_body(app.current_event.raw_event, CallIn)
    logger.append_keys(call_id=call.call_id)
    deps = dependencies()  # built for the tenant the edge resolved from the token
    deps.idempotency_config.register_lambda_context(app.lambda_context)
    accepted: CallAccepted = deps.ingest(call=call)
    metrics.add_metric(name="CallsAccepted", unit=MetricUnit.Count, value=1)
    if accepted.analysis == "queued":
        metrics.add_metric(name="AnalysisQueued", unit=MetricUnit.Count, value=1)
    logger.info("call accepted", extra={"analysis": accepted.analysis})
    return json_response(202, accepted)


@app.post("/v1/calls/<call_id>/segments")
def post_segments(call_id: str) -> Response[str]:
    if not is_call_id(call_id):
        raise NotFoundError("No call with this id.")
    body = parse_body(app.current_event.raw_event, LiveSegments)
    logger.append_keys(call_id=call_id)
    result = dependencies().live.append(call_id, body.segments)
    metrics.add_metric(name="LiveSegments", unit=MetricUnit.Count, value=len(body.segments))
    if result["live"]["escalate"]:
        metrics.add_metric(name="LiveEscalations", unit=MetricUnit.Count, value=1)
    logger.info("live segments added", extra={"escalate": result["live"]["escalate"]})
    return json_response(200, result)


@entry_point(logger, metrics, dependencies, tracer, cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
