"""Every README command that targets the local stack runs as written.

The README marks those blocks with the info string ```` ```bash local-stack ````. They run in order
as one bash script (``set -euo pipefail``) from the repository root against a stack of their own
(the purge in them would empty the shared one), with ``127.0.0.1:8080`` / ``127.0.0.1:4566``
pointing at that stack's ports and ``CALLGUARD_LOCAL_STATE`` at its state file, which is what
`make token`, `make purge` and the CLI read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Synth
from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = ROOT / "README.md"
_BLOCK = re.compile(r"^```bash local-stack\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def local_stack_blocks(text: str) -> list[str]:
    return [match.group(1) for match in _BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def own_stack(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(synth.outdir, tmp_path_factory.mktemp("readme") / "state.json")
    yield running
    stop_stack(running)


def test_the_readme_marks_its_local_stack_commands() -> None:
    blocks = local_stack_blocks(README.read_text(encoding="utf-8"))
    text = "\n".join(blocks)
    # the commands a newcomer needs are among the tested ones
    for command in ("make -s token", "curl ", "aws --endpoint-url", "callguard privacy", "callguard audit verify",
                    "make -s purge", "docs/examples/"):  # fmt: skip
        assert command in text, command
    for path in re.findall(r"@(docs/examples/[\w.-]+)", text):
        assert (ROOT / path).is_file(), path
    assert "../shared" not in README.read_text(encoding="utf-8")


def test_every_local_stack_block_of_the_readme_runs_as_written(own_stack: RunningStack) -> None:
    assert shutil.which("aws"), "the README's aws commands need an AWS CLI on the PATH"
    blocks = local_stack_blocks(README.read_text(encoding="utf-8"))
    api, aws = own_stack.api_url.removeprefix("http://"), own_stack.aws_url.removeprefix("http://")
    script = ["set -euo pipefail"]
    for number, block in enumerate(blocks, start=1):
        script.append(f"echo '### README block {number}' >&2")
        script.append(block.replace("127.0.0.1:8080", api).replace("127.0.0.1:4566", aws))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CALLGUARD_"))}
    env["CALLGUARD_LOCAL_STATE"] = str(own_stack.state_file)
    env.pop("MAKEFLAGS", None)
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    reached = re.findall(r"### README block (\d+)", done.stderr)
    block = reached[-1] if reached else "?"
    assert done.returncode == 0, f"README block {block} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    out = done.stdout
    assert '"status":"accepted"' in out.replace(" ", "")  # the curl ingest
    assert '"handled_by"' in out  # the routing decision
    assert "TableNames" in out  # aws dynamodb list-tables with the region stated
    assert '"open"' in out  # the deadline check invoked through the Lambda endpoint
    assert "export written to" in out  # the CLI's download of the completed access export
    assert "intact" in out  # audit verify
    assert '"categories"' in out  # make -s purge: the JSON report only
    for leftover in ("request.txt", "hold.txt", "export.json", "deadlines.json"):
        assert not (ROOT / leftover).exists(), f"the README leaves {leftover} behind"


def test_the_block_convention_is_documented_in_the_readme_source() -> None:
    text = README.read_text(encoding="utf-8")
    assert "`bash local-stack`" in text
    assert Path(__file__).name in text
