"""How the embedded stack's processes share their time under load (``local/workers.py``).

* The API workers are handed out in the order callers asked for them (``_Turns``). Under 16
  concurrent clients a :class:`queue.Queue` of idle workers let a caller that arrived just as a worker
  came back take it ahead of the longest waiter, which then queued again at the back: the slowest
  requests of a burst waited several times as long as the median. These tests try to jump the queue.
* The API's requests go before a queue consumer's batch, until the batch's patience runs out.
* What a process loaded at start is left out of later garbage collections (``freeze_startup_heap``).
"""

from __future__ import annotations

import gc
import threading
import time
import weakref

from local.workers import _Turns, _Worker, freeze_startup_heap


def _worker(name: str) -> _Worker:
    return _Worker(process=name, conn=None)  # type: ignore[arg-type]  # never used as a connection here


def _waiting(turns: _Turns, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(turns._waiting) != count:
        assert time.monotonic() < deadline, "a caller never started waiting"
        time.sleep(0.001)


def _take_in_thread(turns: _Turns, got: list[tuple[str, _Worker]], name: str) -> threading.Thread:
    thread = threading.Thread(target=lambda: got.append((name, turns.take())), daemon=True)
    thread.start()
    return thread


def test_an_idle_worker_is_taken_at_once() -> None:
    turns, worker = _Turns(), _worker("w")
    turns.give(worker)
    assert turns.take() is worker


def test_a_returned_worker_goes_to_the_longest_waiter_not_to_a_caller_arriving_meanwhile() -> None:
    turns, worker = _Turns(), _worker("w")
    got: list[tuple[str, _Worker]] = []
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
    turns = _Turns()
    got: list[tuple[str, _Worker]] = []
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
    turns = _Turns()
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


def _take_background(turns: _Turns, got: list[tuple[str, _Worker]], name: str, patience: float) -> threading.Thread:
    def run() -> None:
        got.append((name, turns.take(background=True, patience=patience)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _background_waiting(turns: _Turns, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(turns._background) != count:
        assert time.monotonic() < deadline, "a consumer never started waiting"
        time.sleep(0.001)


def test_a_consumer_batch_waiting_first_still_lets_an_api_request_go_ahead() -> None:
    clock = _Clock()
    turns, worker = _Turns(clock), _worker("w")
    got: list[tuple[str, _Worker]] = []
    batch = _take_background(turns, got, "batch", patience=150)
    _background_waiting(turns, 1)
    request = _take_in_thread(turns, got, "request")
    _waiting(turns, 1)

    turns.give(worker)
    request.join(timeout=5)
    assert got == [("request", worker)]
    batch.join(timeout=0.2)
    assert batch.is_alive(), "the batch took the worker an API request was waiting for"

    turns.give(worker)  # nobody else waits: the batch's turn
    batch.join(timeout=5)
    assert got == [("request", worker), ("batch", worker)]


def test_a_consumer_batch_past_its_patience_goes_before_waiting_api_requests() -> None:
    clock = _Clock()
    turns, worker = _Turns(clock), _worker("w")
    got: list[tuple[str, _Worker]] = []
    batch = _take_background(turns, got, "batch", patience=150)
    _background_waiting(turns, 1)
    request = _take_in_thread(turns, got, "request")
    _waiting(turns, 1)

    clock.now += 150  # its messages would reappear if it waited on
    turns.give(worker)
    batch.join(timeout=5)
    assert got == [("batch", worker)]
    assert request.is_alive()
    turns.give(worker)
    request.join(timeout=5)
    assert got == [("batch", worker), ("request", worker)]


def test_a_consumer_batch_takes_an_idle_worker_at_once() -> None:
    turns, worker = _Turns(_Clock()), _worker("w")
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
