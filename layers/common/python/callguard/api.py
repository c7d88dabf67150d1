"""The HTTP edge shared by the API functions: one resolver set-up, one error mapping.

Every error leaves in the contract's shape; unexpected exceptions are logged by type
only (their text may quote data) and answered 500 without detail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from .errors import CallguardError, NotFoundError
from .http import error_body, json_body
from .names import API_PREFIX

__all__ = ["ContractResolver", "actor_of", "build_resolver", "json_response"]


def json_response(status: int, payload: Any) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json_body(payload))


class ContractResolver(APIGatewayRestResolver):
    """Resolves on the contract's paths (``/v1/calls``). API Gateway's stage is the ``/v1``
    (the invoke URL ends in ``/v1/``, the resources below it are ``/calls``, …), and a proxy
    event's ``path`` is then relative to the stage, so the prefix is put back here. Behind a
    custom domain whose base path ``v1`` maps to the stage, ``path`` already carries it (no
    resource itself starts with ``/v1``), and is taken as it is."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        path = event.get("path")
        if isinstance(path, str) and not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            event = {**event, "path": API_PREFIX + path}
        return super().resolve(event, context)


def build_resolver(
    logger: Logger,
    metrics: Metrics,
    extra_errors: dict[type[Exception], Callable[[Exception], CallguardError]] | None = None,
) -> APIGatewayRestResolver:
    app = ContractResolver()

    def respond(error: CallguardError) -> Response[str]:
        logger.info("request rejected", extra={"error_code": error.code, "status": error.status})
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        return json_response(error.status, error_body(error, app.current_event.request_context.request_id))

    @app.exception_handler(CallguardError)
    def _domain(error: CallguardError) -> Response[str]:
        return respond(error)

    for exc_type, convert in (extra_errors or {}).items():

        def _handler(error: Exception, convert: Callable[[Exception], CallguardError] = convert) -> Response[str]:
            return respond(convert(error))

        app.exception_handler(exc_type)(_handler)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.error("unexpected failure", extra={"error_type": type(error).__name__})
        return respond(CallguardError("The request could not be completed; it is safe to retry."))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return respond(NotFoundError("No such route."))

    return app


def actor_of(event: dict[str, Any]) -> str:
    """Who is calling, from the authorizer's claims: a pseudonymous user id or a client id."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    if claims.get("username") or claims.get("cognito:username"):
        return f"user:{claims.get('sub', 'unknown')}"
    return f"client:{claims.get('client_id', 'unknown')}"
