"""`callguard audit verify` against the running local stack: a clean log verifies, and each way an
insider can rewrite history (through the stack's own DynamoDB and S3 endpoints) makes it exit 1.

The anchoring function runs on demand through the stack's Lambda endpoint, as its schedule
would run it. Tampering is done on two closed past days, each restored afterwards (the replayed
anchor, which Object Lock keeps for good, comes last), so today's log of the shared stack stays
intact for the other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.retention.policy import RetentionPolicy
from callguard.security.audit import GENESIS, AuditLog, chain_digest
from callguard.security.audit_anchor import day_key
from tests.e2e.conftest import RunningStack
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _verify(stack: RunningStack, day: str) -> subprocess.CompletedProcess[str]:
    """``python -m callguard_cli audit verify <day>``: nothing but the day, the stack is found by itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CALLGUARD_"))}
    env["CALLGUARD_LOCAL_STATE"] = str(stack.state_file)
    return subprocess.run(
        [sys.executable, "-m", "callguard_cli", "audit", "verify", day],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


class Log:
    def __init__(self, stack: RunningStack) -> None:
        state = json.loads(stack.state_file.read_text())
        self.stack = stack
        self.ddb, self.s3 = stack.client("dynamodb"), stack.client("s3")
        self.table, self.bucket = state["audit"]["table"], state["audit"]["anchors_bucket"]

    def items(self, day: str) -> list[dict[str, Any]]:
        query = {"TableName": self.table, "KeyConditionExpression": "pk = :p", "ConsistentRead": True,
                 "ExpressionAttributeValues": {":p": {"S": f"AUDIT#{day}"}}}  # fmt: skip
        return list(self.ddb.query(**query)["Items"])

    def delete(self, day: str, sequence: int) -> None:
        self.ddb.delete_item(TableName=self.table, Key={"pk": {"S": f"AUDIT#{day}"}, "sk": {"N": str(sequence)}})

    def replace(self, day: str, items: list[dict[str, Any]]) -> None:
        for item in self.items(day):
            self.delete(day, int(item["sk"]["N"]))
        for item in items:
            self.ddb.put_item(TableName=self.table, Item=item)

    def recomputed(self, entries: list[dict[str, Any]], template: list[dict[str, Any]]) -> list[dict[str, Any]]:
        previous, items = GENESIS, []
        for n, entry in enumerate(entries, start=1):
            digest = chain_digest(previous, entry)
            items.append({**template[n - 1], "sk": {"N": str(n)}, "entry": {"S": json.dumps(entry, sort_keys=True)},
                          "prev_hash": {"S": previous}, "hash": {"S": digest}})  # fmt: skip
            previous = digest
        return items


@pytest.fixture(scope="module")
def days(stack: RunningStack) -> tuple[str, str, str, Log]:
    now = datetime.now(UTC)
    if now.hour == 0 and now.minute < 10:
        pytest.skip("too close to midnight UTC: the day being checked could close during the test")
    before, yesterday, today = ((now - timedelta(days=n)).date().isoformat() for n in (2, 1, 0))
    log = Log(stack)
    clock = [now]
    writer = AuditLog(log.ddb, log.table, RetentionPolicy.defaults(), clock=lambda: clock[0])
    for day, count in ((before, 3), (yesterday, 4), (today, 2)):
        for n in range(count):
            clock[0] = datetime.fromisoformat(day).replace(hour=8, minute=n, tzinfo=UTC) if day != today else now
            writer.append(actor=f"user:agent-{n}", action="read_call", resource=f"call/e2e-{day}-{n}")
    done = subprocess.run(  # `make anchor`: the anchoring function through the stack's Lambda endpoint
        [sys.executable, "-m", "local", "anchor"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CALLGUARD_LOCAL_STATE": str(stack.state_file)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {before, yesterday} <= set(report["days_anchored"])
    assert report["checkpoint"]["day"] == today
    return before, yesterday, today, log


def test_a_clean_log_verifies_through_the_cli(days: tuple[str, str, str, Log], stack: RunningStack) -> None:
    before, yesterday, today, _ = days
    for day in (before, yesterday, today):
        result = _verify(stack, day)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "intact" in result.stdout


def test_every_kind_of_tampering_makes_verify_fail(days: tuple[str, str, str, Log], stack: RunningStack) -> None:
    before, yesterday, _, log = days
    originals = {day: log.items(day) for day in (before, yesterday)}

    def fails(day: str, words: str) -> None:
        result = _verify(stack, day)
        assert result.returncode == 1, result.stdout + result.stderr
        assert words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

    log.delete(yesterday, 4)  # the latest entry
    fails(yesterday, "counts 4 entries, the log has 3")
    log.replace(yesterday, originals[yesterday])
    assert _verify(stack, yesterday).returncode == 0

    log.replace(before, [])  # a whole day
    fails(before, "counts 3 entries, the log has 0")
    fails(yesterday, f"entries of the day before ({before}) no longer match")
    log.replace(before, originals[before])

    entries = [json.loads(i["entry"]["S"]) for i in originals[yesterday]]
    rewritten = [entries[0], {**entries[1], "actor": "user:somebody-else"}, *entries[2:]]
    log.replace(yesterday, log.recomputed(rewritten, originals[yesterday]))  # rewrite, hashes recomputed
    fails(yesterday, "does not match its signed anchor")
    log.replace(yesterday, log.recomputed([entries[1], entries[0], *entries[2:]], originals[yesterday]))  # reorder
    fails(yesterday, "does not match its signed anchor")
    log.replace(yesterday, originals[yesterday])
    assert _verify(stack, yesterday).returncode == 0

    # replay: yesterday's signed anchor put over the day before's (Object Lock keeps both versions for
    # good, so this comes last and spares yesterday, which today's verification links to)
    replayed = log.s3.get_object(Bucket=log.bucket, Key=day_key(yesterday))["Body"].read()
    log.s3.put_object(Bucket=log.bucket, Key=day_key(before), Body=replayed)
    fails(before, "a replayed anchor")


def test_verify_without_a_running_stack_says_so_in_one_sentence(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CALLGUARD_"))}
    env["CALLGUARD_LOCAL_STATE"] = str(tmp_path / "absent.json")
    result = subprocess.run(
        [sys.executable, "-m", "callguard_cli", "audit", "verify", "2026-11-27"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "No local stack is running" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
