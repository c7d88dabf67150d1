"""moto's server, with Lambda invocations dispatched to the in-process handlers.

Step Functions executions (``execute_state_machine``) call their Lambda tasks through
``http://localhost:$MOTO_PORT``; moto would need Docker to run a function. This server
answers ``Invoke`` for the template's functions by calling the real handler in this
process, with Lambda's response semantics (``X-Amz-Function-Error: Unhandled`` and an
``errorType``/``errorMessage`` payload on an exception). Everything else is moto.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from threading import Event, Thread
from typing import Any
from urllib.parse import unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

__all__ = ["LocalMotoServer"]

logger = logging.getLogger("callguard.local.lambda")

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

Handler = Callable[[Any], Any]


def function_name(raw: str) -> str:
    """``name``, ``name:qualifier`` or a full function ARN → the bare function name."""
    name = unquote(raw)
    if name.startswith("arn:"):
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


class _LambdaDispatch:
    def __init__(self, app: Any, functions: dict[str, Handler]) -> None:
        self._app = app
        self._functions = functions

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _INVOKE.match(environ.get("PATH_INFO", ""))
        if match and environ.get("REQUEST_METHOD") == "POST":
            handler = self._functions.get(function_name(match.group("name")))
            if handler is not None:
                return self._invoke(handler, environ, start_response)
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


class LocalMotoServer:
    """A ThreadedMotoServer whose Lambda Invoke runs local handlers."""

    def __init__(self, host: str, port: int, functions: dict[str, Handler] | None = None) -> None:
        self.host = host
        self.port = port
        self.functions: dict[str, Handler] = functions if functions is not None else {}
        self._ready = Event()
        self._server: BaseWSGIServer | None = None
        self._thread: Thread | None = None

    def _serve(self) -> None:
        app = _LambdaDispatch(DomainDispatcherApplication(create_backend_app), self.functions)
        self._server = make_server(self.host, self.port, app, True, request_handler=MotoRequestHandler)
        self._ready.set()
        self._server.serve_forever()

    def start(self) -> LocalMotoServer:
        from moto.core.config import default_user_config

        # Step Functions run the real ASL; Lambda never needs Docker.
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        default_user_config["lambda"]["use_docker"] = False
        self._thread = Thread(target=self._serve, name="moto", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
