"""Ingest throughput of the embedded stack at 1, 4 and 16 concurrent clients.

The stack runs in a subprocess exactly as ``make local`` starts it (``python -m local serve``)
on free ports; every request is a distinct call POSTed over HTTP with a platform token.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics

# B404 accepted: starts this interpreter with `-m local serve` (fixed arguments)
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bench.fixtures import DUMMY_CREDENTIAL, ROOT, call_body
from local.client import fetch_token, http
from local.provision import consumed_queue, queue_name
from local.workers import WORKERS_ENV, default_size

LEVELS = (1, 4, 16)
REQUESTS = 150
WARMUP = 5
READY_SECONDS = 120
#: how long the bench waits, after the last level, for the calls it sent to be analysed
DRAIN_SECONDS = 600


@dataclass(frozen=True)
class Level:
    clients: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    failures: int
    #: CPU seconds the stack's own process and its worker processes spent on this level (Linux /proc)
    cpu_stack: float = 0.0
    cpu_workers: float = 0.0
    #: the machine's one-minute load average at the end of the level (other work on the shared cores)
    load: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True)
class Drain:
    """The analysis still queued when the last level ended, and how long the stack took to finish it."""

    queued: int
    seconds: float | None  # None: not finished within DRAIN_SECONDS
    #: messages in the dead-letter queues of the consumed queues at the end (given up on, not analysed)
    dead: int = 0


@dataclass(frozen=True)
class _Queues:
    sqs: Any
    consumed: list[str]  # URLs of the queues the template's functions consume
    dead_letters: list[str]  # URLs of their dead-letter queues


def _queues(cdk_out: Path, aws_url: str) -> _Queues:
    """The queues the template's event source mappings consume, and their dead-letter queues, as the
    local stack named them."""
    resources = json.loads(next(cdk_out.glob("*.template.json")).read_text())["Resources"]
    consumed = [
        queue
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        for queue in [consumed_queue(r["Properties"], resources)]
        if queue is not None
    ]
    dead = [
        target["Fn::GetAtt"][0]
        for logical in consumed
        for target in [resources[logical].get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")]
        if isinstance(target, dict) and "Fn::GetAtt" in target
    ]
    sqs = boto3.client(
        "sqs",
        endpoint_url=aws_url,
        region_name="eu-central-1",
        aws_access_key_id=DUMMY_CREDENTIAL,
        aws_secret_access_key=DUMMY_CREDENTIAL,
    )

    def urls(logicals: list[str]) -> list[str]:
        return [
            sqs.get_queue_url(QueueName=queue_name(logical, resources[logical].get("Properties", {})))["QueueUrl"]
            for logical in logicals
        ]

    if not consumed:
        raise RuntimeError("the template has no queue a function consumes: nothing to wait for")
    return _Queues(sqs, urls(consumed), urls(dead))


def _queued(sqs: Any, urls: list[str]) -> int:
    """Messages waiting or being processed in ``urls``."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    return sum(
        int(value)
        for url in urls
        for value in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"].values()
    )


