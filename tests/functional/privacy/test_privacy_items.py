"""The privacy and audit stores write the items v1 wrote: the same keys, attribute names and types.

Existing deployments hold v1 items, and other readers (the purge's expiry index, the request list's
index, backups re-read after a restore) see them as stored. Each shape below is the v1 item of one
aggregate, read from the table as stored, after the domain wrote it through its store.
"""

from __future__ import annotations

from typing import Any

import pytest

from callguard.models import ExtendIn, HoldIn, HoldLiftIn, PrivacyRequestIn, VerifyIn
from callguard.names import Env
from callguard.wiring import build_privacy_service, build_privacy_steps
from tests.support import PLANTED

pytestmark = pytest.mark.functional

EXPIRY = {"expires_at": "N", "ttl_backstop": "N", "expiry_key": "S", "category": "S"}
#: the request item of v1 after it was filed (a rectification with a note), verified, approved and extended
REQUEST = {
    "pk": "S", "sk": "S", "request_id": "S", "type": "S", "status": "S", "received_at": "S", "due_at": "S",
    "request_list": "S", "deadline_at": "S", "subject_macs": "L", "subject_kinds": "L", "filed_by": "S",
    "history": "L", "sealed_changes": "B", "sealed_note": "B", "verification": "M", "extended_due_at": "S",
    "sealed_extension_reason": "B", **EXPIRY,
}  # fmt: skip


def _shape(item: dict[str, Any]) -> dict[str, str]:
    """Attribute name → DynamoDB type tag."""
    return {name: next(iter(value)) for name, value in item.items()}


def _items(aws: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    ddb = aws["session"].client("dynamodb")
    pages = ddb.get_paginator("scan").paginate(TableName=aws["env"][Env.PRIVACY_TABLE])
    return [i for page in pages for i in page["Items"] if i["pk"]["S"].startswith(prefix)]


def test_a_request_is_stored_as_in_v1(aws: dict[str, Any]) -> None:
    service = build_privacy_service(aws["clients"])
    body = PrivacyRequestIn.model_validate(
        {
            "type": "rectification",
            "subject": {"phone": PLANTED["phone"]},
            "changes": {"email": PLANTED["email"]},
            "note": PLANTED["name"],
        }
    )
    request_id = service.submit(body, actor="user:filer")["request_id"]
    service.verify(request_id, VerifyIn.model_validate({"method": "callback", "reference": "t-1"}), actor="user:v")
    service.extend(request_id, ExtendIn.model_validate({"months": 1, "reason": "complex case"}))
    (item,) = _items(aws, f"REQUEST#{request_id}")
    assert _shape(item) == REQUEST
    assert (item["pk"]["S"], item["sk"]["S"]) == (f"REQUEST#{request_id}", "REQUEST")
    assert item["request_list"] == {"S": "REQUESTS"}
    assert item["subject_kinds"] == {"L": [{"S": "phone"}]}
    assert [_shape(h["M"]) for h in item["history"]["L"]] == [{"at": "S", "status": "S"}] * 2
    assert _shape(item["verification"]["M"]) == {"by": "S", "method": "S", "sealed_reference": "B", "at": "S"}
    (listing,) = _items(aws, "SUBJECTREQUEST#mac:")
    assert _shape(listing) == {"pk": "S", "sk": "S", "request_id": "S", "received_at": "S", **EXPIRY}
    assert listing["sk"] == {"S": f"REQUEST#{request_id}"}
    assert listing["pk"]["S"] == f"SUBJECTREQUEST#mac:{item['subject_macs']['L'][0]['S']}"
    text = repr(_items(aws, ""))
    assert PLANTED["name"] not in text
    assert PLANTED["email"] not in text


def test_holds_and_download_tickets_are_stored_as_in_v1(aws: dict[str, Any]) -> None:
    service = build_privacy_service(aws["clients"])
    hold_id = service.add_hold(
        HoldIn.model_validate({"subject": {"phone": PLANTED["phone"]}, "reason": "litigation"}), actor="user:h"
    )["hold_id"]
    (standing,) = _items(aws, "HOLDS#active")
    assert _shape(standing) == {"pk": "S", "sk": "S", "subject_macs": "L", "subject_kinds": "L", "created_at": "S"}
    assert standing["sk"] == {"S": f"HOLD#{hold_id}"}
    service.lift_hold(hold_id, actor="user:l", body=HoldLiftIn.model_validate({"reason": "settled"}))
    assert _items(aws, "HOLDS#") == []
    (hold,) = _items(aws, f"HOLD#{hold_id}")
    assert _shape(hold) == {
        "pk": "S", "sk": "S", "status": "S", "created_at": "S", "subject_macs": "L", "subject_kinds": "L",
        "sealed_reason": "B", "placed_by": "S", "lifted_at": "S", "lifted_by": "S", "sealed_lift_reason": "B",
    }  # fmt: skip
    assert (hold["sk"], hold["status"]) == ({"S": "HOLD"}, {"S": "lifted"})
    service.issue_download("pr-00000000000000000000", actor="user:d")
    (ticket,) = _items(aws, "DOWNLOAD#")
    assert _shape(ticket) == {
        "pk": "S", "sk": "S", "request_id": "S", "issued_to": "S", "issued_at": "S", "valid_until": "N",
        "ttl_backstop": "N",
    }  # fmt: skip
    assert int(ticket["ttl_backstop"]["N"]) - int(ticket["valid_until"]["N"]) == 86400


def test_erasure_bookkeeping_is_stored_as_in_v1(aws: dict[str, Any]) -> None:
    steps = build_privacy_steps(aws["clients"])
    now = steps.clock()
    steps.tombstones.put_subject("subject-1", "pr-1", now)
    steps.tombstones.put_call("call-1", "subject-2", "pr-1", now)
    shapes = {i["pk"]["S"]: _shape(i) for i in _items(aws, "TOMBSTONE#")}
    assert shapes == {
        "TOMBSTONE#subject-1": {"pk": "S", "sk": "S", "request_id": "S", "erased_at": "S", **EXPIRY},
        "TOMBSTONE#call:call-1": {"pk": "S", "sk": "S", "request_id": "S", "erased_at": "S", "subject_id": "S",
                                  **EXPIRY},
    }  # fmt: skip
    assert steps.tombstones.erased() == (["subject-1"], {"call-1": "subject-2"})
