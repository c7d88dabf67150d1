"""The agent's reads: ``GET /v1/calls/{call_id}`` (redacted, audited) and ``GET /v1/followups``. Thin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.calls.agent_view import AgentViewService
from callguard.clients import Lazy, entry_point, register_snapstart_hooks
from callguard.edge.resolver import actor_of, build_resolver, json_response
from callguard.errors import NotFoundError, RequestValidationError
from callguard.models import is_call_id
from callguard.wiring import build_agent_view_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = build_resolver(logger, metrics)
service: Lazy[AgentViewService] = Lazy(build_agent_view_service)
register_snapstart_hooks(service)  # SnapStart: no invocation's state, clients or seeds in a snapshot


@app.get("/v1/calls/<call_id>")
def get_call(call_id: str) -> Response[str]:
    if not is_call_id(call_id):
        raise NotFoundError("No call with this id.")
    logger.append_keys(call_id=call_id)
    view = service().view(call_id, actor_of(app.current_event.raw_event))
    metrics.add_metric(name="CallViewed", unit=MetricUnit.Count, value=1)
    logger.info("call viewed", extra={"analysis": view["analysis"]["status"]})
    return json_response(200, view)


@app.get("/v1/followups")
def get_followups() -> Response[str]:
    raw = app.current_event.get_query_string_value("due_before")  # absent: now; empty is no instant
    try:
        due_before = datetime.now(UTC) if raw is None else datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise RequestValidationError(
            "due_before must be an ISO-8601 instant.",
            [{"field": "due_before", "issue": "datetime_parsing", "message": "Expected ISO-8601"}],
        ) from None
    if due_before.tzinfo is None:
        raise RequestValidationError(
            "due_before needs a time zone.",
            [{"field": "due_before", "issue": "timezone_aware", "message": "Add Z or an offset"}],
        )
    try:
        instant = due_before.astimezone(UTC)  # year 1 or 9999 with an offset lies outside UTC's range
    except OverflowError:
        raise RequestValidationError(
            "due_before is out of range.",
            [{"field": "due_before", "issue": "datetime_range", "message": "Out of range"}],
        ) from None
    result = service().followups(instant.isoformat(), actor_of(app.current_event.raw_event))
    return json_response(200, result)


@entry_point(logger, metrics, service, tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