def _drain(queues: _Queues) -> Drain:
    started, queued = time.perf_counter(), _queued(queues.sqs, queues.consumed)
    seconds = None
    while time.perf_counter() - started < DRAIN_SECONDS:
        if _queued(queues.sqs, queues.consumed) == 0:
            seconds = time.perf_counter() - started
            break
        time.sleep(0.5)
    return Drain(queued, seconds, _queued(queues.sqs, queues.dead_letters))


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far; 0 where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu_split(pid: int) -> tuple[float, float]:
    """(the stack's process, its child processes: the API workers and multiprocessing's tracker)."""
    return _cpu(pid), sum(_cpu(child) for child in _children(pid))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_stack(cdk_out: Path, workers: int | None = None) -> Iterator[tuple[str, Path, int]]:
    """The embedded stack in a subprocess: yields its API URL, state file and process id; SIGTERM at the end.
    ``workers``: ``CALLGUARD_LOCAL_WORKERS`` (0: every handler in the stack's process; None: its default)."""
    api_port, aws_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="callguard-bench-") as tmp:
        state_file = Path(tmp) / "state.json"
        env = {
            **os.environ,
            "CALLGUARD_API_PORT": str(api_port),
            "CALLGUARD_AWS_PORT": str(aws_port),
            "CALLGUARD_LOCAL_STATE": str(state_file),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop(WORKERS_ENV, None)
        if workers is not None:
            env[WORKERS_ENV] = str(workers)
        # B603 accepted: this interpreter, fixed arguments, no shell
        process = subprocess.Popen(  # noqa: S603  # nosec B603
            [sys.executable, "-m", "local", "serve", "--cdk-out", str(cdk_out)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in process.stdout or ():
                output.append(line.rstrip("\n"))
                if "ready" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            deadline = time.monotonic() + READY_SECONDS
            while not ready.is_set() and time.monotonic() < deadline and process.poll() is None:
                ready.wait(0.2)
            if not ready.is_set():
                raise RuntimeError("the local stack did not become ready:\n" + "\n".join(output[-30:]))
            yield f"http://127.0.0.1:{api_port}", state_file, process.pid
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _post(url: str, token: str, call_id: str, n: int) -> tuple[float, bool]:
    body = call_body(call_id, {"phone": f"+49 30 {1_000_000 + n}"})
    started = time.perf_counter()
    answer = http("POST", url, body, token)
    return (time.perf_counter() - started) * 1000, answer.status == 202


def _level(url: str, token: str, clients: int, pid: int = 0) -> Level:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        # warm up this level's connections and threads (not measured)
        list(
            pool.map(
                lambda n: _post(url, token, f"bench-warm-{clients}-{n}", 900_000 + clients * 100 + n),
                range(WARMUP),
            )
        )
        cpu_before = _cpu_split(pid) if pid else (0.0, 0.0)
        started = time.perf_counter()
        results = list(
            pool.map(lambda n: _post(url, token, f"bench-{clients}-{n}", clients * 10_000 + n), range(REQUESTS))
        )
        seconds = time.perf_counter() - started
        cpu_after = _cpu_split(pid) if pid else (0.0, 0.0)
    latencies = [ms for ms, ok in results if ok]
    return Level(
        clients,
        len(latencies),
        seconds,
        latencies,
        sum(1 for _, ok in results if not ok),
        cpu_stack=cpu_after[0] - cpu_before[0],
        cpu_workers=cpu_after[1] - cpu_before[1],
        load=os.getloadavg()[0],
    )


def _levels(cdk_out: Path, levels: tuple[int, ...], workers: int | None) -> tuple[list[Level], Drain]:
    """Each level in turn on one stack, then the wait until the calls they sent are all analysed."""
    with running_stack(cdk_out, workers) as (api_url, state_file, pid):
        token = fetch_token("platform", state_file)
        queues = _queues(cdk_out, json.loads(state_file.read_text())["aws_url"])
        url = f"{api_url}/v1/calls"
        measured = [_level(url, token, clients, pid) for clients in levels]
        return measured, _drain(queues)


def _drain_text(drain: Drain, label: str) -> str:
    finished = (
        f"all were analysed {drain.seconds:.0f} s later"
        if drain.seconds is not None
        else f"they were not all analysed within {DRAIN_SECONDS} s"
    )
    dead = f"; {drain.dead} messages were given up on (in the dead-letter queue)" if drain.dead else ""
    return f"{label}: when the last level ended, {drain.queued} calls were still queued for analysis; {finished}{dead}."


def _rows(levels: list[Level], label: str) -> list[str]:
    base = levels[0].per_second
    return [
        f"| {level.clients} | {label} | {level.requests} | {level.per_second:.1f} | {level.percentile(50):.1f} "
        f"| {level.percentile(99):.1f} | {level.per_second / base:.2f} "
        f"| {1000 * level.cpu_stack / level.requests:.0f} + {1000 * level.cpu_workers / level.requests:.0f} "
        f"| {level.load:.1f} |"
        for level in levels
    ]


def throughput(cdk_out: Path) -> tuple[str, dict[int, float]]:
    """The table (the stack as ``make local`` runs it, then, as before, with every handler in the
    stack's own process) and, per level, throughput relative to one client."""
    levels, drain = _levels(cdk_out, LEVELS, None)
    before, drain_before = _levels(cdk_out, (1, 16), 0)
    failed = [level for level in (*levels, *before) if level.failures]
    if failed:
        raise RuntimeError("ingest requests failed: " + ", ".join(f"{lv.failures} at {lv.clients}" for lv in failed))
    size = default_size()
    rows = [
        "| concurrent clients | handlers run | requests | requests/s | p50 (ms) | p99 (ms) | throughput vs 1 client "
        "| CPU ms per request: stack + workers | load average |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *_rows(levels, f"in {size} worker processes"),
        *_rows(before, "in the stack's process (before)"),
        "",
        _drain_text(drain, f"In {size} worker processes"),
        _drain_text(drain_before, "In the stack's process (before)"),
    ]
    return "\n".join(rows), {level.clients: level.per_second / levels[0].per_second for level in levels}
