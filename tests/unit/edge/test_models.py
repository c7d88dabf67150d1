from __future__ import annotations

import json

import pytest

from callguard.models import CallIn, normalise_email, normalise_phone
from tests.support import PLANTED, call_body

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "raw",
    ["0151 23456789", "+49 151 23456789", "+49 (0)151 234 567 89", "0049 151 23456789", "+4915123456789"],
)
def test_phone_formats_normalise_to_one_e164(raw: str) -> None:
    assert normalise_phone(raw) == PLANTED["phone_e164"]


def test_contract_example_numbers_are_one_phone() -> None:
    assert normalise_phone("0151 2345678") == normalise_phone("+49 151 2345678")


@pytest.mark.parametrize("raw", ["12", "abc", "+49 30 12", "++49"])
def test_implausible_phone_numbers_are_refused_without_echo(raw: str) -> None:
    with pytest.raises(ValueError, match="phone number") as info:
        normalise_phone(raw)
    assert raw not in str(info.value)


def test_email_is_lower_cased() -> None:
    assert normalise_email("Erika.Mustermann@Example.DE") == "erika.mustermann@example.de"


def test_caller_identifiers_are_ordered_most_stable_first() -> None:
    call = CallIn.model_validate_json(json.dumps(call_body()))
    kinds = [kind for kind, _ in call.caller.identifiers()]
    assert kinds == ["customer_id", "phone", "email"]


def test_live_call_has_no_end() -> None:
    body = call_body()
    del body["ended_at"]
    assert CallIn.model_validate_json(json.dumps(body)).live is True


def test_national_numbers_follow_the_configured_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLGUARD_DEFAULT_PHONE_REGION", "AT")
    assert normalise_phone("0664 1234567") == "+436641234567"
    monkeypatch.delenv("CALLGUARD_DEFAULT_PHONE_REGION")
    assert normalise_phone("0664 1234567").startswith("+49")


def test_the_request_list_filter_accepts_exactly_the_request_statuses() -> None:
    from typing import get_args

    from callguard.models import RequestListQuery, RequestStatus

    literal = get_args(RequestListQuery.model_fields["status"].annotation)[0]
    assert set(get_args(literal)) == {str(s) for s in RequestStatus}
    assert {s for s in RequestStatus if s.closed} == {"completed", "rejected", "failed"}
