"""e2e tier: the embedded stack in a subprocess on free ports, driven over HTTP only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tests.conftest import Synth
from tests.support import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_script_report(
    module: str, synth: Synth, state_dir: Path, *, timeout: int, show_output: bool = False
) -> dict[str, object]:
    """Run ``python -m <module> <cdk.out> <api port> <aws port> <state file>`` (a script that starts its
    own embedded stack on free ports) and return the JSON of its last ``RESULT {...}`` line.

    Without a report the test fails with the exit code; the script's output is shown only with
    ``show_output`` — never for a script that plants personal data, whose output could carry it."""
    result = subprocess.run(
        [sys.executable, "-m", module, str(synth.outdir), str(free_port()), str(free_port()),
         str(state_dir / "state.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        shown = f":\n{result.stdout[-3000:]}{result.stderr[-3000:]}" if show_output else ""
        pytest.fail(f"{module} ended without a report (exit {result.returncode}){shown}")
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    api_url: str
    aws_url: str
    state_file: Path
    output: list[str] = field(default_factory=list)

    def session(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-central-1")

    def client(self, name: str):  # type: ignore[no-untyped-def]
        return self.session().client(name, endpoint_url=self.aws_url)

    def text(self) -> str:
        return "\n".join(self.output)


def start_stack(cdk_out: Path, state_file: Path) -> RunningStack:
    """`python -m local serve` (what `make local` runs) in a subprocess on free ports, once ready."""
    api_port, aws_port = free_port(), free_port()
    env = {
        **os.environ,
        "CALLGUARD_API_PORT": str(api_port),
        "CALLGUARD_AWS_PORT": str(aws_port),
        "CALLGUARD_LOCAL_STATE": str(state_file),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "serve", "--cdk-out", str(cdk_out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = RunningStack(process, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{aws_port}", state_file)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.output.append(line.rstrip("\n"))
            if "ready" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 120
    while not ready.is_set() and time.monotonic() < deadline and process.poll() is None:
        ready.wait(0.2)
    if not ready.is_set():
        process.kill()
        pytest.fail("the local stack did not become ready:\n" + running.text()[-3000:])
    return running


def stop_stack(running: RunningStack) -> None:
    running.process.send_signal(signal.SIGTERM)
    try:
        running.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        running.process.kill()
        pytest.fail("the local stack did not stop on SIGTERM")


@pytest.fixture(scope="session")
def stack(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(synth.outdir, tmp_path_factory.mktemp("local") / "state.json")
    yield running
    stop_stack(running)


@pytest.fixture(scope="session")
def tenant_stack(tenant_synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """`make local`'s stack: two tenants, ``default`` and ``acme-energie`` (docs/tenants.example.json),
    started once per session and shared by every module that needs two tenants (test_tenants,
    test_tenant_matrix, the fuzz run's tenant confusion); each uses ids of its own run."""
    running = start_stack(tenant_synth.outdir, tmp_path_factory.mktemp("local-tenants") / "state.json")
    yield running
    stop_stack(running)
