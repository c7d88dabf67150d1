"""moto's server, with Lambda invocations dispatched to the in-process handlers.

Step Functions executions (``execute_state_machine``) call their Lambda tasks through
``http://localhost:$MOTO_PORT``; moto would need Docker to run a function. This server
answers ``Invoke`` for the template's functions by calling the real handler in this
process, with Lambda's response semantics (``X-Amz-Function-Error: Unhandled`` and an
``errorType``/``errorMessage`` payload on an exception). Everything else is moto.
"""

from __future__ import annotations

import copy
import errno
import json
import logging
import re
import socket
from collections.abc import Callable, Iterable
from threading import Thread
from typing import Any
from urllib.parse import unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import LimitedStream

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


class _TablesByReference:
    """Stands in for the ``copy`` module inside ``moto.dynamodb.models``: a deep copy of a whole
    :class:`~moto.dynamodb.models.table.Table` is the table itself; everything else is copied as before.

    moto backs up every table a ``TransactWriteItems`` names with a deep copy of all its items, to
    put the copy back if the transaction is cancelled: each transaction costs time in proportion to
    the table, under the one interpreter lock, and a rollback would also undo other clients' writes
    made meanwhile. :func:`_transact_write_items` keeps the items the transaction names instead."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _transaction_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, deep copy of the item or None) for each item the transaction names."""
    out = []
    for entry in transact_items:
        for body in entry.values():
            table = backend.tables.get(body.get("TableName")) if isinstance(body, dict) else None
            if table is None:
                continue
            key = body.get("Key")
            if key is None and isinstance(body.get("Item"), dict):
                attrs = body["Item"]
                key = {name: attrs[name] for name in (table.hash_key_attr, table.range_key_attr) if name in attrs}
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            if not key or any(name not in key for name in names):
                continue  # an invalid key: moto refuses the transaction before it writes anything
            hash_value, range_value = backend.get_keys_value(table, key)
            item = table.get_item(hash_value, range_value)
            out.append((table, hash_value, range_value, copy.deepcopy(item) if item is not None else None))
    return out


def _restore(items: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_value, range_value, item in reversed(items):
        if item is None:
            table.delete_item(hash_value, range_value)
        elif range_value is not None:
            table.items[hash_value][range_value] = item
        else:
            table.items[hash_value] = item


def _item_backups_for_transactions() -> None:
    """Make moto's ``TransactWriteItems`` back up (and on cancellation restore) only the items it names."""
    import moto.dynamodb.models as ddb_models

    backend_class = ddb_models.DynamoDBBackend
    if getattr(backend_class.transact_write_items, "_callguard_item_backups", False):
        return
    original = backend_class.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = _transaction_items(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:
            _restore(before)  # as moto's own rollback, for the named items only
            raise

    transact_write_items._callguard_item_backups = True  # type: ignore[attr-defined]
    ddb_models.copy = _TablesByReference  # type: ignore[assignment]
    backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _queue_counts_in_one_pass() -> None:
    """Make moto's SQS answer its per-message questions without re-counting the whole queue.

    moto checks each message it receives against the queue's retention period by building *all*
    the queue's attributes (three times: ``get_queue_attributes`` looks the name up, then reads it),
    and every attribute build counts the queue's messages in three separate passes, reading the
    clock for each message in each pass. ``SendMessage`` builds them once more. Under load the
    analysis queue holds a backlog, so each receive cost time in proportion to batch size x
    backlog x 9 under the one interpreter lock (the largest single item of the stack's CPU in a
    py-spy profile of 16 concurrent ingest clients). Here the retention period is read from the
    queue itself, and the three counts are taken in one pass with one clock reading; what each
    returns is unchanged."""
    import moto.sqs.models as sqs_models
    from moto.core.utils import unix_time, unix_time_millis

    queue_class, backend_class = sqs_models.Queue, sqs_models.SQSBackend
    if getattr(backend_class.is_message_valid_based_on_retention_period, "_callguard_direct", False):
        return

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    def counts(queue: Any) -> tuple[int, int, int]:
        """(visible and not delayed, delayed, not visible), as moto's three properties count them."""
        now = unix_time_millis()
        visible = delayed = hidden = 0
        for message in queue._messages:
            is_visible, is_delayed = now > message.visible_at, now < message.delayed_until
            visible += is_visible and not is_delayed
            delayed += is_delayed
            hidden += not is_visible
        return visible, delayed, hidden

    is_message_valid_based_on_retention_period._callguard_direct = True  # type: ignore[attr-defined]
    backend_class.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    queue_class.approximate_number_of_messages = property(lambda queue: counts(queue)[0])  # type: ignore[method-assign,assignment]
    queue_class.approximate_number_of_messages_delayed = property(lambda queue: counts(queue)[1])  # type: ignore[method-assign,assignment]
    queue_class.approximate_number_of_messages_not_visible = property(lambda queue: counts(queue)[2])  # type: ignore[method-assign,assignment]


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


class _KeepAliveHandler(MotoRequestHandler):
    """moto's request handler with HTTP/1.1 keep-alive.

    werkzeug's development server answers every request with ``Connection: close`` and, after the
    response, reads whatever else the socket holds (a body the application left unread), which on a
    kept connection would swallow the next request. Every AWS call of every handler then opens a TCP
    connection (and the server a thread): thousands of connections in ``TIME_WAIT`` after a minute
    of load, and a connect per call on the hot path. This handler bounds the request to its
    ``Content-Length`` while werkzeug serves it (so that trailing read ends at the body), drains what
    the application did not read, and keeps the connection open. A chunked request body (which the
    SDKs do not send to these APIs) still closes it, as before."""

    _body: LimitedStream | None = None

    def setup(self) -> None:
        super().setup()
        # headers and body leave in separate writes: without this, Nagle's algorithm holds the body
        # back until the client's delayed ACK on a kept connection (tens of milliseconds per call)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if "wsgi.input_terminated" not in environ:  # not chunked: the length says where the body ends
            try:
                length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
            except ValueError:
                return environ
            self._body = LimitedStream(environ["wsgi.input"], length)
            environ["wsgi.input"] = self.rfile = self._body  # type: ignore[assignment]
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() == "connection" and value.lower() == "close" and self._body is not None:
            return  # the body is bounded and drained: the connection can take the next request
        super().send_header(keyword, value)

    def run_wsgi(self) -> None:
        raw, self._body = self.rfile, None
        try:
            super().run_wsgi()
        finally:
            self.rfile = raw
            body, self._body = self._body, None
        if body is None:
            self.close_connection = True
        elif not self.close_connection:
            try:
                body.exhaust()
            except OSError:
                self.close_connection = True


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves a host.

    moto works that out again for every request, under one lock for the whole server: it lists its
    own package folder on disk (``os.listdir`` and an ``isdir`` per service, about 200) and then
    tries its URL patterns one by one. Under concurrent clients that was the largest single share of
    the embedded AWS's CPU time, and every other request waited for the lock meanwhile. The answer
    depends only on the host name and moto's installed modules, so each host is worked out once."""

    def __init__(self, create_app: Callable[..., Any]) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        try:
            return self._backends[host]
        except KeyError:
            backend = self._backends[host] = super().get_backend_for_host(host)
            return backend


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
        _item_backups_for_transactions()
        _queue_counts_in_one_pass()
        app = _LambdaDispatch(_Dispatcher(create_backend_app), self.functions, self.configurations)
        try:
            self._server = make_server(self.host, self.port, app, True, request_handler=_KeepAliveHandler)
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
