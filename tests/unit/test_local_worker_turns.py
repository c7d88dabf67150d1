"""The API workers are handed out in the order callers asked for them (``local/workers._Turns``).

Under 16 concurrent clients a :class:`queue.Queue` of idle workers let a caller that arrived just as a
worker came back take it ahead of the longest waiter, which then queued again at the back: the
slowest requests of a burst waited several times as long as the median. These tests try to jump the
queue and check that nobody can.
"""

from __future__ import annotations

import threading
import time

from local.workers import _Turns, _Worker


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
