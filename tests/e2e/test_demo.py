"""`make demo` as a newcomer runs it, piped: only the walk-through and the summary on stdout, the
handlers' logs in the log file, tables at full width, and what it leaves out listed. It runs on what
`make demo` synthesizes: two tenants, `default` and `acme-energie` (``tenant_synth``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local.demo import GERMAN_CALL, NOT_SHOWN, PLANTED, TENANT_CALL
from local.provision import ACCOUNT
from tests.conftest import Synth
from tests.e2e.conftest import free_port
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _json_object(line: str) -> dict[str, object] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def test_the_demo_prints_its_walk_through_and_logs_to_a_file(tenant_synth: Synth, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "demo.log"
    env = {
        **os.environ,
        "CALLGUARD_API_PORT": str(free_port()),
        "CALLGUARD_AWS_PORT": str(free_port()),
        # a `make local` of the developer keeps its state file: the demo never touches it
        "CALLGUARD_LOCAL_STATE": str(tmp_path / "someone-elses-state.json"),
        # the console's screenshot goes here, not over the committed docs/console-queue.png
        "CALLGUARD_DEMO_SCREENSHOT": str(tmp_path / "console-queue.png"),
    }
    env.pop("COLUMNS", None)
    (tmp_path / "someone-elses-state.json").write_text(json.dumps({"api_url": "http://127.0.0.1:1"}))
    done = subprocess.run(
        [sys.executable, "-m", "local", "demo", "--cdk-out", str(tenant_synth.outdir), "--log-file", str(log_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    out = done.stdout
    lines = out.splitlines()
    # no handler log record or metric on the terminal: every JSON object printed is an API answer
    for line in lines:
        record = _json_object(line)
        assert record is None or not {"level", "service", "_aws"} & set(record), line
    assert "FAILED" not in out
    assert "callguard demo summary" in out
    assert "/console/" in out  # the console's URL
    assert "import: Contact Lens file" in out  # the Connect import step, checked ok (no FAILED above)
    assert (tmp_path / "console-queue.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # piped, the tables are not cut to 80 columns
    assert max(len(line) for line in lines) > 100
    # two tenants side by side (#18): the same call id and phone in both, isolation, an erasure in one only
    for row in ("tenants: same call id and phone, two calls", "tenants: another tenant's call is 404",
                "tenants: an erasure in one leaves the other untouched"):  # fmt: skip
        assert re.search(rf"{re.escape(row)}\s*│\s*ok ", out), row
    # offboarding (#18) is shown once `make offboard` exists; until then the demo says so
    offboarded = re.search(r"offboarded with its certificate\s*│\s*ok ", out)
    assert offboarded or "offboard` is not part of this checkout" in out
    for capability, _ in NOT_SHOWN:
        assert capability in out
    assert str(log_file) in out or "demo.log" in out
    # the handlers' output went to the file, as Powertools JSON, without the planted personal data
    records = [r for r in map(_json_object, log_file.read_text().splitlines()) if r is not None]
    assert any(r.get("message") == "call accepted" and r.get("call_id") == GERMAN_CALL["call_id"] for r in records)
    assert any(str(r.get("service", "")).startswith("callguard-privacy_steps-") for r in records)
    logged = log_file.read_text()
    # the demo's fake caller (its bare digits "23456789" are also in the local account id 123456789012)
    values = [v for v in PLANTED if v not in ACCOUNT] + ["0151 23456789", "+4915123456789", "015123456789"]
    values.append(TENANT_CALL["caller"]["phone"])
    for value in values:
        assert value not in logged
        assert value not in done.stderr
    assert json.loads((tmp_path / "someone-elses-state.json").read_text()) == {"api_url": "http://127.0.0.1:1"}
