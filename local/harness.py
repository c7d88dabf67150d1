"""Running a handler module in this process, outside any stack: load it from ``functions/``,
give it a Lambda context and API Gateway proxy events. Used by the tests and the bench."""

from __future__ import annotations

import base64 as b64
import functools
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from callguard.names import API_PREFIX, SERVICE_NAME
from local.permissions import acting_as

__all__ = ["FakeContext", "api_event", "load_handler"]

ROOT = Path(__file__).resolve().parents[1]


def load_handler(name: str) -> ModuleType:
    """Import ``functions/<name>/handler.py`` as module ``<name>_handler`` (fresh each time).

    Its ``lambda_handler`` acts as the template's function of that name: while it runs, its AWS
    calls are judged against that function's role when a template is active (local/permissions.py)."""
    module_name = f"{name}_handler"
    path = ROOT / "functions" / name / "handler.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    handler = getattr(module, "lambda_handler", None)
    if callable(handler):
        service = f"service:{SERVICE_NAME}-{name}"  # the function's POWERTOOLS_SERVICE_NAME

        @functools.wraps(handler)
        def acting(event: Any, context: Any) -> Any:
            with acting_as(service):
                return handler(event, context)

        module.lambda_handler = acting  # type: ignore[attr-defined]
    return module


class FakeContext:
    """The parts of the Lambda context object the handlers read."""

    function_name = "callguard-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:callguard-test"
    aws_request_id = "req-0001"

    def __init__(self, remaining_ms: int = 10_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: str | bytes | None = None,
    content_type: str | None = "application/json",
    scopes: str = "callguard/calls:write",
    base64: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST proxy event with Cognito authorizer claims (``scopes``)."""
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if raw is None:
        text: str | None = None if body is None else json.dumps(body)
    elif isinstance(raw, bytes):
        text, base64 = b64.b64encode(raw).decode(), True
    else:
        text = raw
    # as API Gateway sends it: the stage (the contract's /v1) is not part of ``path``/``resource``
    relative = path.removeprefix(API_PREFIX)
    return {
        "resource": relative,
        "path": relative,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "test-request-id",
            "resourcePath": relative,
            "httpMethod": method,
            "stage": API_PREFIX.strip("/"),
            "path": path,
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"claims": {"scope": scopes, "client_id": "platform-client"}},
        },
        "body": text,
        "isBase64Encoded": base64,
    }
