"""API Gateway REST emulation from the synthesized template.

Routes, scopes, integrations, request models and gateway responses are read from
``AWS::ApiGateway::*`` resources; Lambda proxy integrations call the function code
that ``cdk synth`` packaged (``cdk.out/asset.*``), with the environment the template
gives that function. This module is never deployed.
"""

from __future__ import annotations

import base64
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from callguard.edge.responses import header
from callguard.names import MAX_BODY_BYTES
from local.auth import AuthError, Authorizer
from local.permissions import acting_as
from local.provision import Provisioner, ProvisionError, function_logical

__all__ = ["ApiRoute", "Gateway", "LambdaRuntime", "public_paths", "resource_paths", "stage_name", "template_routes"]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    scopes: tuple[str, ...]
    authorized: bool
    function: str | None = None  # logical id of the Lambda function (proxy integration)
    #: the version or alias the integration invokes (``live`` for a SnapStart function), None: ``$LATEST``
    qualifier: str | None = None
    mock_status: int = 200
    mock_body: str = ""
    model: dict[str, Any] | None = None
    stage: str = ""
    #: the method's request validator checks the body against ``model`` (API Gateway's own 400/422)
    validates_body: bool = False

    @property
    def resource(self) -> str:
        """The path relative to the stage, as API Gateway puts it in a proxy event's ``resource``."""
        return self.path.removeprefix(f"/{self.stage}") if self.stage else self.path

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$")


def _ref_id(value: Any) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    raise ProvisionError(f"unexpected reference {value!r}")


_LAMBDA_TYPES = frozenset({"AWS::Lambda::Function", "AWS::Lambda::Version", "AWS::Lambda::Alias"})


def _integration_function(uri: Any, resources: dict[str, Any]) -> tuple[str, str | None]:
    """The function a proxy integration's URI invokes (``.../functions/<ARN>/invocations``): the
    function's ``Arn``, or a version's or alias' ``Ref`` (its qualified ARN), followed to the function;
    and the alias' name or the version (the qualifier), None for the function itself."""
    text = json.dumps(uri)
    referenced = re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)", "Arn"\]|"Ref": "([A-Za-z0-9]+)"', text)
    targets = [logical for pair in referenced for logical in pair if logical and logical in resources]
    targets = [logical for logical in targets if resources[logical]["Type"] in _LAMBDA_TYPES]
    if len(targets) != 1:
        raise ProvisionError("a proxy integration without exactly one Lambda function, version or alias")
    (target,) = targets
    resource = resources[target]
    function = function_logical({"Ref": target}, resources)
    if resource["Type"] == "AWS::Lambda::Alias":
        return function, str(resource["Properties"]["Name"])
    return function, "1" if resource["Type"] == "AWS::Lambda::Version" else None


def stage_name(template: dict[str, Any]) -> str:
    """The API's one stage (its invoke URL is ``https://<api>/<stage>/``)."""
    (stage,) = (
        r["Properties"]["StageName"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"
    )
    return str(stage)


def resource_paths(template: dict[str, Any]) -> dict[str, str]:
    """``logical id -> path`` of every ``AWS::ApiGateway::Resource``, relative to the stage (``/calls``)."""
    api_resources = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::ApiGateway::Resource"}
    paths: dict[str, str] = {}

    def path_of(resource_id: str) -> str:
        if resource_id not in paths:
            props = api_resources[resource_id]["Properties"]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
            paths[resource_id] = f"{prefix}/{props['PathPart']}"
        return paths[resource_id]

    for logical in api_resources:
        path_of(logical)
    return paths


def public_paths(template: dict[str, Any]) -> dict[str, str]:
    """``logical id -> path`` as a client calls it: the stage's invoke URL path plus the resource
    (``/v1`` + ``/calls``)."""
    stage = stage_name(template)
    return {logical: f"/{stage}{path}" for logical, path in resource_paths(template).items()}


def _validates_body(resources: dict[str, Any], method: dict[str, Any]) -> bool:
    if "RequestValidatorId" not in method:
        return False
    validator = resources[_ref_id(method["RequestValidatorId"])]["Properties"]
    return bool(validator.get("ValidateRequestBody"))


def template_routes(template: dict[str, Any]) -> list[ApiRoute]:
    """Every method of the template, at its public path (stage included)."""
    resources = template["Resources"]
    paths = public_paths(template)
    stage = stage_name(template)

    models = {
        r["Properties"]["Name"]: r["Properties"]["Schema"]
        for r in resources.values()
        if r["Type"] == "AWS::ApiGateway::Model"
    }
    model_ids = {k: r["Properties"]["Name"] for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::Model"}
    routes = []
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGateway::Method":
            continue
        props = resource["Properties"]
        path = paths[_ref_id(props["ResourceId"])]
        integration = props["Integration"]
        model = None
        if props.get("RequestModels"):
            model = models[model_ids[_ref_id(props["RequestModels"]["application/json"])]]
        if integration["Type"] == "MOCK":
            response = integration["IntegrationResponses"][0]
            routes.append(
                ApiRoute(
                    method=props["HttpMethod"],
                    path=path,
                    scopes=(),
                    authorized=False,
                    mock_status=int(response["StatusCode"]),
                    mock_body=response["ResponseTemplates"]["application/json"],
                    stage=stage,
                )
            )
        elif integration["Type"] == "AWS_PROXY":
            function, qualifier = _integration_function(integration["Uri"], resources)
            routes.append(
                ApiRoute(
                    method=props["HttpMethod"],
                    path=path,
                    scopes=tuple(props.get("AuthorizationScopes", [])),
                    authorized=props.get("AuthorizationType") == "COGNITO_USER_POOLS",
                    function=function,
                    qualifier=qualifier,
                    model=model,
                    stage=stage,
                    validates_body=_validates_body(resources, props),
                )
            )
        else:
            raise ProvisionError(f"integration type {integration['Type']} is not emulated")
    return routes


class LocalContext:
    """The parts of the Lambda context object handlers use."""

    def __init__(self, function_name: str, memory: int, timeout_seconds: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:eu-central-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = datetime.now(UTC).timestamp() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - datetime.now(UTC).timestamp()) * 1000))


