"""The API edge puts the caller's tenant from the verified token into the request context."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.security.tenancy import TenantDirectory

pytestmark = pytest.mark.unit

DIRECTORY = TenantDirectory(
    tenants=frozenset({"default", "acme-energie"}), clients={"c-default": "default", "c-acme": "acme-energie"}
)


@pytest.fixture
def app() -> Any:
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.event_handler import Response

    from callguard.edge.resolver import build_resolver, json_response, tenant_of

    app = build_resolver(Logger(service="callguard-test"), Metrics(namespace="test", service="test"))

    @app.post("/v1/calls")
    def _ingest() -> Response[str]:
        return json_response(202, {"tenant": tenant_of(app)})

    return app


def _call(app: Any, claims: dict[str, Any], body: Any) -> tuple[int, dict[str, Any]]:
    from local.harness import FakeContext, api_event

    event = api_event("POST", "/v1/calls", body)
    event["requestContext"]["authorizer"]["claims"] = claims
    event["headers"]["X-Tenant"] = "acme-energie"
    event["queryStringParameters"] = {"tenant": "acme-energie"}
    answer = app.resolve(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def test_single_tenant_deployment_acts_for_default_whatever_the_body_says(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLGUARD_TENANTS", raising=False)
    body = {"tenant": "acme-energie", "metadata": {"tenant": "acme-energie"}}
    assert _call(app, {"client_id": "platform", "scope": "callguard/calls:write"}, body) == (202, {"tenant": "default"})


def test_the_token_decides_never_the_body_and_a_warm_container_forgets_it(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLGUARD_TENANTS", DIRECTORY.to_env())
    spoof = {"tenant": "default", "metadata": {"tenant": "default"}}
    assert _call(app, {"client_id": "c-acme"}, spoof) == (202, {"tenant": "acme-energie"})
    assert _call(app, {"client_id": "c-default"}, {"tenant": "acme-energie"}) == (202, {"tenant": "default"})
    person = {"sub": "s", "username": "u", "client_id": "people", "tenant": "acme-energie"}
    assert _call(app, person, {"tenant": "default"}) == (202, {"tenant": "acme-energie"})


@pytest.mark.parametrize(
    "claims",
    [
        {"client_id": "c-made-in-the-console"},
        {"sub": "s", "username": "u", "client_id": "people", "tenant": "stadtwerk"},
        {"sub": "s", "username": "u", "client_id": "people"},
        {"client_id": "c-acme", "tenant": "default"},
    ],
)
def test_a_token_of_no_tenant_of_ours_is_refused_403_in_the_contracts_shape(
    app: Any, monkeypatch: pytest.MonkeyPatch, claims: dict[str, Any]
) -> None:
    monkeypatch.setenv("CALLGUARD_TENANTS", DIRECTORY.to_env())
    status, body = _call(app, claims, {"tenant": "acme-energie"})
    assert status == 403
    assert body == {
        "error": {
            "code": "unknown_tenant",
            "message": "The token does not belong to a tenant of this deployment.",
            "details": [],
        },
        "request_id": "test-request-id",
    }


def test_a_listed_tenants_metrics_carry_its_dimension_and_the_next_request_of_a_warm_container_forgets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.event_handler import Response

    from callguard.edge.resolver import build_resolver, json_response
    from callguard.security.tenancy import current_tenant
    from local.harness import FakeContext, api_event

    monkeypatch.setenv("CALLGUARD_TENANTS", DIRECTORY.to_env())
    metrics = Metrics(namespace="test", service="test")
    app = build_resolver(Logger(service="callguard-test"), metrics)

    @app.post("/v1/calls")
    def _seen() -> Response[str]:  # what the route's metrics would be flushed with, and who it acts for
        return json_response(200, {"dimensions": dict(metrics.dimension_set), "acting_for": current_tenant()})

    def call(client: str) -> dict[str, Any]:
        event = api_event("POST", "/v1/calls", {})
        event["requestContext"]["authorizer"]["claims"] = {"client_id": client}
        answer: dict[str, Any] = json.loads(app.resolve(event, FakeContext())["body"])
        return answer

    acme = call("c-acme")
    assert acme["dimensions"].get("tenant") == "acme-energie"
    assert acme["acting_for"] == "acme-energie"
    default = call("c-default")  # no flush in between: nothing was cleared for it
    assert "tenant" not in default["dimensions"]
    assert default["acting_for"] == "default"
    metrics.clear_metrics()
