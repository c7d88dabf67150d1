"""The compliance team's API: privacy requests and legal holds. Thin: parse, call the domain, answer."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from callguard.clients import Lazy, entry_point, register_snapstart_hooks
from callguard.edge.resolver import actor_of, build_resolver, json_response
from callguard.edge.responses import parse_body, raw_body, validation_details
from callguard.errors import NotFoundError, RequestValidationError
from callguard.models import ExtendIn, HoldIn, HoldLiftIn, PrivacyRequestIn, RequestListQuery, VerifyIn
from callguard.wiring import PrivacyApi, build_privacy_api

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = build_resolver(logger, metrics)
_ID = re.compile(r"^[a-z]+-[0-9a-f]{20}$")
_TICKET = re.compile(r"^[A-Za-z0-9_-]{43}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


dependencies: Lazy[PrivacyApi] = Lazy(build_privacy_api)
register_snapstart_hooks(dependencies)  # SnapStart: no invocation's state, clients or seeds in a snapshot


def _checked(identifier: str) -> str:
    if not _ID.match(identifier):
        raise NotFoundError("No such privacy request or hold.")
    return identifier


def _actor() -> str:
    """The person (or client) calling, from the token: never from the body."""
    return actor_of(app.current_event.raw_event)


def _audit(action: str, resource: str) -> None:
    """Appends to the audit log; the domain calls it before the change it records takes effect."""
    dependencies().audit.append(actor=_actor(), action=action, resource=resource)


@app.post("/v1/privacy/requests")
def post_request() -> Response[str]:
    body = parse_body(app.current_event.raw_event, PrivacyRequestIn)
    answer = dependencies().service.submit(body, actor=_actor(), record=_audit)
    metrics.add_metric(name="PrivacyRequests", unit=MetricUnit.Count, value=1)
    logger.info("privacy request received", extra={"request_id": answer["request_id"], "type": body.type})
    return json_response(202, answer)


@app.post("/v1/privacy/requests/<request_id>/verify")
def post_verify(request_id: str) -> Response[str]:
    body = parse_body(app.current_event.raw_event, VerifyIn)
    answer = dependencies().service.verify(_checked(request_id), body, actor=_actor(), record=_audit)
    return json_response(200, answer)


@app.post("/v1/privacy/requests/<request_id>/approve")
def post_approve(request_id: str) -> Response[str]:
    answer = dependencies().service.approve(_checked(request_id), actor=_actor(), record=_audit)
    return json_response(200, answer)


@app.post("/v1/privacy/requests/<request_id>/extend")
def post_extend(request_id: str) -> Response[str]:
    body = parse_body(app.current_event.raw_event, ExtendIn)
    _audit("privacy_deadline_extended", f"privacy/{_checked(request_id)}")
    answer = dependencies().service.extend(request_id, body)
    return json_response(200, answer)


@app.get("/v1/privacy/requests/<request_id>")
def get_request(request_id: str) -> Response[str]:
    deps = dependencies()
    _audit("privacy_request_read", f"privacy/{_checked(request_id)}")

    def download_link(bucket: str, key: str) -> str:
        # a single-use, short-lived link to the audited download endpoint, never the storage itself
        _audit("privacy_export_download_issued", f"privacy/{request_id}")
        ticket = deps.service.issue_download(request_id, _actor())
        return f"{_base_url()}/v1/privacy/requests/{request_id}/download?ticket={ticket}"

    answer = deps.service.view(request_id, presign=download_link)
    return json_response(200, answer)


@app.get("/v1/privacy/requests/<request_id>/download")
def get_download(request_id: str) -> Response[str]:
    """Redeem a download ticket once: audited with the person, then a redirect to the export
    (a storage URL valid for a minute)."""
    ticket = app.current_event.get_query_string_value("ticket") or ""
    if not _TICKET.match(ticket):
        raise NotFoundError("No valid download ticket: it was used, has expired or never existed.")
    deps = dependencies()
    where = deps.service.redeem_download(_checked(request_id), ticket, _actor(), record=_audit)
    url = deps.presign(where["bucket"], where["key"])
    return Response(status_code=303, content_type="application/json", body="{}",
                    headers={"Location": url, "Cache-Control": "no-store"})  # fmt: skip


def _base_url() -> str:
    """Where this API is reachable, as the caller reached it (API Gateway: https and its host)."""
    headers = {k.lower(): v for k, v in (app.current_event.headers or {}).items()}
    host = headers.get("host", "")
    scheme = headers.get("x-forwarded-proto") or ("http" if host.startswith(("127.0.0.1", "localhost")) else "https")
    return f"{scheme}://{host}"


@app.post("/v1/privacy/holds")
def post_hold() -> Response[str]:
    body = parse_body(app.current_event.raw_event, HoldIn)
    answer = dependencies().service.add_hold(body, record=_audit, actor=_actor())
    return json_response(201, answer)


@app.delete("/v1/privacy/holds/<hold_id>")
def delete_hold(hold_id: str) -> Response[str]:
    """Lift a hold; the body with a reason is optional (v1 clients send none)."""
    body = (
        parse_body(app.current_event.raw_event, HoldLiftIn) if raw_body(app.current_event.raw_event).strip() else None
    )
    dependencies().service.lift_hold(_checked(hold_id), record=_audit, actor=_actor(), body=body)
    return json_response(200, {"hold_id": hold_id, "status": "lifted"})


@app.get("/v1/privacy/requests")
def list_requests() -> Response[str]:
    """The request queue, newest deadline first; the read is on the audit record first."""
    try:
        query = RequestListQuery.model_validate(app.current_event.query_string_parameters or {})
    except ValidationError as exc:
        raise RequestValidationError(
            "The query does not match the schema.", validation_details(exc, RequestListQuery)
        ) from None
    _audit("privacy_requests_listed", "privacy/requests")
    return json_response(200, dependencies().desk.list_requests(query))


@app.get("/v1/privacy/holds")
def list_holds() -> Response[str]:
    _audit("legal_holds_listed", "hold/*")
    return json_response(200, dependencies().desk.list_holds())


@app.get("/v1/audit/days/<day>")
def get_audit_day(day: str) -> Response[str]:
    """Verification and counts of one UTC day of the audit chain (this read is on it too)."""
    try:
        when = date.fromisoformat(day) if _DAY.match(day) else None
    except ValueError:
        when = None
    if when is None:
        raise NotFoundError("No such audit day: expected a date as yyyy-mm-dd.")
    _audit("audit_day_verified", f"audit/{when.isoformat()}")
    return json_response(200, dependencies().desk.audit_day(when))


@entry_point(logger, metrics, dependencies, tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