@dataclass
class LocalFunction:
    logical_id: str
    module: ModuleType
    handler: Callable[[dict[str, Any], Any], Any]
    memory: int
    timeout: int
    #: SnapStart: the before-snapshot and after-restore hooks the module registered, run once after its
    #: init (as Lambda does when it publishes the version and when it restores an environment from it)
    restored_hooks: int = 0

    def invoke(self, event: dict[str, Any]) -> Any:
        with acting_as(self.logical_id):  # its AWS calls are judged against its role (local/permissions.py)
            return self.handler(event, LocalContext(self.logical_id, self.memory, self.timeout))

    def invoke_raw(self, event: dict[str, Any], _context: Any = None) -> Any:
        """Invoke with a fresh context (for triggers, whose callers pass none)."""
        return self.invoke(event)


@dataclass
class LambdaRuntime:
    """Loads every function of the template from its packaged asset, in this process."""

    cdk_out: Path
    template: dict[str, Any]
    #: resolves each function's environment; ``None`` when :meth:`load_all` is given the environments
    provisioner: Provisioner | None
    functions: dict[str, LocalFunction] = field(default_factory=dict)

    def environments(self) -> dict[str, dict[str, str]]:
        """Every function's environment from the template, resolved against what was provisioned."""
        if self.provisioner is None:
            raise ProvisionError("no provisioner to resolve the functions' environments")
        return {
            logical: self.provisioner.function_environment(self.template, logical)
            for logical, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function"
        }

    def load_all(self, environments: dict[str, dict[str, str]] | None = None) -> None:
        """Load each function of ``environments`` (default: every function of the template) with its
        environment: the module reads its own settings (its service name) at import."""
        merged: dict[str, str] = {}
        for logical, env in (self.environments() if environments is None else environments).items():
            resource = self.template["Resources"][logical]
            for key, value in env.items():
                if key.startswith("CALLGUARD_") and merged.get(key, value) != value:
                    raise ProvisionError(f"functions disagree on {key}; the local stack runs them in one process")
            os.environ.update(env)  # the module reads its own settings (service name) at import
            self.functions[logical] = self._load(logical, resource)
            merged.update({k: v for k, v in env.items() if k.startswith("CALLGUARD_")})
        os.environ.update(merged)
        os.environ.pop("POWERTOOLS_SERVICE_NAME", None)

    def _load(self, logical: str, resource: dict[str, Any]) -> LocalFunction:
        asset = resource.get("Metadata", {}).get("aws:asset:path")
        if not asset:
            raise ProvisionError(f"function {logical} has no asset path in the template metadata")
        module_file, _, attribute = resource["Properties"]["Handler"].rpartition(".")
        path = self.cdk_out / asset / f"{module_file.replace('.', '/')}.py"
        name = f"callguard_local_{logical}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ProvisionError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        props = resource["Properties"]
        snap_start = (props.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"
        with _snapshot_and_restore(snap_start) as hooks:
            spec.loader.exec_module(module)
        return LocalFunction(
            logical_id=logical,
            module=module,
            handler=getattr(module, attribute),
            memory=int(props.get("MemorySize", 128)),
            timeout=int(props.get("Timeout", 3)),
            restored_hooks=len(hooks),
        )


@contextmanager
def _snapshot_and_restore(snap_start: bool) -> Iterator[list[Callable[[], Any]]]:
    """Around a SnapStart function's init: then its before-snapshot hooks (in reverse order of
    registration) and its after-restore hooks (in order), as Lambda runs them between publishing the
    version and the first invocation of an environment restored from its snapshot; yields the hooks run.
    The first invocation thus starts from the state a restored environment has (no service graph, no
    client, ``random`` seeded again), not from its init's. Hooks registered by other functions' inits
    (one process holds them all) are not run."""
    ran: list[Callable[[], Any]] = []
    try:
        from snapshot_restore_py import get_after_restore, get_before_snapshot
    except ImportError:  # not installed: the handlers register no hooks either (callguard.clients)
        yield ran
        return
    before, after = len(get_before_snapshot()), len(get_after_restore())
    yield ran
    if not snap_start:
        return
    hooks = [*reversed(get_before_snapshot()[before:]), *get_after_restore()[after:]]
    for function, args, kwargs in hooks:
        function(*args, **kwargs)
        ran.append(function)


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class Gateway:
    """Turns an HTTP request into an API Gateway REST proxy event and back."""

    def __init__(self, template: dict[str, Any], runtime: LambdaRuntime, authorizer: Authorizer, stage: str) -> None:
        self.routes = template_routes(template)
        self.runtime = runtime
        self.authorizer = authorizer
        self.stage = stage
        self._errors = self._gateway_responses(template)
        self._validators = self._build_validators()
        self._lock = threading.Lock()
        #: the API functions' worker processes (``local/workers.py``); None: the runtime's in-process handlers
        self.remote: Any = None

    @staticmethod
    def _gateway_responses(template: dict[str, Any]) -> dict[str, tuple[int, str]]:
        out = {}
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::ApiGateway::GatewayResponse":
                props = resource["Properties"]
                out[props["ResponseType"]] = (int(props["StatusCode"]), props["ResponseTemplates"]["application/json"])
        return out

    def _build_validators(self) -> dict[tuple[str, str], Any]:
        from jsonschema import Draft4Validator

        return {
            (r.method, r.path): Draft4Validator(r.model)
            for r in self.routes
            if r.model is not None and r.validates_body
        }

    def gateway_error(self, response_type: str, request_id: str) -> Response:
        status, body = self._errors.get(response_type) or self._errors["DEFAULT_4XX"]
        return Response(status, body.replace("$context.requestId", request_id))

    def _match(self, method: str, path: str) -> tuple[ApiRoute | None, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, match.groupdict()
        return None, {}

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        request_id = str(uuid.uuid4())
        path, _, query = raw_path.partition("?")
        route, params = self._match(method, path)
        if route is None:
            # API Gateway answers an unknown method or path with its missing-token response.
            return self.gateway_error("MISSING_AUTHENTICATION_TOKEN", request_id)
        if route.function is None:
            return Response(route.mock_status, route.mock_body)
        claims: dict[str, Any] = {}
        if route.authorized:
            try:
                claims = self.authorizer.authorize(header(headers, "authorization"), list(route.scopes))
            except AuthError as exc:
                return self.gateway_error("UNAUTHORIZED" if exc.status == 401 else "ACCESS_DENIED", request_id)
        if len(body) > MAX_BODY_BYTES:
            return self.gateway_error("REQUEST_TOO_LARGE", request_id)
        if not self._valid_body(route, headers, body):
            return self.gateway_error("BAD_REQUEST_BODY", request_id)
        event = self._event(route, method, path, query, params, headers, body, claims, request_id)
        if self.remote is not None and route.function in self.remote.functions:
            result = self.remote.invoke(route.function, event)
        else:
            result = self.runtime.functions[route.function].invoke(event)
        return self._proxy_response(result, request_id)

    def _valid_body(self, route: ApiRoute, headers: dict[str, str], body: bytes) -> bool:
        validator = self._validators.get((route.method, route.path))
        content_type = (header(headers, "content-type") or "").split(";")[0].strip().lower()
        if validator is None or content_type != "application/json":
            return True  # API Gateway validates only bodies of the content type its model names
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return True  # not JSON: API Gateway passes it on and the function answers 400
        return bool(validator.is_valid(document))

    def _event(
        self,
        route: ApiRoute,
        method: str,
        path: str,
        query: str,
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        claims: dict[str, Any],
        request_id: str,
    ) -> dict[str, Any]:
        from urllib.parse import parse_qs

        multi_query = parse_qs(query, keep_blank_values=True) if query else {}
        try:
            text: str | None = body.decode("utf-8") if body else None
            is_b64 = False
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode("ascii"), True
        # as API Gateway sends it: ``resource`` and ``path`` relative to the stage, the full path
        # (stage included) only in the request context
        relative = path.removeprefix(f"/{self.stage}")
        return {
            "resource": route.resource,
            "path": relative,
            "httpMethod": method,
            "headers": dict(headers),
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "requestId": request_id,
                "resourcePath": route.resource,
                "httpMethod": method,
                "stage": self.stage,
                "path": path,
                "identity": {"sourceIp": header(headers, "x-forwarded-for") or "127.0.0.1"},
                "authorizer": {"claims": {k: _claim(v) for k, v in claims.items()}} if claims else None,
                "requestTimeEpoch": int(datetime.now(UTC).timestamp() * 1000),
            },
            "body": text,
            "isBase64Encoded": is_b64,
        }

    def _proxy_response(self, result: Any, request_id: str) -> Response:
        if not isinstance(result, dict) or "statusCode" not in result:
            return self.gateway_error("DEFAULT_5XX", request_id)
        body = result.get("body") or ""
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8")
        headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key] = ",".join(str(v) for v in values)
        headers.setdefault("Content-Type", "application/json")
        return Response(int(result["statusCode"]), body, headers)


def _claim(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
