"""The API's Lambda functions in worker processes, apart from moto, the pollers and the gateway.

On Lambda every request runs in an execution environment of its own, beside (never inside) the
AWS services it calls. Locally, one interpreter running moto, the SQS pollers, the Step Functions
tasks *and* every API handler serialises all of it behind one interpreter lock; under a handful of
concurrent clients the API's latency is the sum of everybody's work. A :class:`WorkerPool` gives the
API functions ``size`` processes of their own (``spawn``: fresh interpreters, no threads copied
from the stack). Each worker:

* loads every API function from its packaged asset with the environment the template gives it, as
  :class:`local.gateway.LambdaRuntime` does in the stack's own process;
* reaches the embedded AWS over its HTTP endpoint (``AWS_ENDPOINT_URL``), like any client;
* serves one invocation at a time (an execution environment), so a warm container's caches behave
  as on Lambda;
* judges every AWS call its functions make against the template (the same botocore hook as the
  stack, :mod:`local.permissions`, activated without a log of its own) and ships the verdicts back
  with the answer, where the stack records them as if the call had been made in its process;
* captures what the handlers print (Powertools' JSON logs, EMF metrics) per invocation and ships it
  back too: the stack writes it, whole lines at a time, where its own handlers' output goes.

The gateway hands an invocation to the next idle worker (:meth:`WorkerPool.invoke`): the API's
requests in the order they came, ahead of the SQS pollers' batches (see :class:`Turns`); a worker that
dies is replaced and that one request fails as a Lambda crash would (the gateway answers 502/500).
Each process (the stack's and every worker) leaves what it loaded at start out of later garbage
collections (:func:`freeze_startup_heap`), and the stack's process, where moto allocates most, collects
young objects less often (:func:`collect_young_objects_less_often`).
"""

from __future__ import annotations

import collections
import contextlib
import gc
import io
import itertools
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from local import permissions

__all__ = [
    "FunctionCrashError",
    "PoolClosedError",
    "RemoteFunctionError",
    "Turns",
    "Worker",
    "WorkerPool",
    "collect_young_objects_less_often",
    "default_size",
    "freeze_startup_heap",
]

logger = logging.getLogger("callguard.local.workers")

#: ``CALLGUARD_LOCAL_WORKERS``: how many worker processes serve the API (0: in the stack's process)
WORKERS_ENV = "CALLGUARD_LOCAL_WORKERS"
READY_SECONDS = 120.0


def freeze_startup_heap() -> None:
    """Collect once, then leave everything loaded so far out of every later collection (``gc.freeze``).

    A stack process holds moto, botocore's models and every loaded handler; a worker, the API's
    handlers and their dependencies. Python's full collections walk all of it while holding the
    interpreter lock: in the stack's process they paused every request for 270-370 ms, several times
    a minute under load. What is loaded at start lives as long as the process, so nothing collectable
    is left behind; what requests create later is collected as before."""
    gc.collect()
    gc.freeze()


#: objects allocated (less those freed) between two collections of the youngest generation in the
#: stack's process (Python's default: 700)
STACK_COLLECTION_THRESHOLD = 20_000


def collect_young_objects_less_often() -> tuple[int, int, int]:
    """In the stack's process: collect the youngest generation after :data:`STACK_COLLECTION_THRESHOLD`
    allocations instead of 700. moto builds thousands of short-lived containers for each AWS call it
    answers, so at the default the collector ran several times per call, and each tenth run of the
    older generations with it, every one holding the interpreter lock that every request in the
    process waits for. At 20,000: 16-client p99 0.69-0.78 s against 0.81-0.97 s (four runs each, 2
    cores). Returns the thresholds it replaced."""
    before = gc.get_threshold()
    gc.set_threshold(STACK_COLLECTION_THRESHOLD, *before[1:])
    return before


def default_size() -> int:
    """``CALLGUARD_LOCAL_WORKERS`` if set, else one worker per core plus one (at least two): a worker
    waiting on the embedded AWS leaves its core to another."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        return max(0, int(raw))
    return max(2, (os.cpu_count() or 1) + 1)


class RemoteFunctionError(Exception):
    """The handler raised in its worker; ``error_type`` is the exception's class name (as Lambda's
    ``errorType``). The message is never the exception's own text: it may carry personal data."""

    def __init__(self, function: str, error_type: str) -> None:
        super().__init__(f"{function} raised {error_type}")
        self.function = function
        self.error_type = error_type


class FunctionCrashError(Exception):
    """The worker running the function died during the invocation (it is replaced)."""


@dataclass(frozen=True)
class _Setup:
    """What a worker needs to become an execution environment of the API's functions (pickled once)."""

    cdk_out: str
    template: dict[str, Any]
    environments: dict[str, dict[str, str]]  # logical id → the function's environment, resolved
    base_environment: dict[str, str]
    model: permissions.TemplateModel | None


