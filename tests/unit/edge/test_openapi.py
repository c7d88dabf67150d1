"""The OpenAPI document: generated from the code, committed, complete, never stale."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

import callguard.calls.live
import callguard.privacy.workflow  # noqa: F401  (their error classes register as CallguardError subclasses)
from callguard.errors import CallguardError
from callguard.names import ROUTES, full_scope
from infra import openapi
from infra.api_contract import ERROR_CODES, OPTIONAL_BODIES, REQUEST_MODELS, ROUTE_CONTRACTS, ErrorBody

pytestmark = pytest.mark.unit

REF = "#/components/schemas/{model}"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.document()


def _referenced(schema: Any, components: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    """Names of the component schemas ``schema`` reaches through ``$ref``s."""
    seen = set() if seen is None else seen
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                _referenced(components[name], components, seen)
        for value in schema.values():
            _referenced(value, components, seen)
    elif isinstance(schema, list):
        for value in schema:
            _referenced(value, components, seen)
    return seen


def test_the_committed_document_is_what_make_openapi_generates(doc: dict[str, Any]) -> None:
    assert openapi.DOC.read_text(encoding="utf-8") == openapi.render(doc), "docs/openapi.yaml is stale: make openapi"
    assert yaml.safe_load(openapi.DOC.read_text(encoding="utf-8")) == doc


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_documented_with_its_scope_and_nothing_else(doc: dict[str, Any]) -> None:
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert documented == {(r.method, r.path) for r in ROUTES}
    flows = doc["components"]["securitySchemes"][openapi.OAUTH_SCHEME]["flows"]
    granted = {scope for flow in flows.values() for scope in flow["scopes"]}
    for route in ROUTES:
        operation = doc["paths"][route.path][route.method.lower()]
        if route.scope is None:
            assert operation["security"] == []
            assert not {"401", "403"} & set(operation["responses"])
        else:
            scope = full_scope(route.scope)
            assert operation["security"] == [{openapi.OAUTH_SCHEME: [scope]}, {"bearerJwt": [scope]}]
            assert scope in granted
            assert {"401", "403"} <= set(operation["responses"])


def test_request_bodies_are_exactly_the_pydantic_models(doc: dict[str, Any]) -> None:
    components = doc["components"]["schemas"]
    with_body = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }
    assert with_body == set(REQUEST_MODELS)
    for (method, path), model in REQUEST_MODELS.items():
        body = doc["paths"][path][method.lower()]["requestBody"]
        assert body["required"] is ((method, path) not in OPTIONAL_BODIES)  # optional: lifting a hold (v1: no body)
        assert list(body["content"]) == ["application/json"]
        assert body["content"]["application/json"]["schema"] == {"$ref": REF.format(model=model.__name__)}
        expected = model.model_json_schema(ref_template=REF, mode="validation")
        definitions = expected.pop("$defs", {})
        assert components[model.__name__] == expected
        for name in _referenced(expected, components):
            assert components[name] == definitions[name], name


def test_every_answer_and_error_has_a_schema(doc: dict[str, Any]) -> None:
    responses = doc["components"]["responses"]
    for route in ROUTES:
        contract = ROUTE_CONTRACTS[(route.method, route.path)]
        answers = doc["paths"][route.path][route.method.lower()]["responses"]
        success = answers[str(contract.status)]["content"]["application/json"]["schema"]
        assert success == {"$ref": REF.format(model=contract.answer.__name__)}
        for status, answer in answers.items():
            if int(status) >= 400:
                name = answer["$ref"].rsplit("/", 1)[-1]
                schema = responses[name]["content"]["application/json"]["schema"]
                assert schema["allOf"][0] == {"$ref": REF.format(model=ErrorBody.__name__)}
                codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
                assert codes == list(ERROR_CODES[int(status)])


def test_every_error_class_of_the_domain_is_documented() -> None:
    def subclasses(cls: type[CallguardError]) -> set[type[CallguardError]]:
        return {cls} | {s for sub in cls.__subclasses__() for s in subclasses(sub)}

    errors = {(e.status, e.code) for e in subclasses(CallguardError) if e.status < 500}
    assert len(errors) >= 8
    undocumented = {(status, code) for status, code in errors if code not in ERROR_CODES.get(status, ())}
    assert not undocumented


def test_check_mode_fails_on_a_stale_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "openapi.yaml"
    stale.write_text("openapi: 3.0.0\n", encoding="utf-8")
    monkeypatch.setattr(openapi, "DOC", stale)
    monkeypatch.setattr(openapi, "API_MD", tmp_path / "api.md")
    monkeypatch.setattr(openapi, "ROOT", tmp_path)
    assert openapi.main(["--check"]) == 1
    assert openapi.main([]) == 0
    assert openapi.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == openapi.render(openapi.document())


def test_the_committed_api_reference_is_rendered_from_the_document(doc: dict[str, Any]) -> None:
    from infra.apidoc import markdown

    text = openapi.API_MD.read_text(encoding="utf-8")
    assert text == markdown(doc), "docs/api.md is stale: make openapi"
    for route in ROUTES:
        assert f"### `{route.method} {route.path}`" in text
        if route.scope is not None:
            assert full_scope(route.scope) in text


def test_every_example_body_is_valid_and_shown_in_the_document(doc: dict[str, Any]) -> None:
    """The README's curl commands send these files: each must be accepted by its route's model."""
    files = {p.name for p in openapi.EXAMPLES_DIR.glob("*.json")}
    used = set(openapi.EXAMPLES.values())
    for (method, path), name in openapi.EXAMPLES.items():
        model = REQUEST_MODELS[(method, path)]
        raw = (openapi.EXAMPLES_DIR / name).read_text(encoding="utf-8")
        model.model_validate_json(raw)
        media = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
        assert media["example"] == json.loads(raw)
    # every body file is either a route's example or the live call sent to POST /v1/calls
    for extra in files - used:
        REQUEST_MODELS[("POST", "/v1/calls")].model_validate_json((openapi.EXAMPLES_DIR / extra).read_text())


def test_the_deployed_server_url_does_not_double_the_stage(doc: dict[str, Any]) -> None:
    deployed = doc["servers"][0]["url"]
    assert not deployed.endswith(("/v1", "/{stage}"))
    assert all(path.startswith("/v1/") for path in doc["paths"])
