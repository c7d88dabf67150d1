"""SnapStart: what a snapshot of an initialised API function would hold.

Lambda runs the ``before snapshot`` hooks (``snapshot_restore_py``, in reverse order of
registration) after the function's init, then snapshots memory; every restored execution
environment starts from it. The API handlers register hooks (``callguard.clients.register_snapstart_hooks``)
that make their dependencies forget the service graph and the AWS clients. These tests run the
hooks the handler registered and then walk everything reachable from the handler module (what a
snapshot would carry of the function's own state; library modules are skipped): no unwrapped
data key, no keyring, no AWS client of callguard's services (connection pools, credentials)
may be left — even when init had built them and used a key (the attacker's warm container).
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.client import BaseClient
from snapshot_restore_py import get_after_restore, get_before_snapshot

from callguard.clients import SERVICES, AwsClients, Lazy
from callguard.security.crypto import SubjectKeyring
from tests.support import FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

#: the API functions (SnapStart's candidates) → the module global holding their dependencies
API_HANDLERS = {"ingest": "dependencies", "agent_view": "service", "route": "service", "privacy": "dependencies"}
#: what callguard's functions call (one ``AwsClients`` property each); Powertools' X-Ray recorder may
#: hold an ``xray`` client of its own
CALLGUARD_SERVICES = set(SERVICES)


def _reachable(roots: Iterable[Any], limit: int = 2_000_000) -> Iterator[Any]:
    """Every object reachable from ``roots`` (breadth first), not entering modules or their namespaces."""
    import sys

    namespaces = {id(m.__dict__) for m in list(sys.modules.values()) if m is not None}
    seen: set[int] = set()
    queue = [r for r in roots if not isinstance(r, ModuleType)]
    while queue and len(seen) < limit:
        obj = queue.pop()
        if id(obj) in seen or isinstance(obj, ModuleType) or id(obj) in namespaces:
            continue
        seen.add(id(obj))
        yield obj
        queue.extend(gc.get_referents(obj))


def _hooks_since(registry: list[Any], start: int) -> list[Callable[[], Any]]:
    return [lambda f=f, a=a, k=k: f(*a, **k) for f, a, k in registry[start:]]


def _snapshot(module_loader: Callable[[], ModuleType]) -> tuple[ModuleType, list[Callable[[], Any]]]:
    """Load a handler as Lambda's init does; its before-snapshot hooks, in the order Lambda runs them."""
    start = len(get_before_snapshot())
    module = module_loader()
    return module, list(reversed(_hooks_since(get_before_snapshot(), start)))


def _leftovers(module: ModuleType, digests: set[str]) -> list[str]:
    found = []
    for obj in _reachable(vars(module).values()):
        if isinstance(obj, SubjectKeyring | AwsClients):
            found.append(type(obj).__name__)
        elif isinstance(obj, BaseClient) and obj.meta.service_model.service_name in CALLGUARD_SERVICES:
            found.append(f"{obj.meta.service_model.service_name} client")
        elif isinstance(obj, bytes | bytearray) and len(obj) == 32 and hashlib.sha256(obj).hexdigest() in digests:
            found.append("an unwrapped data key")
    return found


@pytest.mark.parametrize("name", sorted(API_HANDLERS))
def test_the_before_snapshot_hooks_leave_no_client_and_no_service_graph(aws: dict[str, Any], name: str) -> None:
    module, hooks = _snapshot(lambda: load_handler(name))
    dependencies: Lazy[Any] = getattr(module, API_HANDLERS[name])
    dependencies(aws["clients"])  # the worst init: clients injected and the graph built
    assert _leftovers(module, set()), "the walk must see the clients an init built"
    assert hooks, f"{name} registers no before-snapshot hook"

    for hook in hooks:
        hook()

    assert _leftovers(module, set()) == []
    # after a restore the dependencies are built again from fresh clients on first use
    restored = len(get_after_restore())
    assert restored >= 2  # forget + re-seed of `random`


