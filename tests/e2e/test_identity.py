"""Subject identity that cannot be turned against the caller (issue 14), played end to end.

The attacker shows the victim's number (caller ID is trivially spoofed) and gives their own
e-mail; a reassigned number reaches a second person. Privacy requests for what the requester
proved must reach only what those identifiers were on — never the victim's history.
"""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest

from local.client import download_export, http, wait_for_request
from tests.e2e.conftest import RunningStack
from tests.e2e.flows import DONE, VERIFY, download, file, people, run
from tests.support import call_body

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VICTIM_SECRET = "Meine Kundennummer und mein Passwort sind streng geheim, bitte sperren Sie die Karte."
ATTACKER_TEXT = "Bitte schicken Sie mir alle meine Daten."


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return people(stack)


def _ingest(stack: RunningStack, token: str, call_id: str, caller: dict[str, Any], text: str) -> str:
    segments = [{"speaker": "customer", "start_ms": 0, "end_ms": 3000, "text": text}]
    answer = http("POST", f"{stack.api_url}/v1/calls", call_body(call_id=call_id, caller=caller, segments=segments),
                  token)  # fmt: skip
    assert answer.status == 202, answer.body
    return str(answer.body["subject_id"])


def _victim_and_attacker(stack: RunningStack, tokens: dict[str, str], tag: str) -> dict[str, str]:
    """The victim's history (one authenticated call, one by caller ID), then the attacker's call
    with the victim's number shown and the attacker's own e-mail, neither authenticated."""
    phone, customer = f"+49 160 77{tag}01", f"K-VICTIM-{tag}"
    authenticated = {"customer_id": customer, "phone": phone,
                     "verification": {"identifiers": ["customer_id"], "method": "ivr_pin"}}  # fmt: skip
    victim = _ingest(stack, tokens["platform"], f"victim-{tag}-1", authenticated, VICTIM_SECRET)
    _ingest(stack, tokens["platform"], f"victim-{tag}-2", {"phone": phone}, VICTIM_SECRET)
    email = f"attacker-{tag}@example.org"
    attacker = _ingest(stack, tokens["platform"], f"attack-{tag}", {"phone": phone, "email": email}, ATTACKER_TEXT)
    assert attacker != victim  # the shown number did not join the victim's history
    return {"phone": phone, "customer_id": customer, "email": email}


def test_access_for_the_attackers_email_exports_the_attackers_call_only(
    stack: RunningStack, tokens: dict[str, str]
) -> None:
    ids = _victim_and_attacker(stack, tokens, "11")
    done = run(stack, tokens, "access", {"email": ids["email"]})
    assert done["status"] == "completed", done
    export = download(done, tokens["compliance"])
    assert [c["call_id"] for c in export["data"]["calls"]] == ["attack-11"]
    text = json.dumps(export, ensure_ascii=False)
    assert VICTIM_SECRET not in text
    assert "victim-11" not in text
    # the export says which identifiers it covers and why
    (covered,) = export["scope"]["identifiers"]
    assert covered["kind"] == "email"
    assert covered["authenticated"] is False
    assert "only the calls on which it appeared" in covered["basis"]
    # the victim, proving the customer id, gets the authenticated history (and not the attacker's call)
    own = download(run(stack, tokens, "access", {"customer_id": ids["customer_id"]}), tokens["compliance"])
    assert [c["call_id"] for c in own["data"]["calls"]] == ["victim-11-1"]


def test_erasure_for_the_attackers_email_leaves_the_victims_data(stack: RunningStack, tokens: dict[str, str]) -> None:
    ids = _victim_and_attacker(stack, tokens, "22")
    done = run(stack, tokens, "erasure", {"email": ids["email"]})
    assert done["status"] == "completed", done
    assert set(done["result"]["remaining_after_verification"].values()) == {0}
    agent = tokens["agent"]
    assert http("GET", f"{stack.api_url}/v1/calls/attack-22", token=agent).status == 404
    for call_id in ("victim-22-1", "victim-22-2"):
        view = http("GET", f"{stack.api_url}/v1/calls/{call_id}", token=agent)
        assert view.status == 200, call_id  # the victim's history stays, readable
    export = download(run(stack, tokens, "access", {"customer_id": ids["customer_id"]}), tokens["compliance"])
    assert export["data"]["calls"][0]["transcript"][0]["text"] == VICTIM_SECRET  # the key was not shredded


