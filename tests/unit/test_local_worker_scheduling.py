"""How the embedded stack's processes share their time under load (``local/workers.py``).

* The API workers are handed out in the order callers asked for them (``Turns``). Under 16
  concurrent clients a :class:`queue.Queue` of idle workers let a caller that arrived just as a worker
  came back take it ahead of the longest waiter, which then queued again at the back: the slowest
  requests of a burst waited several times as long as the median. These tests try to jump the queue.
* The API's requests go before a queue consumer's batch, until the batch's patience runs out.
* Stopping fails callers still waiting for a worker, and a worker in an unknown state is never
  handed out again.
* What a process loaded at start is left out of later garbage collections (``freeze_startup_heap``),
  and the stack's process collects young objects less often.
"""

from __future__ import annotations

import gc
import pickle
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.workers import (
    STACK_COLLECTION_THRESHOLD,
    FunctionCrashError,
    PoolClosedError,
    Turns,
    Worker,
    WorkerPool,
    collect_young_objects_less_often,
    freeze_startup_heap,
)


def _worker(name: str) -> Worker:
    return Worker(process=name, conn=None)  # type: ignore[arg-type]  # never used as a connection here


def _waiting(turns: Turns, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(turns._waiting) != count:
        assert time.monotonic() < deadline, "a caller never started waiting"
        time.sleep(0.001)


def _take_in_thread(turns: Turns, got: list[tuple[str, Worker]], name: str) -> threading.Thread:
    thread = threading.Thread(target=lambda: got.append((name, turns.take())), daemon=True)
    thread.start()
    return thread


def test_an_idle_worker_is_taken_at_once() -> None:
    turns, worker = Turns(), _worker("w")
    turns.give(worker)
    assert turns.take() is worker


def test_a_returned_worker_goes_to_the_longest_waiter_not_to_a_caller_arriving_meanwhile() -> None:
    turns, worker = Turns(), _worker("w")
    got: list[tuple[str, Worker]] = []
    first = _take_in_thread(turns, got, "waiting")
    _waiting(turns, 1)

    turns.give(worker)
    late = _take_in_thread(turns, got, "late")  # arrives as the worker comes back
    first.join(timeout=5)
    assert got == [("waiting", worker)]
    late.join(timeout=0.2)
    assert late.is_alive(), "the late caller took a worker that was the waiting caller's"

    turns.give(worker)
    late.join(timeout=5)
    assert got == [("waiting", worker), ("late", worker)]


def test_waiting_callers_are_served_in_the_order_they_asked() -> None:
    turns = Turns()
    got: list[tuple[str, Worker]] = []
    threads = []
    for position in range(6):
        threads.append(_take_in_thread(turns, got, f"caller-{position}"))
        _waiting(turns, position + 1)
    workers = [_worker(f"w{n}") for n in range(6)]
    for served, worker in enumerate(workers, start=1):
        turns.give(worker)
        deadline = time.monotonic() + 5
        while len(got) < served:
            assert time.monotonic() < deadline
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=5)
    assert [name for name, _ in got] == [f"caller-{n}" for n in range(6)]
    assert [worker for _, worker in got] == workers


def test_workers_returned_while_nobody_waits_are_all_handed_out() -> None:
    turns = Turns()
    workers = [_worker(f"w{n}") for n in range(3)]
    for worker in workers:
        turns.give(worker)
    assert {id(turns.take()) for _ in workers} == {id(w) for w in workers}


