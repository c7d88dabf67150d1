"""The embedded stack: moto server + API emulator + token endpoint + pollers, from ``cdk.out``.

Everything is derived from the synthesized template (resources, function code and
environment, routes, scopes, gateway responses, event source mappings); nothing in
here names a table, a route or a scope. Never deployed.
"""

from __future__ import annotations

import functools
import gc
import io
import json
import logging
import os
import secrets
import socket
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs

import boto3

from callguard.names import Env
from callguard.security.tenancy import DEFAULT_TENANT, TenantDirectory, group_name
from infra import openapi
from local import permissions
from local.auth import AuthError, Authorizer, LocalClient, LocalIssuer
from local.comprehend import ComprehendServer
from local.connect import ConnectServer
from local.console import LocalConsole
from local.gateway import Gateway, LambdaRuntime, Response, stage_name, template_routes
from local.moto_server import LocalMotoServer
from local.pollers import SqsPoller
from local.provision import ACCOUNT, Provisioner, consumed_queue, function_logical, load_template
from local.workers import (
    PoolClosedError,
    WorkerPool,
    collect_young_objects_less_often,
    default_size,
    freeze_startup_heap,
)

__all__ = ["OPENAPI_PATH", "STATE_FILE", "LocalStack", "PortInUseError", "consumer_patience"]

REGION = "eu-central-1"
ROOT = Path(__file__).resolve().parents[1]
#: Where a running stack leaves its ports and local client secrets for `make token` (0600;
#: ``CALLGUARD_LOCAL_STATE`` moves it, e.g. for tests running beside a developer's stack).
STATE_FILE = Path(os.environ.get("CALLGUARD_LOCAL_STATE") or ROOT / ".local" / "state.json")
logger = logging.getLogger("callguard.local")

#: The local token endpoint's extra grant: a correctly signed token that is wrong in one way
#: (``kind`` of :attr:`LocalIssuer.INVALID_KINDS`), for authorization tests. Never in AWS.
# B105 accepted: a grant type's name, not a password
INVALID_TOKEN_GRANT = "urn:callguard:local:invalid-token"  # noqa: S105  # nosec B105

#: The API's OpenAPI document, public like ``/v1/health`` (generated from the code, as ``make openapi``
#: writes it); schemathesis and other tools load it from the running stack.
OPENAPI_PATH = "/v1/openapi.json"

#: Local people and their Cognito groups (in AWS: admin-created users with MFA), per tenant: the
#: default tenant's are ``agent`` and ``compliance`` (groups ``agent``, ``compliance``), a listed
#: tenant's ``<tenant>.agent`` … (groups ``<tenant>:agent`` …).
LOCAL_PEOPLE: dict[str, tuple[str, ...]] = {"agent": ("agent",), "compliance": ("compliance",)}


def local_username(tenant: str, role: str) -> str:
    return role if tenant == DEFAULT_TENANT else f"{tenant}.{role}"


def consumer_patience(template: dict[str, Any], mapping: dict[str, Any]) -> float:
    """How long a batch of the SQS event source mapping ``mapping`` (its properties) lets the API's
    requests go first for a worker (:class:`local.workers.WorkerPool`): the queue's visibility
    timeout less the function's own timeout, the time a received batch has before its messages could
    reappear less what the function may need. 0 (no giving way: the batch takes its turn in order)
    when the template does not say which of its queues the mapping reads, or gives no number."""
    resources = template["Resources"]
    queue = consumed_queue(mapping, resources)
    if queue is None:
        return 0.0
    function = function_logical(mapping["FunctionName"], resources)
    visibility = _seconds(resources[queue].get("Properties", {}).get("VisibilityTimeout", 30))  # SQS's default
    timeout = _seconds(resources[function].get("Properties", {}).get("Timeout", 3))  # Lambda's default
    if visibility is None or timeout is None:
        return 0.0
    return max(0.0, visibility - timeout)


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):  # e.g. an intrinsic the template leaves to CloudFormation
        return None