def test_a_reassigned_number_does_not_join_two_peoples_histories(stack: RunningStack, tokens: dict[str, str]) -> None:
    number = "+49 160 7733001"
    first = {"customer_id": "K-FIRST-33", "phone": number,
             "verification": {"identifiers": ["customer_id"], "method": "app_login"}}  # fmt: skip
    second = {"customer_id": "K-SECOND-33", "phone": number,
              "verification": {"identifiers": ["customer_id"], "method": "agent_kba"}}  # fmt: skip
    a = _ingest(stack, tokens["platform"], "reassigned-first", first, VICTIM_SECRET)
    b = _ingest(stack, tokens["platform"], "reassigned-second", second, ATTACKER_TEXT)
    assert a != b
    export = download(run(stack, tokens, "access", {"customer_id": "K-SECOND-33"}), tokens["compliance"])
    assert [c["call_id"] for c in export["data"]["calls"]] == ["reassigned-second"]
    assert VICTIM_SECRET not in json.dumps(export, ensure_ascii=False)
    assert run(stack, tokens, "erasure", {"customer_id": "K-SECOND-33"})["status"] == "completed"
    assert http("GET", f"{stack.api_url}/v1/calls/reassigned-first", token=tokens["agent"]).status == 200
    assert http("GET", f"{stack.api_url}/v1/calls/reassigned-second", token=tokens["agent"]).status == 404


def test_four_eyes_the_filer_and_the_verifier_cannot_approve(stack: RunningStack, tokens: dict[str, str]) -> None:
    _ingest(stack, tokens["platform"], "four-eyes-1", {"phone": "+49 160 7744001"}, ATTACKER_TEXT)
    request_id = file(stack, tokens["compliance"], "erasure", {"phone": "+49 160 7744001"})
    url = f"{stack.api_url}/v1/privacy/requests/{request_id}"
    early = http("POST", f"{url}/approve", None, tokens["approver"])  # before any verification
    assert (early.status, early.body["error"]["code"]) == (409, "request_state")
    verifier = people_token(stack, "verifier-3")
    assert http("POST", f"{url}/verify", VERIFY, verifier).status == 200  # before the workflow waits: honoured
    waiting = wait_for_request(stack.api_url, tokens["compliance"], request_id, {"awaiting_approval", *DONE})
    assert waiting["status"] == "awaiting_approval"
    assert waiting["verification"]["by"] == "user:local-verifier-3"  # the person from the token
    for token in (tokens["compliance"], verifier):  # the filer, the verifier
        refused = http("POST", f"{url}/approve", None, token)
        assert (refused.status, refused.body["error"]["code"]) == (403, "four_eyes_violation")
    assert http("GET", f"{stack.api_url}/v1/calls/four-eyes-1", token=tokens["agent"]).status == 200  # not yet
    assert http("POST", f"{url}/approve", None, tokens["approver"]).status == 200
    done = wait_for_request(stack.api_url, tokens["compliance"], request_id, DONE)
    assert done["status"] == "completed"
    assert done["approval"]["by"] == "user:local-approver-2"
    assert http("GET", f"{stack.api_url}/v1/calls/four-eyes-1", token=tokens["agent"]).status == 404
    again = http("POST", f"{url}/approve", None, tokens["approver"])
    assert (again.status, again.body["error"]["code"]) == (409, "request_state")


def people_token(stack: RunningStack, name: str) -> str:
    from local.client import fetch_token

    return fetch_token("compliance", stack.state_file, user=name)


