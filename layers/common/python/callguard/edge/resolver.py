"""The HTTP edge shared by the API functions: one resolver set-up, one error mapping.

Every error leaves in the contract's shape; unexpected exceptions are logged by type
only (their text may quote data) and answered 500 without detail. Before any route runs,
the caller's tenant is resolved from the verified token (never from the body, query or
headers) into the resolver's context (:func:`tenant_of`); a token of no tenant of this
deployment is answered 403 ``unknown_tenant``. The route runs acting for that tenant
(:func:`~callguard.security.tenancy.acting_for`): the services it asks for are built with the
tenant's settings, pseudonyms and keys; a listed tenant's metrics carry the ``tenant`` dimension.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from callguard.edge.responses import error_body, json_body
from callguard.errors import CallguardError, NotFoundError
from callguard.names import API_PREFIX, TENANT_DIMENSION
from callguard.security.tenancy import DEFAULT_TENANT, TenantDirectory, acting_for

__all__ = ["ContractResolver", "actor_of", "build_resolver", "json_response", "tenant_of"]

#: the resolver-context key under which the edge puts the caller's tenant
_TENANT_KEY = "tenant"


def json_response(status: int, payload: Any) -> Response[str]:
    return Response(status_code=status, content_type="application/json", body=json_body(payload))


class ContractResolver(APIGatewayRestResolver):
    """Resolves on the contract's paths (``/v1/calls``). API Gateway's stage is the ``/v1``
    (the invoke URL ends in ``/v1/``, the resources below it are ``/calls``, …), and a proxy
    event's ``path`` is then relative to the stage, so the prefix is put back here. Behind a
    custom domain whose base path ``v1`` maps to the stage, ``path`` already carries it (no
    resource itself starts with ``/v1``), and is taken as it is.

    ``metrics``: the tenant dimension the previous request of this (warm) container may have left on
    the shared metric set — Powertools clears dimensions only when metrics were flushed — is dropped
    before every request, so a request's metrics never carry another request's tenant."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        super().__init__()
        self._metrics = metrics

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        if self._metrics is not None:
            self._metrics.dimension_set.pop(TENANT_DIMENSION, None)
        path = event.get("path")
        if isinstance(path, str) and not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            event = {**event, "path": API_PREFIX + path}
        return super().resolve(event, context)


def build_resolver(
    logger: Logger,
    metrics: Metrics,
    extra_errors: dict[type[Exception], Callable[[Exception], CallguardError]] | None = None,
) -> APIGatewayRestResolver:
    app = ContractResolver(metrics)

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

    def _resolve_tenant(resolver: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        # read per request: the directory is a few bytes of the environment, and a warm container
        # must never carry one request's tenant into the next (the context is cleared after each)
        tenant = TenantDirectory.from_env().resolve(resolver.current_event.raw_event)
        resolver.append_context(**{_TENANT_KEY: tenant})
        logger.append_keys(tenant=tenant)
        if tenant != DEFAULT_TENANT:  # a listed tenant's metrics feed its scorecard; the default's stay v1's
            metrics.add_dimension(name=TENANT_DIMENSION, value=tenant)
        try:
            # the route's services are built for this tenant (callguard.clients.Lazy), and only inside it
            with acting_for(tenant):
                return next_middleware(resolver)
        finally:
            logger.remove_keys(["tenant"])

    app.use(middlewares=[_resolve_tenant])
    return app


def tenant_of(app: APIGatewayRestResolver) -> str:
    """The tenant the edge resolved for the current request (from the verified token only)."""
    return str(app.context[_TENANT_KEY])


def actor_of(event: dict[str, Any]) -> str:
    """Who is calling, from the authorizer's claims: a pseudonymous user id or a client id."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    if claims.get("username") or claims.get("cognito:username"):
        return f"user:{claims.get('sub', 'unknown')}"
    return f"client:{claims.get('client_id', 'unknown')}"