class _LineAtomicStdout(io.TextIOBase):
    """stdout for many in-process handlers on many threads: each writes whole lines, so two JSON
    log records (or metrics) never interleave on one line, as they never do in Lambda."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._local = threading.local()

    def write(self, text: str) -> int:
        pending = getattr(self._local, "pending", "") + text
        complete, _, rest = pending.rpartition("\n")
        if complete or pending.endswith("\n"):
            with self._lock:
                self._target.write(complete + "\n")
                self._target.flush()
        self._local.pending = rest
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._target.flush()

    def writable(self) -> bool:
        return True


class _ApiServer(ThreadingHTTPServer):
    """The API's HTTP server: a thread per connection, and a listen backlog for a burst of clients
    (socketserver's default of 5 drops or resets connections when 16 clients connect at once)."""

    request_queue_size = 128
    daemon_threads = True


class PortInUseError(OSError):
    """A port the stack needs is taken; the message is one sentence naming the port and the setting."""


def _check_port(host: str, port: int, setting: str) -> None:
    """Fail before anything starts, with one sentence, if ``port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as the servers bind: SO_REUSEADDR (a port in TIME_WAIT is free), no SO_REUSEPORT
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            hint = ", LocalStack's default too" if port == 4566 else ""
            raise PortInUseError(
                exc.errno,
                f"port {port} ({setting}{hint}) on {host} is already in use by another program or stack; "
                f"stop it or choose another port, e.g. {setting}={port + 1 if port < 65535 else 1024}",
            ) from None


@dataclass
class LocalStack:
    cdk_out: Path
    api_port: int = 8080
    aws_port: int = 4566
    host: str = "127.0.0.1"
    retry_seconds: int = 1
    state_file: Path | None = STATE_FILE
    #: where the handlers' output (Powertools JSON logs, EMF metrics) goes; None: this process's stdout
    log_file: Path | None = None
    pollers: list[SqsPoller] = field(default_factory=list)
    #: worker processes that run the API's functions and the SQS pollers' (``local/workers.py``); None:
    #: ``CALLGUARD_LOCAL_WORKERS``
    #: or one per core plus one; 0: in this process, beside moto and the pollers (a test that rewires a
    #: loaded handler in place needs that)
    api_workers: int | None = None
    workers: WorkerPool | None = field(default=None, init=False, repr=False)
    _log: TextIO | None = field(default=None, init=False, repr=False)
    _stdout: TextIO | None = field(default=None, init=False, repr=False)
    _log_handler: logging.Handler | None = field(default=None, init=False, repr=False)
    _state_written: bool = field(default=False, init=False, repr=False)
    #: the collector's thresholds before start() changed them (None: unchanged)
    _collector: tuple[int, int, int] | None = field(default=None, init=False, repr=False)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def aws_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    def check_ports(self) -> None:
        """Raise :class:`PortInUseError` (one sentence) when the API or AWS port is taken."""
        _check_port(self.host, self.api_port, "CALLGUARD_API_PORT")
        _check_port(self.host, self.aws_port, "CALLGUARD_AWS_PORT")

    def start(self) -> None:
        self.check_ports()
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("a", encoding="utf-8")
            self._stdout = sys.stdout
            # the stack's own warnings (a function error, a gateway failure) go with the handlers' logs
            self._log_handler = logging.StreamHandler(self._log)
            logging.getLogger("callguard.local").addHandler(self._log_handler)
            sys.stdout = _LineAtomicStdout(self._log)  # handlers capture it when they are loaded below
        elif not isinstance(sys.stdout, _LineAtomicStdout):
            sys.stdout = _LineAtomicStdout(sys.stdout)  # handlers capture it when they are loaded below
        self._set_environment()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        permissions.install()  # before any client exists: every AWS call a function makes is judged
        self.moto = LocalMotoServer(self.host, self.aws_port).start()
        # Comprehend comes from the local emulator (moto's answers are canned); boto3 clients
        # pick it up through the service-specific endpoint variable, handlers see no difference.
        self.comprehend = ComprehendServer(host=self.host).start()
        os.environ["AWS_ENDPOINT_URL_COMPREHEND"] = self.comprehend.url
        # Connect's contact look-up (moto has none) from local/connect_contacts.json, the same way
        self.connect = ConnectServer(host=self.host).start()
        os.environ["AWS_ENDPOINT_URL_CONNECT"] = self.connect.url
        self.session = boto3.Session(region_name=REGION)
        self.template = load_template(self.cdk_out)
        self.provisioner = Provisioner(self.session, region=REGION, endpoint_url=self.aws_url)
        self.resources = self.provisioner.provision(self.template)
        permissions.activate(permissions.model_for(self.template, self.resources))
        self.runtime = LambdaRuntime(self.cdk_out, self.template, self.provisioner)
        self.runtime.load_all()
        self._point_importer_at_local_connect()
        self._launch_workers(permissions.active_model())
        # Step Functions' Lambda tasks (and any Invoke) reach the in-process handlers.
        self.moto.functions.update({name: f.invoke for name, f in self.runtime.functions.items()})
        self.moto.configurations.update({name: self._function_configuration(name) for name in self.runtime.functions})
        # the tenants of the template's API functions (CALLGUARD_TENANTS; absent: v1's one tenant)
        self.tenants = TenantDirectory.from_env()
        self.issuer = self._issuer()
        self.authorizer = Authorizer(
            issuer=self.issuer.issuer, jwks=self.issuer.jwks(), client_ids=frozenset(self.issuer.clients)
        )
        self.gateway = Gateway(self.template, self.runtime, self.authorizer, stage_name(self.template))
        # the compliance console and its hosted-UI sign-in (code + PKCE), at /console/ (local/console.py)
        self.console = LocalConsole(self.api_url, self.aws_url, self.issuer, self.template)
        if self.workers is not None:
            self.gateway.remote = self.workers.wait_ready()
        self.openapi_json = openapi.to_json(openapi.document())
        # (both until stop(): this process may start another stack after this one)
        freeze_startup_heap()
        self._collector = collect_young_objects_less_often()
        self._start_pollers()
        self._start_http()
        self._write_state()

    def _launch_workers(self, model: permissions.TemplateModel | None) -> None:
        """Start the API's worker processes (they load while the rest of the stack starts)."""
        size = default_size() if self.api_workers is None else self.api_workers
        if size <= 0:
            return
        served = {route.function for route in template_routes(self.template) if route.function}
        served |= {  # and the functions of the SQS event source mappings (the analysis of accepted calls)
            function_logical(r["Properties"]["FunctionName"], self.template["Resources"])
            for r in self.template["Resources"].values()
            if r["Type"] == "AWS::Lambda::EventSourceMapping"
        }
        environments = {k: v for k, v in self.runtime.environments().items() if k in served}
        self.workers = WorkerPool(self.cdk_out, self.template, environments, size, model).launch()

    def _point_importer_at_local_connect(self) -> None:
        """The one local difference of the importer: without a Connect instance in the config it
        looks contacts up in the emulated instance of ``local/connect_contacts.json``."""
        raw = os.environ.get(Env.IMPORT_SETTINGS.value)
        if not raw:
            return
        settings = json.loads(raw)
        if not settings.get("connect_instance_arn"):
            settings["connect_instance_arn"] = self.connect.instance_arn(REGION, ACCOUNT)
            os.environ[Env.IMPORT_SETTINGS.value] = json.dumps(settings)

    def _set_environment(self) -> None:
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                # B105 accepted: moto's dummy credentials
                "AWS_SECRET_ACCESS_KEY": "local",  # nosec B105
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.aws_url,
                "MOTO_PORT": str(self.aws_port),
                "POWERTOOLS_TRACE_DISABLED": "1",
                "POWERTOOLS_DEV": "false",
                # `make purge AS_OF=…` purges as of a future instant (moto never expires anything)
                Env.PURGE_ALLOW_FUTURE.value: "1",
            }
        )
        os.environ.pop("AWS_PROFILE", None)

    def _client_settings(self) -> dict[str, LocalClient]:
        clients = {}
        for logical, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::Cognito::UserPoolClient":
                continue
            props = resource["Properties"]
            client_id = self.resources.refs[logical]
            scopes = tuple(str(self.provisioner.resolve(s)) for s in props.get("AllowedOAuthScopes", []))
            clients[client_id] = LocalClient(
                client_id=client_id,
                client_secret=self.resources.attributes[logical]["ClientSecret"],
                flows=tuple(props.get("AllowedOAuthFlows", [])),
                scopes=scopes,
                token_minutes=int(props.get("AccessTokenValidity", 60)),
            )
        return clients

    def _issuer(self) -> LocalIssuer:
        (pool_logical,) = self.resources.of_type("AWS::Cognito::UserPool")
        pool_id = self.resources.refs[pool_logical]
        pre_token = next(
            (
                f
                for f in self.runtime.functions.values()
                if "CALLGUARD_GROUP_SCOPES" in self._function_env(f.logical_id)
            ),
            None,
        )
        cognito = self.session.client("cognito-idp", endpoint_url=self.aws_url)
        users: dict[str, tuple[str, tuple[str, ...]]] = {}
        for tenant in sorted(self.tenants.tenants):
            for role, roles in LOCAL_PEOPLE.items():
                name = local_username(tenant, role)
                groups = tuple(group_name(tenant, r) for r in roles)
                password = secrets.token_urlsafe(18)
                cognito.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
                for group in groups:
                    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName=group)
                users[name] = (password, groups)
        return LocalIssuer(
            issuer=self.resources.attributes[pool_logical]["ProviderURL"],
            clients=self._client_settings(),
            users=users,
            pre_token=pre_token.invoke_raw if pre_token else None,
        )

    def _function_env(self, logical: str) -> dict[str, Any]:
        resource = self.template["Resources"][logical]
        variables: dict[str, Any] = resource["Properties"].get("Environment", {}).get("Variables", {})
        return variables

    def _function_configuration(self, logical: str) -> dict[str, Any]:
        """What ``aws lambda list-functions`` shows of a local function (from the template)."""
        props = self.template["Resources"][logical]["Properties"]
        return {
            "FunctionName": logical,
            "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical}",
            "Description": str(self._function_env(logical).get("POWERTOOLS_SERVICE_NAME", "")),
            "Runtime": props.get("Runtime"),
            "Handler": props.get("Handler"),
            "MemorySize": props.get("MemorySize", 128),
            "Timeout": props.get("Timeout", 3),
            "Architectures": props.get("Architectures", ["x86_64"]),
        }

    def _service_of(self, logical: str) -> str:
        """The function's service name without the product prefix (``privacy_steps-verify_erasure``)."""
        return str(self._function_env(logical).get("POWERTOOLS_SERVICE_NAME", logical)).removeprefix("callguard-")

    def _start_pollers(self) -> None:
        sqs = self.session.client("sqs", endpoint_url=self.aws_url)
        arn_to_url = {
            self.resources.attributes[k]["Arn"]: self.resources.refs[k]
            for k in self.resources.of_type("AWS::SQS::Queue")
        }
        for resource in self.template["Resources"].values():
            if resource["Type"] != "AWS::Lambda::EventSourceMapping":
                continue
            props = resource["Properties"]
            arn = str(self.provisioner.resolve(props["EventSourceArn"]))
            function = self.runtime.functions[function_logical(props["FunctionName"], self.template["Resources"])]
            poller = SqsPoller(
                sqs=sqs,
                queue_url=arn_to_url[arn],
                queue_arn=arn,
                handler=self._consumer(function.logical_id, props),
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                retry_seconds=self.retry_seconds,
                function_id=function.logical_id,
            )
            poller.start()
            self.pollers.append(poller)

    def _consumer(self, function: str, mapping: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
        """What the SQS poller of ``mapping`` (an event source mapping's properties) invokes: the
        function in a worker, as a batch the API's requests go ahead of, or in this process."""
        if self.workers is not None and function in self.workers.functions:
            return functools.partial(
                self.workers.invoke, function, background=True, patience=consumer_patience(self.template, mapping)
            )
        handler: Callable[[dict[str, Any]], Any] = self.runtime.functions[function].invoke
        return handler

    def _start_http(self) -> None:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "callguard-local"

            def log_message(self, format: str, *args: Any) -> None:
                return  # request lines may carry ids; the handlers log what matters, without personal data

            def _read(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, response: Response) -> None:
                data = response.body.encode("utf-8")
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self) -> None:
                body = self._read()
                try:
                    response = stack.answer(self.command, self.path, dict(self.headers.items()), body)
                except PoolClosedError:  # the stack is stopping: no worker will run this request
                    response = stack.gateway.gateway_error("DEFAULT_5XX", "local")
                except Exception as exc:
                    logger.error("local gateway failure", extra={"error_type": type(exc).__name__})
                    response = stack.gateway.gateway_error("DEFAULT_5XX", "local")
                try:
                    self._send(response)
                except ConnectionError:  # the client hung up before its answer (e.g. Ctrl-C): nobody to tell
                    self.close_connection = True
                except Exception as exc:  # an answer that cannot be written (never the client's doing)
                    logger.error("local gateway failure", extra={"error_type": type(exc).__name__})
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch  # noqa: N815

        self.http = _ApiServer((self.host, self.api_port), Handler)
        self.http.daemon_threads = True
        self._http_thread = threading.Thread(target=self.http.serve_forever, name="api", daemon=True)
        self._http_thread.start()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """The local token endpoint, its keys and the OpenAPI document, else :meth:`serve`."""
        if path == "/oauth2/token" and method == "POST":
            return self._token(body)
        if path == "/.well-known/jwks.json" and method == "GET":
            return Response(200, json.dumps(self.issuer.jwks()))
        if path.partition("?")[0] == OPENAPI_PATH and method == "GET":
            return Response(200, self.openapi_json)
        return self.serve(method, path, headers, body)

    def serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """The console's files and sign-in pages, else the API."""
        if self.console.handles(method, path):
            return self.console.handle(method, path, headers, body)
        return self.gateway.handle(method, path, headers, body)

    def _token(self, body: bytes) -> Response:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", errors="replace")).items()}
        try:
            if form.get("grant_type") == "client_credentials":
                token = self.issuer.client_credentials(
                    form.get("client_id", ""), form.get("client_secret", ""), form.get("scope")
                )
            elif form.get("grant_type") == "password":
                token = self.issuer.password(
                    form.get("client_id", ""),
                    form.get("username", ""),
                    form.get("password", ""),
                    form.get("scope"),
                    as_person=form.get("as_person") or None,
                )
            elif form.get("grant_type") == "authorization_code":  # the console's code + PKCE sign-in
                token = self.console.redeem(form)
            elif form.get("grant_type") == INVALID_TOKEN_GRANT:
                # local only, for the authorization tests: a token the API must refuse
                self.issuer.client_credentials(form.get("client_id", ""), form.get("client_secret", ""), None)
                token = self.issuer.invalid_token(form.get("kind", ""), form.get("client_id", ""), form.get("scope"))
            else:
                return Response(400, json.dumps({"error": "unsupported_grant_type"}))
        except AuthError as exc:
            return Response(400, json.dumps({"error": exc.message}))
        # B105 accepted: a token type
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": 900}  # nosec B105
        return Response(200, json.dumps(answer))

    def _platform_of(self, tenant: str) -> LocalClient:
        machines = [c for c in self.issuer.clients.values() if "client_credentials" in c.flows]
        if self.tenants.clients is None:  # v1: one machine client, the default tenant's
            (only,) = machines
            return only
        return next(c for c in machines if self.tenants.clients.get(c.client_id) == tenant)

    def credentials(self) -> dict[str, Any]:
        platform = self._platform_of(DEFAULT_TENANT)
        people = next(c for c in self.issuer.clients.values() if "code" in c.flows)
        tenants = {}
        for tenant in sorted(self.tenants.tenants):
            client = self._platform_of(tenant)
            tenants[tenant] = {
                "platform": {"client_id": client.client_id, "client_secret": client.client_secret},
                "people": {
                    role: {"username": name, "password": self.issuer.users[name][0]}
                    for role in LOCAL_PEOPLE
                    for name in [local_username(tenant, role)]
                },
            }
        return {
            "api_url": self.api_url,
            "aws_url": self.aws_url,
            "token_url": f"{self.api_url}/oauth2/token",
            "platform": {"client_id": platform.client_id, "client_secret": platform.client_secret},
            "people_client_id": people.client_id,
            "people": {role: self.issuer.users[role][0] for role in LOCAL_PEOPLE},
            # every tenant's platform client and people (``make token TENANT=<id>``)
            "tenants": tenants,
            "import_bucket": os.environ.get(Env.IMPORT_BUCKET.value),
            "calls_table": os.environ.get(Env.CALLS_TABLE.value),
            "import_settings": json.loads(os.environ.get(Env.IMPORT_SETTINGS.value) or "null"),
            # scheduled functions by service name, for on-demand runs through the Lambda endpoint
            "functions": {self._service_of(logical): logical for logical in self.runtime.functions},
            # what `callguard audit verify` needs to find the audit log, its anchors and the anchor key
            "audit": self._audit_settings(),
        }

    def _audit_settings(self) -> dict[str, str]:
        for logical in self.runtime.functions:
            env = self._function_env(logical)
            if Env.AUDIT_ANCHOR_KEY_ID.value in env:
                return {
                    name: str(self.provisioner.resolve(env[variable.value]))
                    for name, variable in (("table", Env.AUDIT_TABLE), ("anchors_bucket", Env.AUDIT_ANCHORS_BUCKET),
                                           ("anchor_key", Env.AUDIT_ANCHOR_KEY_ID))
                }  # fmt: skip
        return {}

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(self.credentials(), indent=2))
        tmp.replace(self.state_file)
        self._state_written = True

    def stop(self) -> None:
        self._stop_pollers()
        if self.workers is not None:
            self.workers.stop()
        if getattr(self, "http", None) is not None:
            thread = getattr(self, "_http_thread", None)
            if thread is not None and thread.is_alive():  # shutdown() waits for a serving loop
                self.http.shutdown()
            self.http.server_close()
        if getattr(self, "comprehend", None) is not None:
            self.comprehend.stop()
        if getattr(self, "connect", None) is not None:
            self.connect.stop()
        if getattr(self, "moto", None) is not None:
            self.moto.stop()
        self._remove_state()
        if self._collector is not None:  # what this stack loaded is garbage now: collectable again
            gc.unfreeze()
            gc.set_threshold(*self._collector)
            self._collector = None
        if self._log is not None:
            if self._log_handler is not None:
                logging.getLogger("callguard.local").removeHandler(self._log_handler)
            sys.stdout = self._stdout or sys.__stdout__
            self._log.close()
            self._log = None

    def _stop_pollers(self) -> None:
        for poller in self.pollers:  # all at once: each may be in a long poll
            poller.signal_stop()
        if self.workers is not None:
            self.workers.close()  # a poller (or a request) waiting for a worker gives up now
        for poller in self.pollers:
            poller.stop()

    def _remove_state(self) -> None:
        """Remove the state file only while it is this stack's: another stack (on other ports) may
        have written it since, and `make token` for that one must keep working."""
        if self.state_file is None or not self._state_written:
            return
        try:
            ours = json.loads(self.state_file.read_text()).get("api_url") == self.api_url
        except (OSError, ValueError):
            return
        if ours:
            self.state_file.unlink(missing_ok=True)