def test_rectification_cannot_take_over_another_subjects_identifier(
    stack: RunningStack, tokens: dict[str, str]
) -> None:
    victim = {"customer_id": "K-VICTIM-55", "verification": {"identifiers": ["customer_id"], "method": "sso"}}
    attacker = {"customer_id": "K-ATTACKER-55", "verification": {"identifiers": ["customer_id"], "method": "sso"}}
    _ingest(stack, tokens["platform"], "rect-victim-55", victim, VICTIM_SECRET)
    _ingest(stack, tokens["platform"], "rect-attacker-55", attacker, ATTACKER_TEXT)
    body = {"type": "rectification", "subject": {"customer_id": "K-ATTACKER-55"},
            "changes": {"customer_id": "K-VICTIM-55"}}  # fmt: skip
    refused = http("POST", f"{stack.api_url}/v1/privacy/requests", body, tokens["compliance"])
    assert (refused.status, refused.body["error"]["code"]) == (409, "identifier_belongs_to_another_subject")
    assert "K-VICTIM-55" not in json.dumps(refused.body)
    export = download(run(stack, tokens, "access", {"customer_id": "K-VICTIM-55"}), tokens["compliance"])
    assert [c["call_id"] for c in export["data"]["calls"]] == ["rect-victim-55"]  # still the victim's alone


def test_a_hold_placed_before_the_first_call_protects_it(stack: RunningStack, tokens: dict[str, str]) -> None:
    phone = "+49 160 7766001"
    hold = http("POST", f"{stack.api_url}/v1/privacy/holds", {"subject": {"phone": phone}, "reason": "litigation"},
                tokens["compliance"])  # fmt: skip
    assert hold.status == 201
    _ingest(stack, tokens["platform"], "held-later-1", {"phone": phone}, ATTACKER_TEXT)  # the first call comes later
    rejected = run(stack, tokens, "erasure", {"phone": phone})
    assert (rejected["status"], rejected["result"]["reason"]) == ("rejected", "legal_hold")
    assert http("GET", f"{stack.api_url}/v1/calls/held-later-1", token=tokens["agent"]).status == 200
    hold_id = hold.body["hold_id"]
    assert http("DELETE", f"{stack.api_url}/v1/privacy/holds/{hold_id}", token=tokens["compliance"]).status == 200
    again = http("DELETE", f"{stack.api_url}/v1/privacy/holds/{hold_id}", token=tokens["compliance"])
    assert (again.status, again.body["error"]["code"]) == (409, "request_state")
    ddb = stack.client("dynamodb")
    audit = next(t for t in ddb.list_tables()["TableNames"] if "Audit" in t)
    entries = [json.loads(i["entry"]["S"]) for i in ddb.scan(TableName=audit)["Items"]]
    lifted = [e for e in entries if e["resource"] == f"hold/{hold_id}"]
    assert [e["action"] for e in lifted] == [
        "legal_hold_added",
        "legal_hold_lifted",
    ]  # the refused lift changed nothing
    assert all(e["actor"] == "user:local-compliance" for e in lifted)
    assert run(stack, tokens, "erasure", {"phone": phone})["status"] == "completed"


def test_the_download_link_works_once_and_records_the_person(stack: RunningStack, tokens: dict[str, str]) -> None:
    _ingest(stack, tokens["platform"], "dl-1", {"phone": "+49 160 7777001"}, ATTACKER_TEXT)
    done = run(stack, tokens, "access", {"phone": "+49 160 7777001"})
    link = done["result"]["download_url"]
    assert "X-Amz-" not in link  # a link to the audited endpoint, not to the storage
    reader = people_token(stack, "reader-7")
    assert [c["call_id"] for c in json.loads(download_export(link, reader))["data"]["calls"]] == ["dl-1"]
    with pytest.raises(urllib.error.HTTPError) as again:  # single use
        download_export(link, reader)
    assert again.value.code == 404
    assert http("GET", link, token=tokens["agent"]).status == 403  # and only for compliance people
    ddb = stack.client("dynamodb")
    audit = next(t for t in ddb.list_tables()["TableNames"] if "Audit" in t)
    entries = [json.loads(i["entry"]["S"]) for i in ddb.scan(TableName=audit)["Items"]]
    downloads = [e for e in entries if e["resource"] == f"privacy/{done['request_id']}"
                 and e["action"] == "privacy_export_downloaded"]  # fmt: skip
    assert [e["actor"] for e in downloads] == ["user:local-reader-7"]
