"""moto's server, with Lambda invocations dispatched to the in-process handlers.

Step Functions executions (``execute_state_machine``) call their Lambda tasks through
``http://localhost:$MOTO_PORT``; moto would need Docker to run a function. This server
answers ``Invoke`` for the template's functions by calling the real handler in this
process, with Lambda's response semantics (``X-Amz-Function-Error: Unhandled`` and an
``errorType``/``errorMessage`` payload on an exception). Everything else is moto.
"""

from __future__ import annotations

import errno
import json
import logging
import re
from collections.abc import Callable, Iterable
from threading import Thread
from typing import Any
from urllib.parse import unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

__all__ = ["LocalMotoServer"]

logger = logging.getLogger("callguard.local.lambda")

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_LIST = re.compile(r"^/2015-03-31/functions/?$")

Handler = Callable[[Any], Any]


def function_name(raw: str) -> str:
    """``name``, ``name:qualifier`` or a full function ARN → the bare function name."""
    name = unquote(raw)
    if name.startswith("arn:"):
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


class _LambdaDispatch:
    """Lambda's ``Invoke`` and ``ListFunctions`` answered from the local functions, as Lambda would
    (an unknown name is ``ResourceNotFoundException``, never moto's canned happy-path answer)."""

    def __init__(self, app: Any, functions: dict[str, Handler], configurations: dict[str, dict[str, Any]]) -> None:
        self._app = app
        self._functions = functions
        self._configurations = configurations

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        match = _INVOKE.match(path)
        if match and method == "POST":
            name = function_name(match.group("name"))
            handler = self._functions.get(name)
            if handler is None:
                return _json(start_response, "404 Not Found", _not_found(name), "ResourceNotFoundException")
            return self._invoke(handler, environ, start_response)
        if _LIST.match(path) and method == "GET":
            functions = [self._configurations.get(name, {"FunctionName": name}) for name in sorted(self._functions)]
            return _json(start_response, "200 OK", {"Functions": functions})
        result: Iterable[bytes] = self._app(environ, start_response)
        return result

    @staticmethod
    def _invoke(handler: Handler, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        event = json.loads(raw) if raw else {}
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
        try:
            payload = json.dumps(handler(event))
        except Exception as exc:  # Lambda reports a handler exception as a function error
            logger.warning("function error", extra={"error_type": type(exc).__name__})
            payload = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        body = payload.encode()
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]


def _not_found(name: str) -> dict[str, str]:
    return {"Type": "User", "message": f"Function not found: {name}"}


def _json(
    start_response: Callable[..., Any], status: str, payload: dict[str, Any], error_type: str | None = None
) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    start_response(status, headers)
    return [body]


class LocalMotoServer:
    """A ThreadedMotoServer whose Lambda Invoke runs local handlers."""

    def __init__(self, host: str, port: int, functions: dict[str, Handler] | None = None) -> None:
        self.host = host
        self.port = port
        self.functions: dict[str, Handler] = functions if functions is not None else {}
        #: ``ListFunctions`` entries by function name (what the template says of each function)
        self.configurations: dict[str, dict[str, Any]] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: Thread | None = None

    def start(self) -> LocalMotoServer:
        """Bind in the caller's thread, so a busy port raises :class:`OSError` here (werkzeug would
        print a message and end a serving thread, leaving the caller waiting for good)."""
        from moto.core.config import default_user_config

        # Step Functions run the real ASL; Lambda never needs Docker.
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        default_user_config["lambda"]["use_docker"] = False
        app = _LambdaDispatch(DomainDispatcherApplication(create_backend_app), self.functions, self.configurations)
        try:
            self._server = make_server(self.host, self.port, app, True, request_handler=MotoRequestHandler)
        except SystemExit:  # werkzeug's answer to EADDRINUSE (after printing to stderr)
            raise OSError(errno.EADDRINUSE, f"port {self.port} is in use") from None
        self._thread = Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None and self._thread.is_alive():
            self._server.shutdown()  # waits for the serving loop: only while there is one
            self._thread.join(timeout=10)
        if self._server is not None:
            self._server.server_close()
