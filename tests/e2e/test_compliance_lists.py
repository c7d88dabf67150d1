"""The compliance desk's lists over HTTP against the embedded stack: the request queue walked
page by page with its cursor, the holds in force, the audit day — compliance only, each read
on the audit record, nothing personal in any answer."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.client import http
from tests.e2e.conftest import RunningStack
from tests.e2e.flows import file, people

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PHONE = "+49 160 4440101"
EMAIL = "desk.list@example.de"


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return people(stack)


def _get(stack: RunningStack, path: str, token: str, **query: str) -> Any:
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return http("GET", f"{stack.api_url}{path}{suffix}", None, token)


def _audit_actions(stack: RunningStack) -> list[str]:
    ddb = stack.client("dynamodb")
    audit = next(t for t in ddb.list_tables()["TableNames"] if "Audit" in t)
    return [json.loads(i["entry"]["S"])["action"] for i in ddb.scan(TableName=audit)["Items"]]


def test_the_queue_pages_by_cursor_newest_deadline_first_audited_and_without_personal_data(
    stack: RunningStack, tokens: dict[str, str]
) -> None:
    desk = tokens["compliance"]
    now = datetime.now(UTC)
    # received long ago (overdue by now), a day apart: a window of deadlines no other test uses
    filed = [
        file(stack, desk, kind, {"phone": PHONE, "email": EMAIL}, received_at=(now - timedelta(days=days)).isoformat())
        for kind, days in (("access", 80), ("erasure", 81), ("access", 82))
    ]
    window = {"due_before": (now - timedelta(days=40)).isoformat(), "limit": "2"}
    listed_before = _audit_actions(stack).count("privacy_requests_listed")
    items, pages, cursor = [], 0, None
    while True:
        answer = _get(stack, "/v1/privacy/requests", desk, **window, **({"cursor": cursor} if cursor else {}))
        assert answer.status == 200, answer.body
        items += answer.body["items"]
        pages += 1
        assert "+49" not in json.dumps(answer.body)
        assert EMAIL not in json.dumps(answer.body)
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
    assert _audit_actions(stack).count("privacy_requests_listed") == listed_before + pages
    ours = [i for i in items if i["request_id"] in filed]
    assert [i["request_id"] for i in ours] == filed  # the newest deadline (latest receipt) first
    assert all(i["days_left"] < 0 for i in ours)  # overdue
    assert len({i["request_id"] for i in items}) == len(items)  # no item twice across pages
    access = _get(stack, "/v1/privacy/requests", desk, type="access", **window)
    assert {i["type"] for i in access.body["items"]} <= {"access"}
    bad = _get(stack, "/v1/privacy/requests", desk, cursor="bm90LW91cnM.AAAA")
    assert (bad.status, bad.body["error"]["code"]) == (400, "invalid_cursor")
    unknown = _get(stack, "/v1/privacy/requests", desk, status="lost")
    assert unknown.status == 422
    assert [d["field"] for d in unknown.body["error"]["details"]] == ["status"]


def test_holds_in_force_and_the_audit_day_for_compliance_only(stack: RunningStack, tokens: dict[str, str]) -> None:
    desk = tokens["compliance"]
    hold = http("POST", f"{stack.api_url}/v1/privacy/holds", {"subject": {"phone": PHONE}, "reason": "Az. 7 O 1/26"},
                desk)  # fmt: skip
    assert hold.status == 201
    listed = _get(stack, "/v1/privacy/holds", desk)
    assert listed.status == 200
    ours = [h for h in listed.body["items"] if h["hold_id"] == hold.body["hold_id"]]
    assert [(h["reason"], h["identifier_kinds"], h["placed_by"]) for h in ours] == [
        ("Az. 7 O 1/26", ["phone"], "user:local-compliance")
    ]
    assert "4440101" not in json.dumps(listed.body)
    assert http("DELETE", f"{stack.api_url}/v1/privacy/holds/{hold.body['hold_id']}", None, desk).status == 200
    assert hold.body["hold_id"] not in json.dumps(_get(stack, "/v1/privacy/holds", desk).body)
    today = datetime.now(UTC).date().isoformat()
    day = _get(stack, f"/v1/audit/days/{today}", desk)
    assert day.status == 200, day.body
    assert day.body["intact"] is True
    assert day.body["entries"] >= 4  # at least: hold added, listed, lifted, listed — and this read
    assert "user:" not in json.dumps(day.body)
    for role in ("agent", "platform"):
        for path in ("/v1/privacy/requests", "/v1/privacy/holds", f"/v1/audit/days/{today}"):
            assert _get(stack, path, tokens[role]).status == 403, (role, path)
