"""Lazily built boto3 clients that callers may replace by injection."""

from __future__ import annotations

import functools
import gc
import os
import random
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

__all__ = [
    "RETRY_CONFIG",
    "SERVICES",
    "SNAPSTART_INITIALIZATION",
    "AwsClients",
    "Lazy",
    "entry_point",
    "freeze_heap",
    "new_session",
    "prime_sdk",
    "register_snapstart_hooks",
]

T = TypeVar("T")
R = TypeVar("R")
Handler = TypeVar("Handler", bound=Callable[..., Any])
P = ParamSpec("P")

#: Standard retry mode: exponential backoff with full jitter, throttling aware.
RETRY_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=3, read_timeout=10)

#: the services :class:`AwsClients` builds clients of (one property each)
SERVICES = ("dynamodb", "s3", "kms", "sqs", "comprehend", "stepfunctions", "connect")

#: botocore's data loader, shared by every session this module makes: it caches what it parsed from
#: botocore's JSON files (service models, endpoint rule sets, partitions, retry rules), which is most of
#: what building a client costs (about 110 ms of CPU for four clients in a new process, 20 ms once the
#: files are parsed). It holds library data only: no credential, no connection, nothing of a request.
_shared_loader: Any = None


def new_session() -> boto3.Session:
    """A boto3 session whose clients share botocore's parsed data files with every other such session."""
    global _shared_loader  # one loader per process, like botocore's own default session
    core = botocore.session.Session()
    if _shared_loader is None:
        _shared_loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _shared_loader)
    session = boto3.Session(botocore_session=core)
    # boto3 adds its own data folder to the loader's search path for each session: once is enough
    _shared_loader.search_paths[:] = list(dict.fromkeys(_shared_loader.search_paths))
    return session


def prime_sdk() -> None:
    """Parse botocore's data files for every service of :data:`SERVICES` into the shared loader, by
    building a client of each and dropping it (SnapStart's before-snapshot hook: the snapshot then holds
    the parsed files, and a restored environment builds its clients without reading them again).

    The clients are built with placeholder keys, so the credential chain is never consulted: no
    credential, token or connection of the initialising environment is left in the snapshot."""
    session = new_session()
    for name in SERVICES:
        try:
            session.client(
                name,
                config=RETRY_CONFIG,
                # B106 accepted: placeholders that keep botocore from resolving real credentials
                aws_access_key_id="snapshot-priming",
                aws_secret_access_key="snapshot-priming",  # noqa: S106  # nosec B106
            )
        except BotoCoreError:  # e.g. no region configured: that client is then built as before, on first use
            continue


#: Lambda's ``AWS_LAMBDA_INITIALIZATION_TYPE`` while it initialises a version for its SnapStart snapshot
SNAPSTART_INITIALIZATION = "snap-start"