# -- the API's requests before the queue consumers' batches --------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _take_background(turns: Turns, got: list[tuple[str, Worker]], name: str, patience: float) -> threading.Thread:
    def run() -> None:
        got.append((name, turns.take(background=True, patience=patience)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _background_waiting(turns: Turns, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(turns._background) != count:
        assert time.monotonic() < deadline, "a consumer never started waiting"
        time.sleep(0.001)


@dataclass
class _BatchThenRequest:
    """A batch (patience 150 s) waiting for the one worker, then an API request waiting too."""

    clock: _Clock
    turns: Turns
    worker: Worker
    got: list[tuple[str, Worker]]
    batch: threading.Thread
    request: threading.Thread


def _batch_then_request() -> _BatchThenRequest:
    clock = _Clock()
    turns: Turns = Turns(clock)
    got: list[tuple[str, Worker]] = []
    batch = _take_background(turns, got, "batch", patience=150)
    _background_waiting(turns, 1)
    request = _take_in_thread(turns, got, "request")
    _waiting(turns, 1)
    return _BatchThenRequest(clock, turns, _worker("w"), got, batch, request)


def test_a_consumer_batch_waiting_first_still_lets_an_api_request_go_ahead() -> None:
    case = _batch_then_request()
    case.turns.give(case.worker)
    case.request.join(timeout=5)
    assert case.got == [("request", case.worker)]
    case.batch.join(timeout=0.2)
    assert case.batch.is_alive(), "the batch took the worker an API request was waiting for"

    case.turns.give(case.worker)  # nobody else waits: the batch's turn
    case.batch.join(timeout=5)
    assert case.got == [("request", case.worker), ("batch", case.worker)]


def test_a_consumer_batch_past_its_patience_goes_before_waiting_api_requests() -> None:
    case = _batch_then_request()
    case.clock.now += 150  # it has given way as long as it may
    case.turns.give(case.worker)
    case.batch.join(timeout=5)
    assert case.got == [("batch", case.worker)]
    assert case.request.is_alive()
    case.turns.give(case.worker)
    case.request.join(timeout=5)
    assert case.got == [("batch", case.worker), ("request", case.worker)]


def test_a_consumer_batch_takes_an_idle_worker_at_once() -> None:
    turns, worker = Turns(_Clock()), _worker("w")
    turns.give(worker)
    assert turns.take(background=True, patience=150) is worker


# -- the heap loaded at start -------------------------------------------------------------------------


class _Node:
    other: _Node | None = None


def test_what_is_loaded_at_start_is_frozen_and_later_garbage_is_still_collected() -> None:
    try:
        before = gc.get_freeze_count()
        loaded = [[n] for n in range(1000)]  # containers alive when the stack has started
        freeze_startup_heap()
        assert gc.get_freeze_count() >= before + len(loaded)
        assert gc.isenabled()

        first, second = _Node(), _Node()  # a cycle a request leaves behind
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        gc.collect()
        assert gone() is None, "garbage made after the freeze was never collected"
    finally:
        gc.unfreeze()


def test_a_batch_that_does_not_give_way_still_waits_behind_api_requests_that_asked_first() -> None:
    clock = _Clock()
    turns, worker = Turns(clock), _worker("w")
    got: list[tuple[str, Worker]] = []
    request = _take_in_thread(turns, got, "request")
    _waiting(turns, 1)
    batch = _take_background(turns, got, "batch", patience=0)  # e.g. a queue the template gives no timeout
    _background_waiting(turns, 1)

    turns.give(worker)
    request.join(timeout=5)
    assert got == [("request", worker)]
    turns.give(worker)
    batch.join(timeout=5)
    assert got == [("request", worker), ("batch", worker)]


def test_the_stacks_process_collects_young_objects_less_often_and_can_go_back() -> None:
    before = gc.get_threshold()
    try:
        replaced = collect_young_objects_less_often()
        assert replaced == before
        assert gc.get_threshold() == (STACK_COLLECTION_THRESHOLD, *before[1:])
        assert before[0] < STACK_COLLECTION_THRESHOLD
    finally:
        gc.set_threshold(*before)


# -- stopping, and workers that fail -------------------------------------------------------------------


def test_closing_fails_every_waiting_caller_and_every_later_one() -> None:
    turns = Turns(_Clock())
    failed: list[str] = []

    def wait(name: str, background: bool) -> None:
        try:
            turns.take(background=background, patience=150)
        except PoolClosedError:
            failed.append(name)

    threads = [
        threading.Thread(target=wait, args=("request", False)),
        threading.Thread(target=wait, args=("batch", True)),
    ]
    threads[0].start()
    _waiting(turns, 1)
    threads[1].start()
    _background_waiting(turns, 1)

    turns.close()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive(), "a caller still waits for a worker after the pool closed"
    assert sorted(failed) == ["batch", "request"]
    with pytest.raises(PoolClosedError):
        turns.take()
    turns.give(_worker("late"))  # an invocation that was running when the pool closed
    with pytest.raises(PoolClosedError):
        turns.take()


class _Pipe:
    def __init__(self, answer: BaseException) -> None:
        self.answer = answer
        self.sent: list[object] = []

    def send(self, message: object) -> None:
        self.sent.append(message)

    def recv(self) -> object:
        raise self.answer

    def close(self) -> None:
        pass


def _pool(monkeypatch: pytest.MonkeyPatch, worker: Worker) -> tuple[WorkerPool, list[Worker]]:
    pool = WorkerPool(cdk_out=Path("."), template={}, environments={"Fn": {}}, size=1)
    pool._workers.append(worker)
    pool._idle.give(worker)
    replaced: list[Worker] = []
    monkeypatch.setattr(pool, "_replace", replaced.append)
    return pool, replaced


@pytest.mark.parametrize("answer", [pickle.UnpicklingError("bad answer"), KeyboardInterrupt()])
def test_a_worker_whose_exchange_broke_off_is_replaced_not_handed_out_again(
    monkeypatch: pytest.MonkeyPatch, answer: BaseException
) -> None:
    worker = Worker(process=None, conn=_Pipe(answer))  # type: ignore[arg-type]
    pool, replaced = _pool(monkeypatch, worker)
    with pytest.raises(type(answer)):
        pool.invoke("Fn", {})
    assert replaced == [worker]
    assert not pool._idle._free, "a worker in an unknown state went back to the pool"


def test_a_dead_worker_is_replaced_and_the_call_fails_as_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = Worker(process=None, conn=_Pipe(EOFError()))  # type: ignore[arg-type]
    pool, replaced = _pool(monkeypatch, worker)
    with pytest.raises(FunctionCrashError):
        pool.invoke("Fn", {})
    assert replaced == [worker]


class _Process:
    def terminate(self) -> None:
        pass


def test_when_the_last_worker_cannot_be_replaced_callers_fail_instead_of_waiting_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = Worker(process=_Process(), conn=_Pipe(EOFError()))  # type: ignore[arg-type]
    pool = WorkerPool(cdk_out=Path("."), template={}, environments={"Fn": {}}, size=1)
    pool._workers.append(dead)

    def spawn(_setup: object) -> Worker:
        fresh = Worker(process=_Process(), conn=_Pipe(EOFError()))  # type: ignore[arg-type]
        pool._workers.append(fresh)
        return fresh

    def never_ready(_worker: Worker) -> None:
        raise RuntimeError("an API worker did not load its functions in time")

    monkeypatch.setattr(pool, "_spawn", spawn)
    monkeypatch.setattr(pool, "_await_ready", never_ready)
    monkeypatch.setattr(pool, "_setup", lambda: None)
    pool._replace(dead)
    assert pool._workers == []
    with pytest.raises(PoolClosedError):
        pool.invoke("Fn", {})