def test_no_unwrapped_key_of_a_used_subject_survives_the_before_snapshot_hooks(aws: dict[str, Any]) -> None:
    digests: set[str] = set()

    def keep_digest(parsed: dict[str, Any], **_: Any) -> None:
        plaintext = parsed.get("Plaintext")
        if plaintext:  # only a digest: the test itself holds no key
            digests.add(hashlib.sha256(plaintext).hexdigest())

    kms_events = aws["clients"].kms.meta.events
    kms_events.register("after-call.kms", keep_digest)
    try:
        module, hooks = _snapshot(lambda: load_handler("ingest"))
        module.dependencies(aws["clients"])
        body = call_body(call_id="snapstart-1", caller={"phone": "+49 30 5550199"})
        answer = module.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())
        assert answer["statusCode"] == 202
        # a warm environment whose graph was built outside an invocation and used a subject's key
        graph = module.dependencies()
        keyring = next(o for o in _reachable([graph]) if isinstance(o, SubjectKeyring))
        keyring.data_key("sub_snapstart_probe")
    finally:
        kms_events.unregister("after-call.kms", keep_digest)
    assert digests, "the ingest generated a data key"
    assert "an unwrapped data key" in _leftovers(module, digests), "the walk must find a cached key"

    for hook in hooks:
        hook()

    assert _leftovers(module, digests) == []


def test_environments_restored_from_one_snapshot_do_not_share_random_state() -> None:
    """Every restored environment starts from the same memory: without the after-restore hooks, two of them
    would draw the same 'random' numbers (jitter, sampling, anything seeded at init)."""
    import random

    start = len(get_after_restore())
    _module, before = _snapshot(lambda: load_handler("ingest"))
    restore = _hooks_since(get_after_restore(), start)  # in the order Lambda runs them
    assert restore, "ingest registers no after-restore hook"
    for hook in before:
        hook()
    snapshot = random.getstate()  # what every environment restored from the snapshot starts with
    draws = []
    try:
        for _environment in range(2):
            random.setstate(snapshot)
            for hook in restore:
                hook()
            draws.append([random.random() for _ in range(4)])
    finally:
        random.setstate(snapshot)
    assert draws[0] != draws[1], "two restored environments drew the same random numbers"


@pytest.fixture
def snapstart_init(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process as Lambda initialises a SnapStart version: nothing primed or frozen yet (earlier tests
    of this process ran hooks too), the freeze not yet registered, the initialisation type set; the
    heap is unfrozen again afterwards, so this test process goes on collecting."""
    import callguard.clients

    monkeypatch.setattr(callguard.clients, "_shared_loader", None)
    monkeypatch.setattr(callguard.clients, "_process_hooks_registered", False)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", callguard.clients.SNAPSTART_INITIALIZATION)
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_snapshot_holds_parsed_sdk_files_but_no_credential(
    aws: dict[str, Any], snapstart_init: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Priming must never resolve credentials (they would be the initialising environment's, in every
    restored copy), and after it a restored environment builds each client without reading a file."""
    import botocore.loaders
    import botocore.session

    module, hooks = _snapshot(lambda: load_handler("ingest"))
    assert gc.get_freeze_count() == 0

    def no_credentials(*_: Any, **__: Any) -> Any:
        raise AssertionError("the credential chain was consulted before the snapshot")

    with monkeypatch.context() as patched:
        patched.setattr(botocore.session.Session, "get_credentials", no_credentials)
        for hook in hooks:
            hook()
    assert gc.get_freeze_count() > 0, "the heap was not frozen before the snapshot"
    assert _leftovers(module, set()) == []

    files: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(self: Any, file_path: str) -> Any:
        files.append(str(file_path).rsplit("/", 2)[-2])
        return load_file(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    restored = AwsClients()  # what a dependency builds on first use after the restore
    for service in CALLGUARD_SERVICES:
        assert getattr(restored, service).meta.service_model.service_name == service
    assert files == [], f"data files parsed again after the restore: {sorted(set(files))}"


def test_the_heap_is_frozen_once_and_last_however_many_handlers_register(snapstart_init: None) -> None:
    """Two handlers' hooks in one process: the freeze must come after every dependency forgot its
    clients and keys, or what they held would be frozen into the snapshot, never collected."""
    from callguard.clients import freeze_heap, prime_sdk

    start = len(get_before_snapshot())
    load_handler("ingest")
    load_handler("route")
    order = [f for f, _, _ in reversed(get_before_snapshot()[start:])]  # as Lambda runs them
    assert order.count(freeze_heap) == 1
    assert order[-1] is freeze_heap
    assert order.count(prime_sdk) == 1


def test_nothing_is_frozen_outside_a_snapstart_initialisation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded stack and the tests run the hooks too; the hooks must not freeze their heap."""
    from callguard.clients import freeze_heap

    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    gc.unfreeze()
    freeze_heap()
    assert gc.get_freeze_count() == 0