class _Capture(io.TextIOBase):
    """The worker's stdout: what the handlers print during one invocation, handed back with its answer."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def writable(self) -> bool:
        return True

    def take(self) -> str:
        text, self._parts = "".join(self._parts), []
        return text


def _serve(conn: Connection, setup: _Setup) -> None:  # pragma: no cover - runs in the worker process
    """A worker's main loop: load the functions, then answer ``(function, event)`` until told to stop."""
    from local.gateway import LambdaRuntime

    os.environ.clear()
    os.environ.update(setup.base_environment)
    capture = _Capture()
    sys.stdout = capture  # before the handlers are loaded: Powertools' loggers keep the stream they find
    permissions.install()
    if setup.model is not None:
        permissions.activate(setup.model, log=False)
    runtime = LambdaRuntime(Path(setup.cdk_out), setup.template, provisioner=None)
    runtime.load_all(environments=setup.environments)
    # at invocation time, the environment the stack's own handlers see: the functions' settings
    # (CALLGUARD_*, merged as LambdaRuntime.load_all merges them) under what the stack has set since
    merged = {k: v for env in setup.environments.values() for k, v in env.items() if k.startswith("CALLGUARD_")}
    os.environ.clear()
    os.environ.update({**merged, **setup.base_environment})
    freeze_startup_heap()
    conn.send(("ready", capture.take()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = None
        if message is None:
            # nothing to flush (each answer carried its output and verdicts), and tearing down an
            # interpreter that loaded moto, boto3 and every handler takes seconds under load: the
            # stack's SIGTERM must end it within the caller's patience
            conn.close()
            os._exit(0)
        function, event = message
        before = permissions.judged_pairs()
        try:
            result = runtime.functions[function].invoke(event)
            answer: tuple[Any, ...] = ("ok", result)
        except Exception as exc:  # Lambda reports a handler exception as a function error
            answer = ("raised", type(exc).__name__)
        judged = permissions.judged_pairs() - before
        conn.send((*answer, capture.take(), permissions.take_violations(), judged))


@dataclass
class Worker:
    """One worker process and the stack's end of its pipe."""

    process: Any
    conn: Connection


@dataclass
class _Turn:
    """One caller waiting for a worker."""

    order: int  # when it asked, as a rank among all callers
    #: (a queue consumer's batch) when it stops giving way to the API's callers
    deadline: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    worker: Worker | None = None


class PoolClosedError(Exception):
    """The pool stopped (or lost every worker) while the caller waited for a worker."""


class Turns:
    """Idle workers handed out to the API's callers first come, first served, and ahead of the queue
    consumers' batches.

    * First come, first served: a :class:`queue.Queue` wakes its longest waiter when a worker comes
      back, but a caller arriving meanwhile took the worker first and the woken one waited again, at
      the back; under a burst of clients some requests lost their turn over and over (the slowest
      waited several times as long as the median). Here a returned worker goes straight to the
      longest waiter.
    * The API first: on Lambda an event source mapping's invocations run beside the API's, never
      ahead of a request a client waits for. Locally they share these workers, so a consumer's batch
      (``background``) lets the API's callers go first for ``patience`` seconds from when it asked;
      then it stops giving way and takes its turn in the order it asked (in practice: the next
      worker that comes back). Under sustained load beyond the workers, a poller's batches therefore
      all but pause: about one per ``patience``.
    * :meth:`close` (the pool stopping) fails every caller still waiting, and every later one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._asked = itertools.count()
        self._free: list[Worker] = []
        self._waiting: collections.deque[_Turn] = collections.deque()
        self._background: collections.deque[_Turn] = collections.deque()
        self._closed = False

    def take(self, *, background: bool = False, patience: float = 0.0) -> Worker:
        """The next idle worker for this caller, once it is its turn; :class:`PoolClosedError` once closed."""
        with self._lock:
            if self._closed:
                raise PoolClosedError("the worker pool has stopped")
            if self._free:
                return self._free.pop()
            turn = _Turn(next(self._asked), self._clock() + patience)
            (self._background if background else self._waiting).append(turn)
        try:
            turn.ready.wait()
        except BaseException:  # interrupted while waiting: a worker handed to this turn must go on
            self._withdraw(turn)
            raise
        if turn.worker is None:
            raise PoolClosedError("the worker pool has stopped")
        return turn.worker

    def _withdraw(self, turn: _Turn) -> None:
        with self._lock:
            for waiting in (self._waiting, self._background):
                if turn in waiting:
                    waiting.remove(turn)
                    return
        if turn.worker is not None:
            self.give(turn.worker)

    def give(self, worker: Worker) -> None:
        """``worker`` is idle again: to the caller whose turn it is, else kept for the next one."""
        with self._lock:
            turn = self._next()
            if turn is None:
                if not self._closed:
                    self._free.append(worker)
                return
            turn.worker = worker
        turn.ready.set()

    def _next(self) -> _Turn | None:
        api = self._waiting[0] if self._waiting else None
        batch = self._background[0] if self._background else None
        if batch is not None and (api is None or (batch.deadline <= self._clock() and batch.order < api.order)):
            return self._background.popleft()
        if api is not None:
            return self._waiting.popleft()
        return None

    def close(self) -> None:
        """Fail every caller waiting now (:class:`PoolClosedError`) and every later one."""
        with self._lock:
            self._closed = True
            turns = [*self._waiting, *self._background]
            self._waiting.clear()
            self._background.clear()
            self._free.clear()
        for turn in turns:
            turn.ready.set()  # with no worker: take() raises


@dataclass
class WorkerPool:
    """``size`` worker processes running ``functions`` (logical ids of the template's API functions)."""

    cdk_out: Path
    template: dict[str, Any]
    environments: Mapping[str, Mapping[str, str]]
    size: int
    model: permissions.TemplateModel | None = None
    #: where the handlers' output goes (the stack's stdout or log file); whole invocations at a time
    write: Callable[[str], Any] = field(default=lambda text: sys.stdout.write(text))
    _idle: Turns = field(default_factory=Turns, init=False, repr=False)
    _workers: list[Worker] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _stopped: bool = field(default=False, init=False, repr=False)
    _starting: list[Worker] = field(default_factory=list, init=False, repr=False)

    @property
    def functions(self) -> set[str]:
        return set(self.environments)

    def _setup(self) -> _Setup:
        return _Setup(
            cdk_out=str(self.cdk_out),
            template=self.template,
            environments={k: dict(v) for k, v in self.environments.items()},
            base_environment=dict(os.environ),
            model=self.model,
        )

    def start(self) -> WorkerPool:
        """Start every worker and wait until each has loaded its functions (they load in parallel)."""
        return self.launch().wait_ready()

    def launch(self) -> WorkerPool:
        """Start every worker; they load their functions while the caller does other work."""
        setup = self._setup()
        self._starting = [self._spawn(setup) for _ in range(self.size)]
        return self

    def wait_ready(self) -> WorkerPool:
        """Wait until each launched worker has loaded its functions, then take invocations."""
        starting, self._starting = self._starting, []
        for worker in starting:
            self._await_ready(worker)
            self._idle.give(worker)
        return self

    def _spawn(self, setup: _Setup) -> Worker:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, setup), name="callguard-api-worker", daemon=True)
        process.start()
        child.close()
        worker = Worker(process, parent)
        with self._lock:
            self._workers.append(worker)
        return worker

    def _await_ready(self, worker: Worker) -> None:
        if not worker.conn.poll(READY_SECONDS):
            raise RuntimeError("an API worker did not load its functions in time")
        try:
            status, output = worker.conn.recv()
        except EOFError:
            raise RuntimeError("an API worker failed while loading its functions") from None
        if output:
            self.write(output)
        if status != "ready":
            raise RuntimeError("an API worker failed while loading its functions")

    def invoke(self, function: str, event: dict[str, Any], *, background: bool = False, patience: float = 0.0) -> Any:
        """Run ``function`` on ``event`` in the next idle worker; its answer, or
        :class:`RemoteFunctionError` / :class:`FunctionCrashError`. ``background`` (a queue consumer's
        batch): the API's callers go first for up to ``patience`` seconds."""
        worker = self._idle.take(background=background, patience=patience)
        try:
            worker.conn.send((function, event))
            status, payload, output, violations, judged = worker.conn.recv()
        except (EOFError, OSError):
            self._replace(worker)
            raise FunctionCrashError(f"the worker running {function} died") from None
        except BaseException:
            # e.g. an answer that does not unpickle here: the exchange may be half done, so a fresh
            # worker takes this one's place rather than a pipe in an unknown state
            self._replace(worker)
            raise
        self._idle.give(worker)
        if output:
            self.write(output)
        permissions.absorb(violations, judged)
        if status == "raised":
            raise RemoteFunctionError(function, str(payload))
        return payload

    def _replace(self, dead: Worker) -> None:
        logger.warning("API worker died; starting another")
        with self._lock:
            if dead in self._workers:
                self._workers.remove(dead)
            stopped = self._stopped
        dead.conn.close()
        if stopped:
            return
        worker = self._spawn(self._setup())
        try:
            self._await_ready(worker)
        except Exception as exc:  # the pool goes on with one worker fewer
            logger.error("a replacement API worker failed to start", extra={"error_type": type(exc).__name__})
            with self._lock:
                self._workers.remove(worker)
                left = len(self._workers)
            worker.process.terminate()
            worker.conn.close()
            if not left:
                self._idle.close()  # nobody is left to serve a waiting caller
            return
        self._idle.give(worker)

    def close(self) -> None:
        """Take no more invocations: callers waiting for a worker, and later ones, get
        :class:`PoolClosedError` at once (invocations already running finish)."""
        self._idle.close()

    def stop(self) -> None:
        self.close()
        with self._lock:
            self._stopped = True
            workers = list(self._workers)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            worker.conn.close()
