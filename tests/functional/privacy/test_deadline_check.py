"""The daily deadline check counts open privacy requests due within 7 days or overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.names import SERVICE_NAME, Env
from callguard.storage.requests import deadline_key
from local import permissions
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
    scans: list[str] = []
    aws["clients"].dynamodb.meta.events.register("before-call.dynamodb.Scan", lambda **_: scans.append("scan"))
    logs = LogCapture()
    try:
        counts = module.lambda_handler({}, FakeContext())
    finally:
        logs.close()
    assert counts == {"open": 3, "due_soon": 1, "overdue": 1}
    assert scans == ["scan"]  # one scan of the privacy table: the counts and the late listing together
    output = capsys.readouterr().out
    assert '"PrivacyRequestsOverdue":[1.0]' in output.replace(" ", "")


def test_requests_from_before_the_request_list_join_it_once(aws: dict[str, Any]) -> None:
    """An upgraded deployment: requests stored without the by_deadline keys are listed by the daily
    check (with their extended deadline where there is one), exactly once; listed ones are untouched."""
    now = datetime.now(UTC)
    ddb, table = aws["session"].client("dynamodb"), aws["env"][Env.PRIVACY_TABLE]
    old = {"pk": {"S": "REQUEST#pr-00000000000000000old"}, "sk": {"S": "REQUEST"}, "status": {"S": "completed"},
           "due_at": {"S": (now - timedelta(days=40)).isoformat()}}  # fmt: skip
    extended = {"pk": {"S": "REQUEST#pr-000000000000000000ext"}, "sk": {"S": "REQUEST"}, "status": {"S": "received"},
                "due_at": {"S": (now + timedelta(days=5)).isoformat()},
                "extended_due_at": {"S": (now + timedelta(days=65)).isoformat()}}  # fmt: skip
    listed = {"pk": {"S": "REQUEST#pr-00000000000000listed"}, "sk": {"S": "REQUEST"}, "status": {"S": "received"},
              "due_at": {"S": now.isoformat()}, "request_list": {"S": "REQUESTS"},
              "deadline_at": {"S": "kept"}}  # fmt: skip
    for item in (old, extended, listed):
        ddb.put_item(TableName=table, Item=item)
    module = load_handler("deadline_check")
    module.check(aws["clients"])
    module.lambda_handler({}, FakeContext())

    def stored(item: dict[str, Any]) -> dict[str, Any]:
        return ddb.get_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})["Item"]

    assert stored(old)["request_list"]["S"] == "REQUESTS"
    assert stored(old)["deadline_at"]["S"] == deadline_key(datetime.fromisoformat(old["due_at"]["S"]))
    assert stored(extended)["deadline_at"]["S"] == deadline_key(
        datetime.fromisoformat(extended["extended_due_at"]["S"])
    )
    assert stored(listed)["deadline_at"]["S"] == "kept"
    assert module.check().run(now).listed_late == 0  # once: nothing left to list


def test_the_check_may_set_the_two_list_keys_and_nothing_else(aws: dict[str, Any]) -> None:
    """A compromised (or mistaken) deadline check: its role lets it give a request the two list keys,
    never change its status or anything else (the template's dynamodb:Attributes condition)."""
    ddb, table = aws["session"].client("dynamodb"), aws["env"][Env.PRIVACY_TABLE]
    key = {"pk": {"S": "REQUEST#pr-0000000000000000tamper"}, "sk": {"S": "REQUEST"}}
    ddb.put_item(TableName=table, Item={**key, "status": {"S": "received"}, "due_at": {"S": "2026-01-01T00:00:00"}})
    real = permissions.active_model()
    assert real is not None, "the suite runs with the permission hook active"
    permissions.activate(real, log=False)  # the denials below are this test's point, not a failure
    try:
        with permissions.acting_as(f"service:{SERVICE_NAME}-deadline_check"):
            ddb.update_item(TableName=table, Key=key, UpdateExpression="SET request_list = :l, deadline_at = :d",
                            ExpressionAttributeValues={":l": {"S": "REQUESTS"}, ":d": {"S": "x"}})  # fmt: skip
            allowed = permissions.take_violations()
            ddb.update_item(TableName=table, Key=key, UpdateExpression="SET #s = :s",
                            ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues={":s": {"S": "completed"}})  # fmt: skip
            ddb.update_item(TableName=table, Key=key, UpdateExpression="SET deadline_at = :d, sealed_note = :n",
                            ExpressionAttributeValues={":d": {"S": "y"}, ":n": {"B": b"x"}})  # fmt: skip
            ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE history")
            denied = permissions.take_violations()
    finally:
        permissions.activate(real)
        permissions.take_violations()
    assert allowed == []
    assert [(v.call, v.action) for v in denied] == [("dynamodb:UpdateItem", "dynamodb:UpdateItem")] * 3
    assert all("DeadlinesCheck" in v.who for v in denied)
