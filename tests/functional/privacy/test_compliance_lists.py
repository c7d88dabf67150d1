"""The compliance desk's lists through the privacy handler: paging with a sealed cursor, filters,
order, refusals, the holds in force, the audit day — and every read on the audit record."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.names import Env
from callguard.retention.policy import RetentionPolicy
from callguard.security.audit import AuditLog
from tests.support import PLANTED, FakeContext, api_event, load_handler

pytestmark = pytest.mark.functional

SCOPE = "callguard/privacy:manage"
TYPES = ("access", "erasure", "objection", "erasure", "restriction", "access", "erasure")


def _call(privacy: Any, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
          user: str = "desk-1") -> tuple[int, Any]:  # fmt: skip
    event = api_event(method, path, body, scopes=SCOPE)
    event["requestContext"]["authorizer"]["claims"].update({"username": user, "sub": f"sub-{user}"})
    event["queryStringParameters"] = query
    answer = privacy.lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


@pytest.fixture
def privacy(aws: dict[str, Any]) -> Any:
    module = load_handler("privacy")
    module.dependencies(aws["clients"])
    return module


@pytest.fixture
def filed(privacy: Any) -> list[dict[str, Any]]:
    """Requests received on different days (so their deadlines differ), with personal data planted."""
    now = datetime.now(UTC)
    filed = []
    for n, kind in enumerate(TYPES):
        body: dict[str, Any] = {"type": kind, "subject": {"phone": PLANTED["phone"], "email": f"p{n}@example.de"},
                                "received_at": (now - timedelta(days=n * 2, hours=n)).isoformat(),
                                "note": PLANTED["name"]}  # fmt: skip
        status, answer = _call(privacy, "POST", "/v1/privacy/requests", body)
        assert status == 202, answer
        filed.append(answer)
    return filed


def _audit_actions(aws: dict[str, Any]) -> list[str]:
    log = AuditLog(dynamodb=aws["session"].client("dynamodb"), table=aws["env"][Env.AUDIT_TABLE],
                   retention=RetentionPolicy.defaults())  # fmt: skip
    day = datetime.now(UTC).date().isoformat()
    return [record.entry["action"] for record in log.entries(day)]


def _all_pages(privacy: Any, query: dict[str, str]) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        status, answer = _call(
            privacy, "GET", "/v1/privacy/requests", query=query | ({"cursor": cursor} if cursor else {})
        )
        assert status == 200, answer
        pages.append(answer["items"])
        cursor = answer["next_cursor"]
        if cursor is None:
            return pages


def test_pages_walk_every_request_once_newest_deadline_first_each_read_audited(
    privacy: Any, filed: list[dict[str, Any]], aws: dict[str, Any]
) -> None:
    before = _audit_actions(aws).count("privacy_requests_listed")
    pages = _all_pages(privacy, {"limit": "3"})
    assert [len(p) for p in pages] == [3, 3, 1]
    items = [item for page in pages for item in page]
    assert [i["request_id"] for i in items] == [f["request_id"] for f in filed]  # filed newest-deadline first
    dues = [i["due_at"] for i in items]
    assert dues == sorted(dues, reverse=True)
    assert {i["request_id"] for i in items} == {f["request_id"] for f in filed}
    first = items[0]
    assert set(first) == {"request_id", "type", "status", "due_at", "received_at", "completed_at", "days_left"}
    assert first["days_left"] in {30, 31}  # received today, due in one calendar month
    assert items[-1]["days_left"] < first["days_left"]
    assert _audit_actions(aws).count("privacy_requests_listed") == before + 3  # one entry per page read
    text = json.dumps(pages)
    for secret in (PLANTED["phone_e164"], PLANTED["name"], "p0@example.de", "mac"):
        assert secret not in text


def test_filters_narrow_the_list_and_keep_the_order(privacy: Any, filed: list[dict[str, Any]]) -> None:
    erasures = [f["request_id"] for f in filed if f["type"] == "erasure"]
    pages = _all_pages(privacy, {"type": "erasure", "limit": "2"})
    assert [i["request_id"] for p in pages for i in p] == erasures
    assert [len(p) for p in pages] == [2, 1]
    (page,) = _all_pages(privacy, {"status": "received"})
    assert len(page) == len(filed)
    (page,) = _all_pages(privacy, {"status": "completed"})
    assert page == []
    cut = filed[2]["due_at"]
    (page,) = _all_pages(privacy, {"due_before": cut})
    assert [i["request_id"] for i in page] == [f["request_id"] for f in filed[3:]]
    (page,) = _all_pages(privacy, {"due_before": cut, "type": "access"})
    assert [i["request_id"] for i in page] == [filed[5]["request_id"]]


def test_an_extension_moves_a_request_up_the_list(privacy: Any, filed: list[dict[str, Any]]) -> None:
    last = filed[-1]["request_id"]
    status, _ = _call(privacy, "POST", f"/v1/privacy/requests/{last}/extend", {"months": 2, "reason": "complex case"})
    assert status == 200
    (page,) = _all_pages(privacy, {})
    assert page[0]["request_id"] == last
    assert page[0]["due_at"] > page[1]["due_at"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "done"}, "status"),
        ({"type": "deletion"}, "type"),
        ({"due_before": "yesterday"}, "due_before"),
        ({"due_before": "2026-01-01T00:00:00"}, "due_before"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"cursor": "not a cursor!"}, "cursor"),
        ({"sort": "asc"}, "sort"),  # an unknown parameter named like a field is named
        ({"Erika Mustermann": "x"}, "*"),  # anything else may be a value: masked
    ],
)
def test_bad_filters_are_refused_naming_the_field_and_rule(
    privacy: Any, aws: dict[str, Any], query: dict[str, str], field: str
) -> None:
    status, answer = _call(privacy, "GET", "/v1/privacy/requests", query=query)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed"
    assert [d["field"] for d in answer["error"]["details"]] == [field]
    assert all(d["issue"] for d in answer["error"]["details"])
    for value in query.values():
        if len(value) > 4:
            assert value not in json.dumps(answer)  # the rejected value is never echoed
    assert "Erika" not in json.dumps(answer)


def test_a_forged_altered_or_replayed_cursor_is_400_invalid_cursor(privacy: Any, filed: list[dict[str, Any]]) -> None:
    status, answer = _call(privacy, "GET", "/v1/privacy/requests", query={"limit": "2"})
    cursor = answer["next_cursor"]
    assert status == 200
    assert cursor
    payload, mac = cursor.split(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    position["key"]["deadline_at"]["S"] = "9999-12-31T00:00:00.000000Z"  # skip ahead: same MAC, new position
    altered = base64.urlsafe_b64encode(json.dumps(position).encode()).rstrip(b"=").decode() + "." + mac
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    forged = base64.urlsafe_b64encode(json.dumps({"v": 1, "key": position["key"]}).encode()).rstrip(b"=").decode()
    for bad, query in (
        (altered, {"limit": "2"}),
        (f"{payload}.{flipped}", {"limit": "2"}),
        (forged, {"limit": "2"}),
        (forged + "." + mac, {"limit": "2"}),
        (f"{payload}.{mac}.{mac}", {"limit": "2"}),
        ("AAAA", {"limit": "2"}),
        (cursor, {"limit": "2", "type": "access"}),  # a page of one filter cannot continue another's
        (cursor, {"limit": "3"}),
    ):
        status, answer = _call(privacy, "GET", "/v1/privacy/requests", query=query | {"cursor": bad})
        assert status == 400, answer
        assert answer["error"]["code"] == "invalid_cursor"
    status, answer = _call(privacy, "GET", "/v1/privacy/requests", query={"limit": "2", "cursor": cursor})
    assert (status, len(answer["items"])) == (200, 2)  # the genuine cursor still works


def test_the_holds_in_force_without_identifiers_and_audited(privacy: Any, aws: dict[str, Any]) -> None:
    status, answer = _call(privacy, "GET", "/v1/privacy/holds")
    assert (status, answer) == (200, {"items": []})
    held = []
    for n, subject in enumerate(({"phone": PLANTED["phone"]}, {"email": PLANTED["email"], "customer_id": "K-1"})):
        hold = {"subject": subject, "reason": f"Klage Az. {n} / 2026"}
        status, created = _call(privacy, "POST", "/v1/privacy/holds", hold, user=f"lawyer-{n}")
        assert status == 201
        held.append(created["hold_id"])
    status, _ = _call(privacy, "DELETE", f"/v1/privacy/holds/{held[0]}")
    assert status == 200
    before = _audit_actions(aws).count("legal_holds_listed")
    status, answer = _call(privacy, "GET", "/v1/privacy/holds")
    assert status == 200
    assert answer["items"] == [
        {
            "hold_id": held[1],
            "created_at": answer["items"][0]["created_at"],
            "placed_by": "user:sub-lawyer-1",
            "reason": "Klage Az. 1 / 2026",
            "identifier_kinds": ["customer_id", "email"],
        }
    ]
    assert _audit_actions(aws).count("legal_holds_listed") == before + 1
    text = json.dumps(answer).lower()
    for secret in (PLANTED["email"].lower(), "k-1", PLANTED["phone_e164"], "mac"):
        assert secret not in text


def test_the_audit_day_counts_verifies_and_pinpoints_a_break(privacy: Any, aws: dict[str, Any]) -> None:
    today = datetime.now(UTC).date().isoformat()
    for _ in range(3):
        _call(privacy, "GET", "/v1/privacy/holds")
    status, answer = _call(privacy, "GET", f"/v1/audit/days/{today}")
    assert status == 200, answer
    assert answer["entries"] == 4  # three list reads and this verification, itself on the record
    assert (answer["intact"], answer["first_broken_position"], answer["problem"]) == (True, None, None)
    assert answer["first_at"] <= answer["last_at"]
    assert "user:" not in json.dumps(answer)  # counts only, nobody's entries
    ddb, table = aws["session"].client("dynamodb"), aws["env"][Env.AUDIT_TABLE]
    key = {"pk": {"S": f"AUDIT#{today}"}, "sk": {"N": "2"}}
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    entry = json.loads(item["entry"]["S"]) | {"action": "nothing_to_see"}
    ddb.put_item(TableName=table, Item=item | {"entry": {"S": json.dumps(entry, sort_keys=True)}})
    status, answer = _call(privacy, "GET", f"/v1/audit/days/{today}")
    assert (answer["entries"], answer["intact"], answer["first_broken_position"]) == (5, False, 2)
    assert answer["problem"] == "entry altered"
    status, answer = _call(privacy, "GET", "/v1/audit/days/2019-01-01")
    assert (status, answer["entries"], answer["intact"], answer["first_at"]) == (200, 0, True, None)
    for bad in ("2026-02-30", "2026-1-01", "today", "2026-01-01T00:00"):
        status, answer = _call(privacy, "GET", f"/v1/audit/days/{bad}")
        assert (status, answer["error"]["code"]) == (404, "not_found"), bad


def test_a_hold_is_lifted_with_a_sealed_reason_by_a_named_person(privacy: Any, aws: dict[str, Any]) -> None:
    ddb, table = aws["session"].client("dynamodb"), aws["env"][Env.PRIVACY_TABLE]
    holds = []
    for n in range(2):
        body = {"subject": {"customer_id": f"K-LIFT-{n}"}, "reason": "Klage Az. 7 / 2026"}
        status, created = _call(privacy, "POST", "/v1/privacy/holds", body)
        assert status == 201
        holds.append(created["hold_id"])

    def stored(hold_id: str) -> dict[str, Any]:
        return ddb.get_item(TableName=table, Key={"pk": {"S": f"HOLD#{hold_id}"}, "sk": {"S": "HOLD"}})["Item"]

    for bad in ({"reason": "x"}, {"reason": "ok\u0000"}, {}, {"reason": "settled", "extra": 1}):
        status, answer = _call(privacy, "DELETE", f"/v1/privacy/holds/{holds[0]}", bad, user="desk-2")
        assert status == 422, answer
        assert stored(holds[0])["status"]["S"] == "active"  # a refused lift changes nothing
    reason = "Verfahren beendet, Vergleich vom 2026-11-30"
    status, answer = _call(privacy, "DELETE", f"/v1/privacy/holds/{holds[0]}", {"reason": reason}, user="desk-2")
    assert (status, answer) == (200, {"hold_id": holds[0], "status": "lifted"})
    item = stored(holds[0])
    assert item["lifted_by"]["S"] == "user:sub-desk-2"
    assert reason.encode() not in item["sealed_lift_reason"]["B"]  # sealed, not plain
    assert privacy.dependencies().service.unseal(holds[0], item["sealed_lift_reason"]["B"]) == reason
    status, _ = _call(privacy, "DELETE", f"/v1/privacy/holds/{holds[1]}")  # v1 clients send no body
    assert status == 200
    assert "sealed_lift_reason" not in stored(holds[1])
    status, answer = _call(privacy, "DELETE", f"/v1/privacy/holds/{holds[0]}", {"reason": reason})
    assert status == 409, answer  # lifted already
