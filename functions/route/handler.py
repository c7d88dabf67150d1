"""POST /v1/routing/decisions — thin: parse, decide (explainably), answer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.clients import Lazy, entry_point, register_snapstart_hooks
from callguard.edge.resolver import build_resolver, json_response
from callguard.edge.responses import parse_body
from callguard.models import RoutingRequest
from callguard.routing.service import RoutingService
from callguard.wiring import build_routing_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = build_resolver(logger, metrics)
service: Lazy[RoutingService] = Lazy(build_routing_service)
register_snapstart_hooks(service)  # SnapStart: no invocation's state, clients or seeds in a snapshot


@app.post("/v1/routing/decisions")
def post_decision() -> Response[str]:
    request = parse_body(app.current_event.raw_event, RoutingRequest)
    decision = service().route(request)
    # the balanced scorecard: share handled by AI, escalations, repeat callers
    metrics.add_metric(name="RoutingDecisions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="HandledByAI", unit=MetricUnit.Count, value=1 if decision.handled_by == "ai" else 0)
    metrics.add_metric(name="Escalations", unit=MetricUnit.Count, value=1 if decision.priority <= 2 else 0)
    repeat = any(r["factor"] == "repeat_caller" for r in decision.reasons)
    metrics.add_metric(name="RepeatCallers", unit=MetricUnit.Count, value=1 if repeat else 0)
    logger.info(
        "routing decided",
        extra={"queue": decision.queue, "priority": decision.priority, "handled_by": decision.handled_by},
    )
    return json_response(200, decision.public())


@entry_point(logger, metrics, service, tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