def freeze_heap() -> None:
    """Collect what init left as garbage, then move every object still alive into the collector's
    permanent generation (SnapStart's last before-snapshot hook). Init leaves a heap of some 300,000
    long-lived objects (modules, botocore's models, pydantic's validators); the first full collection
    of a restored environment would walk all of them during its first request (measured here on
    Python 3.11: about 60 ms of the agent view's; Lambda's 3.14 collects incrementally, which spreads
    that walk rather than removing it). Frozen, they are never walked again; they live as long as the
    environment anyway. Only while Lambda initialises a SnapStart version: elsewhere (the embedded
    stack, tests) these hooks freeze nothing."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != SNAPSTART_INITIALIZATION:
        return
    gc.collect()
    gc.freeze()


#: whether this process has registered :func:`freeze_heap` and :func:`prime_sdk` (once per process:
#: see :func:`register_snapstart_hooks`)
_process_hooks_registered = False


class AwsClients:
    """Builds each client on first use from ``session`` (or takes the ones passed in).

    ``AwsClients(session=boto3.Session(...))`` or ``AwsClients(dynamodb=my_stub_client)``.
    """

    def __init__(self, session: boto3.Session | None = None, endpoint_url: str | None = None, **clients: Any) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = dict(clients)
        self._lock = threading.Lock()

    def _get(self, name: str) -> Any:
        """The client, or until it is first used a stand-in that builds it then: a service graph is
        built per invocation and names every client its services might call, while one request
        usually calls a few (a cold start pays for each client built: service model, endpoint rules)."""
        client = self._clients.get(name)
        return client if client is not None else _ClientOnFirstUse(self, name)

    def _client(self, name: str) -> Any:
        client = self._clients.get(name)
        if client is None:
            with self._lock:  # a boto3 session is not thread-safe (the local stack calls handlers from threads)
                client = self._clients.get(name)
                if client is None:
                    # one session for all the clients, on the data loader every session of this
                    # module shares (new_session): botocore's files are parsed once per process
                    if self._session is None:
                        self._session = new_session()
                    client = self._session.client(name, config=RETRY_CONFIG, endpoint_url=self._endpoint_url)
                    self._clients[name] = client
        return client

    @property
    def dynamodb(self) -> Any:
        return self._get("dynamodb")

    @property
    def s3(self) -> Any:
        return self._get("s3")

    @property
    def kms(self) -> Any:
        return self._get("kms")

    @property
    def sqs(self) -> Any:
        return self._get("sqs")

    @property
    def comprehend(self) -> Any:
        return self._get("comprehend")

    @property
    def stepfunctions(self) -> Any:
        return self._get("stepfunctions")

    @property
    def connect(self) -> Any:
        return self._get("connect")


class _ClientOnFirstUse:
    """Stands in for ``clients.<name>`` until an attribute of the client is used; then it is built
    (once per :class:`AwsClients`) and every attribute comes from the real client."""

    __slots__ = ("_clients", "_name")

    def __init__(self, clients: AwsClients, name: str) -> None:
        self._clients = clients
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._clients._client(self._name), attribute)


class Lazy(Generic[T]):
    """A handler's dependencies: the AWS clients live as long as the execution environment, the
    service graph built from them lives for one invocation, and is built for one tenant.

    ``lambda_handler`` is wrapped in :meth:`per_invocation`, which drops every graph when an
    invocation starts and when it ends: key caches, pseudonym caches and counters are created per
    invocation by construction, and never outlive it (nothing is cleared by hand). ``deps()``
    returns the graph of the tenant the current request or message acts for
    (:func:`callguard.security.tenancy.current_tenant`, set by the API edge from the verified token
    and by the analysis from its message), built on first use: ``build(clients)`` for the default
    tenant (v1's wiring), ``build(clients, tenant=<id>)`` for a listed one, so a builder that takes no
    tenant fails loudly rather than serve a listed tenant with the default tenant's keys.
    ``deps(clients)`` injects clients — how tests and the local stack wire a handler without
    patching module globals.
    """

    def __init__(self, build: Callable[..., T]) -> None:
        self._build = build
        self._clients: AwsClients | None = None
        self._values: dict[str, T] = {}

    def __call__(self, clients: AwsClients | None = None, *, tenant: str | None = None) -> T:
        from callguard.security.tenancy import DEFAULT_TENANT, current_tenant

        if clients is not None:
            self._clients, self._values = clients, {}
        acting = tenant if tenant is not None else current_tenant()
        value = self._values.get(acting)
        if value is None:
            environment = self._environment()
            value = self._build(environment) if acting == DEFAULT_TENANT else self._build(environment, tenant=acting)
            self._values[acting] = value
        return value

    def _environment(self) -> AwsClients:
        if self._clients is None:
            self._clients = AwsClients()
        return self._clients

    def forget(self) -> None:
        """Drop the service graph and the clients (SnapStart hooks): a snapshot then holds no
        invocation's state, no connection pool and no credentials resolved during init."""
        self._values, self._clients = {}, None

    def per_invocation(self, handler: Callable[P, R]) -> Callable[P, R]:
        """``handler`` with service graphs of its own for each invocation (built when first used)."""

        @functools.wraps(handler)
        def invoke(*args: P.args, **kwargs: P.kwargs) -> R:
            self._values = {}
            try:
                return handler(*args, **kwargs)
            finally:
                self._values = {}  # unwrapped keys and counters go with the invocation

        return invoke


def register_snapstart_hooks(*dependencies: Lazy[Any]) -> bool:
    """Register Lambda SnapStart's runtime hooks for a handler's ``dependencies``.

    Before the snapshot and after each restore every :class:`Lazy` forgets its service graph and
    clients (sockets and credentials of the initialising environment are not reused). Before the
    snapshot, then, botocore's data files are parsed (:func:`prime_sdk`: a restored environment builds
    its clients from memory) and the heap is frozen (:func:`freeze_heap`). After a restore ``random``
    is seeded again (restored environments would otherwise share its state; identifiers come from
    ``uuid4``, i.e. ``os.urandom``, which SnapStart keeps unique). ``snapshot_restore_py`` ships with
    Lambda's Python runtimes (3.12 on); where it is absent nothing is registered and ``False`` is
    returned (locally the hooks are registered and never run).
    """
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    global _process_hooks_registered  # the process's own hooks, registered by the first call
    # Lambda runs before-snapshot hooks in reverse order of registration. The freeze, registered once
    # and first, runs after every other hook of the process (every dependency has forgotten its clients
    # and keys by then, so nothing they held is kept from collection), however many handlers register;
    # the priming fills the one loader all sessions share, so once is enough too.
    if not _process_hooks_registered:
        register_before_snapshot(freeze_heap)
        register_before_snapshot(prime_sdk)
        _process_hooks_registered = True
    for dependency in dependencies:
        # held weakly: the handler module keeps its dependencies; a registry must not (tests load handlers often)
        forget = _forget_later(weakref.ref(dependency))
        register_before_snapshot(forget)
        register_after_restore(forget)
    register_after_restore(random.seed)
    return True


def _forget_later(reference: weakref.ref[Lazy[Any]]) -> Callable[[], None]:
    def forget() -> None:
        dependency = reference()
        if dependency is not None:
            dependency.forget()

    return forget


def entry_point(
    logger: Logger, metrics: Metrics, deps: Lazy[Any], tracer: Tracer | None = None, *, cold_start_metric: bool = False
) -> Callable[[Handler], Handler]:
    """The one shape of every function's entry point, on ``lambda_handler``: Powertools' Lambda context
    in the logs (state cleared for each invocation, the event never logged), the invocation traced where
    the function traces (never its response or exception: either could carry what the request did), its
    metrics flushed (``cold_start_metric``: with Powertools' ColdStart metric), and the service graph
    ``deps`` built for this invocation only (:meth:`Lazy.per_invocation`)."""

    def wrap(handler: Handler) -> Handler:
        wrapped: Any = deps.per_invocation(handler)
        wrapped = metrics.log_metrics(wrapped, capture_cold_start_metric=cold_start_metric)
        if tracer is not None:
            wrapped = tracer.capture_lambda_handler(wrapped, capture_response=False, capture_error=False)
        wrapped = logger.inject_lambda_context(wrapped, clear_state=True, log_event=False)
        return wrapped

    return wrap
