"""The functions resolve routes on the contract's paths, however API Gateway's stage is reached."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "path",
    [
        "/calls/cc-1",  # the execute-api URL: the stage /v1 is not part of the proxy event's path
        "/v1/calls/cc-1",  # a custom domain whose base path v1 maps to the stage
    ],
)
def test_the_functions_resolve_the_contracts_paths_however_the_stage_is_reached(path: str) -> None:
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.event_handler import Response

    from callguard.edge.resolver import build_resolver, json_response
    from local.harness import FakeContext, api_event

    app = build_resolver(Logger(service="callguard-test"), Metrics(namespace="test", service="test"))

    @app.get("/v1/calls/<call_id>")
    def _view(call_id: str) -> Response[str]:
        return json_response(200, {"call_id": call_id})

    event = {**api_event("GET", "/v1/calls/cc-1"), "path": path}
    answer = app.resolve(event, FakeContext())
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"call_id": "cc-1"})
    unknown = app.resolve({**event, "path": "/v1/v1/calls/cc-1"}, FakeContext())
    assert unknown["statusCode"] == 404
