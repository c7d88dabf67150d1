"""The OpenAPI document against the synthesized API Gateway: same bodies, same scopes, same errors.

The document is generated from the code and the template is synthesized from the same code;
this test makes sure the two paths really meet (a construct naming another model, a route
with another scope, a gateway error the document does not know).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from callguard.names import API_PREFIX
from infra import openapi
from infra.api_contract import ERROR_CODES
from infra.api_models import apigw_schema
from local.gateway import public_paths
from tests.conftest import Synth

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.document()


def _methods(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    """``(method, path) -> Method properties``, the path rebuilt from the resource tree."""
    paths = public_paths(synth.template)
    out = {}
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        if props["HttpMethod"] == "OPTIONS":
            continue
        out[(props["HttpMethod"], paths[props["ResourceId"]["Ref"]])] = props
    return out


def _draft4(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The document's body schema of a route, through the same draft-4 conversion the constructs
    use (``apigw_schema`` resolves ``$ref``s by their last segment, so components serve as ``$defs``)."""
    ref = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    components = doc["components"]["schemas"]
    as_model = SimpleNamespace(__name__=name, model_json_schema=lambda mode: {**components[name], "$defs": components})
    return apigw_schema(as_model)  # type: ignore[arg-type]


def test_every_request_model_is_the_documents_body_schema(synth: Synth, doc: dict[str, Any]) -> None:
    models = synth.resources("AWS::ApiGateway::Model")
    assert models
    used = set()
    for (method, path), props in _methods(synth).items():
        documented = "requestBody" in doc["paths"][path][method.lower()]
        if not props.get("RequestModels"):
            assert not documented, f"{method} {path}: the document has a body API Gateway does not validate"
            continue
        logical = props["RequestModels"]["application/json"]["Ref"]
        used.add(logical)
        deployed = models[logical]["Properties"]
        expected = _draft4(doc, method, path)
        assert deployed["Name"] == expected["title"]
        assert deployed["Schema"] == expected, f"{method} {path}"
        assert sorted(deployed["Schema"]["required"]) == sorted(expected["required"])
        assert "RequestValidatorId" not in props  # the function validates (its errors name field and rule only)
    assert used == set(models), "a model in the template is not the body of any documented route"


def test_every_cognito_method_has_the_documents_scope(synth: Synth, doc: dict[str, Any]) -> None:
    methods = _methods(synth)
    assert {(m, p) for m, p in methods if p.startswith(API_PREFIX)} == {
        (method.upper(), path) for path, item in doc["paths"].items() for method in item
    }
    for (method, path), props in methods.items():
        security = doc["paths"][path][method.lower()]["security"]
        if props["AuthorizationType"] == "COGNITO_USER_POOLS":
            assert security, f"{method} {path} is protected but documented as public"
            assert props["AuthorizationScopes"] == security[0][openapi.OAUTH_SCHEME]
        else:
            assert props["AuthorizationType"] == "NONE"
            assert security == []


def _scope_strings(synth: Synth, scopes: list[Any]) -> set[str]:
    """``AllowedOAuthScopes`` with the resource server reference resolved to its identifier."""
    servers = synth.resources("AWS::Cognito::UserPoolResourceServer")

    def resolve(value: Any) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return str(servers[value["Ref"]]["Properties"]["Identifier"])
        separator, parts = value["Fn::Join"]
        return str(separator.join(resolve(p) for p in parts))

    return {resolve(s) for s in scopes} - {"openid", "email", "profile"}


def test_the_oauth_flows_grant_what_the_user_pool_clients_allow(synth: Synth, doc: dict[str, Any]) -> None:
    flows = doc["components"]["securitySchemes"][openapi.OAUTH_SCHEME]["flows"]
    clients = {
        flow: _scope_strings(synth, props["Properties"]["AllowedOAuthScopes"])
        for props in synth.resources("AWS::Cognito::UserPoolClient").values()
        for flow in props["Properties"]["AllowedOAuthFlows"]
    }
    assert clients["client_credentials"] == set(flows["clientCredentials"]["scopes"])
    assert clients["code"] == set(flows["authorizationCode"]["scopes"])


def test_every_gateway_error_is_documented(synth: Synth) -> None:
    responses = synth.resources("AWS::ApiGateway::GatewayResponse")
    assert len(responses) >= 8
    for response in responses.values():
        props = response["Properties"]
        status = int(props["StatusCode"])
        if status >= 500:
            continue  # never an answer to bad input; the fuzz test fails on any 5xx
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert body["error"]["code"] in ERROR_CODES[status], props["ResponseType"]
