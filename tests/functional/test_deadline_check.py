"""The daily deadline check counts open privacy requests due within 7 days or overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.names import Env
from tests.support import FakeContext, LogCapture, load_handler

pytestmark = pytest.mark.functional


def test_due_soon_and_overdue_requests_are_counted(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    ddb = aws["session"].client("dynamodb")
    for n, (status, due) in enumerate(
        [
            ("awaiting_verification", now - timedelta(days=2)),  # overdue
            ("in_progress", now + timedelta(days=3)),  # due soon
            ("received", now + timedelta(days=20)),  # open, not yet urgent
            ("completed", now - timedelta(days=10)),  # done: not counted
        ]
    ):
        ddb.put_item(
            TableName=aws["env"][Env.PRIVACY_TABLE],
            Item={
                "pk": {"S": f"REQUEST#pr-{n:020d}"},
                "sk": {"S": "REQUEST"},
                "status": {"S": status},
                "due_at": {"S": due.isoformat()},
            },
        )
    ddb.put_item(TableName=aws["env"][Env.PRIVACY_TABLE], Item={"pk": {"S": "HOLD#x"}, "sk": {"S": "HOLD"}})
    module = load_handler("deadline_check")
    module.check(aws["clients"])
    logs = LogCapture()
    try:
        counts = module.lambda_handler({}, FakeContext())
    finally:
        logs.close()
    assert counts == {"open": 3, "due_soon": 1, "overdue": 1}
    output = capsys.readouterr().out
    assert '"PrivacyRequestsOverdue":[1.0]' in output.replace(" ", "")
