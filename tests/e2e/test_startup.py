"""Starting and stopping the embedded stack as `make local` / `make demo` run it: a busy port fails
fast with one sentence, and SIGINT (Ctrl-C) or SIGTERM stops it whatever it is doing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import Synth
from tests.e2e.conftest import free_port
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: what `make local` and `make demo` run once `make synth` is done (the Makefile's recipes)
COMMANDS = {"local": "serve", "demo": "demo"}
#: how long a signalled stack may take to stop before it counts as hanging (not a timing claim:
#: stopping joins the pollers and servers, and a loaded CI machine starves processes)
STOP_SECONDS = 90


def test_the_make_targets_run_these_commands() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\n\t$(PY) -m local serve" in makefile
    assert "\n\t$(PY) -m local demo" in makefile


@contextmanager
def _occupied() -> Iterator[int]:
    """A port taken by another program: a listening TCP socket (what LocalStack or a second stack holds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _start(command: str, cdk_out: Path, api_port: int, aws_port: int, tmp: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CALLGUARD_API_PORT": str(api_port),
        "CALLGUARD_AWS_PORT": str(aws_port),
        "CALLGUARD_LOCAL_STATE": str(tmp / "state.json"),
        "PYTHONUNBUFFERED": "1",
    }
    args = [sys.executable, "-m", "local", command, "--cdk-out", str(cdk_out)]
    if command == "demo":
        args += ["--log-file", str(tmp / "demo.log")]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("target", ["local", "demo"])
@pytest.mark.parametrize("busy", ["CALLGUARD_API_PORT", "CALLGUARD_AWS_PORT"])
def test_a_busy_port_fails_within_seconds_with_one_sentence(
    synth: Synth, tmp_path: Path, target: str, busy: str
) -> None:
    with _occupied() as taken:
        api_port, aws_port = (taken, free_port()) if busy == "CALLGUARD_API_PORT" else (free_port(), taken)
        process = _start(COMMANDS[target], synth.outdir, api_port, aws_port, tmp_path)
        try:  # a hang, not a timing claim: it fails before provisioning anything (one line, below)
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"make {target} with {busy} taken did not exit (the hang of issue 12)")
    assert process.returncode == 1
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    sentence = lines[0]
    assert str(taken) in sentence
    assert busy in sentence
    assert "in use" in sentence
    assert sentence.rstrip().endswith(".")
    assert "Traceback" not in out + err
    assert not (tmp_path / "state.json").exists()


def _wait_for(process: subprocess.Popen[str], text: str, seconds: float) -> list[str]:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    pytest.fail(f"never printed {text!r}: {''.join(seen)[-2000:]}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_running_stack(synth: Synth, tmp_path: Path, sig: signal.Signals) -> None:
    process = _start("serve", synth.outdir, free_port(), free_port(), tmp_path)
    try:
        _wait_for(process, "ready", 120)
        assert (tmp_path / "state.json").exists()
        process.send_signal(sig)
        out, _ = process.communicate(timeout=STOP_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            pytest.fail(f"{sig.name} did not stop the stack")
    assert process.returncode == 0
    assert "stopped" in out
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("target", ["local", "demo"])
def test_ctrl_c_while_starting_stops_it_too(synth: Synth, tmp_path: Path, target: str) -> None:
    """The stack takes seconds to provision; Ctrl-C then must not wait for it (nor be ignored)."""
    process = _start(COMMANDS[target], synth.outdir, free_port(), free_port(), tmp_path)
    try:
        time.sleep(3)  # inside start(): provisioning or loading the functions
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=STOP_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            pytest.fail(f"Ctrl-C during make {target}'s start-up was ignored")
    assert "ready" not in out
    assert "Traceback" not in err
    assert process.returncode != 0 or target == "local"
    assert not (tmp_path / "state.json").exists()


def test_ctrl_c_during_the_walk_through_stops_the_demo(synth: Synth, tmp_path: Path) -> None:
    process = _start("demo", synth.outdir, free_port(), free_port(), tmp_path)
    try:
        _wait_for(process, "Health and tokens", 120)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=STOP_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            pytest.fail("Ctrl-C during the demo was ignored")
    assert process.returncode == 130
    assert "Traceback" not in err
    assert "stopped" in err


def test_a_second_stack_on_the_same_ports_leaves_the_first_ones_state(synth: Synth, tmp_path: Path) -> None:
    """`make local` twice: the second fails on the port and must not remove the first one's state
    file (`make token` for the first keeps working)."""
    api_port, aws_port = free_port(), free_port()
    first = _start("serve", synth.outdir, api_port, aws_port, tmp_path)
    try:
        _wait_for(first, "ready", 120)
        second = _start("serve", synth.outdir, api_port, aws_port, tmp_path)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "in use" in err
        assert (tmp_path / "state.json").exists()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=STOP_SECONDS)
