"""Verification and four-eyes in the domain: whenever they arrive, whoever may give them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.errors import FourEyesError, RestrictedError
from callguard.models import PrivacyRequestIn, VerifyIn
from callguard.privacy.steps import ApprovalRecordedError, VerificationRecordedError
from callguard.privacy.workflow import RequestStateError
from callguard.wiring import build_agent_view_service, build_privacy_service, build_privacy_steps
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

VERIFY = VerifyIn.model_validate({"method": "callback", "reference": "ticket-77"})


def _file(aws: dict[str, Any], kind: str = "erasure") -> tuple[Any, Any, str]:
    service, steps = build_privacy_service(aws["clients"]), build_privacy_steps(aws["clients"])
    body = PrivacyRequestIn.model_validate({"type": kind, "subject": {"phone": PLANTED["phone"]}})
    return service, steps, service.submit(body, actor="user:filer")["request_id"]


def test_a_verification_given_before_the_wait_is_honoured_when_the_workflow_gets_there(aws: dict[str, Any]) -> None:
    service, steps, request_id = _file(aws)
    answer = service.verify(request_id, VERIFY, actor="user:verifier")  # during the very call: no wait yet
    assert answer["verification"]["by"] == "user:verifier"
    with pytest.raises(VerificationRecordedError):  # caught by name in the state machine: go on
        steps.await_verification(request_id, "task-token-1")
    assert steps.requests.get(request_id).status == "in_progress"  # type: ignore[union-attr]
    assert steps.requests.get(request_id).task_token is None  # type: ignore[union-attr]
    with pytest.raises(RequestStateError):  # once only
        service.verify(request_id, VERIFY, actor="user:someone-else")


def test_a_wait_that_comes_first_stores_its_token_and_waits(aws: dict[str, Any]) -> None:
    _, steps, request_id = _file(aws)
    steps.await_verification(request_id, "task-token-2")
    item = steps.requests.get(request_id)
    assert item is not None
    assert (item.status, item.task_token) == ("awaiting_verification", "task-token-2")


def test_four_eyes_the_filer_and_the_verifier_cannot_approve_a_second_person_can(aws: dict[str, Any]) -> None:
    service, steps, request_id = _file(aws)
    with pytest.raises(RequestStateError):  # nothing to approve before the identity is verified
        service.approve(request_id, actor="user:second")
    service.verify(request_id, VERIFY, actor="user:verifier")
    for person in ("user:filer", "user:verifier"):
        with pytest.raises(FourEyesError) as refused:
            service.approve(request_id, actor=person)
        assert (refused.value.status, refused.value.code) == (403, "four_eyes_violation")
    recorded: list[tuple[str, str]] = []
    approved = service.approve(request_id, actor="user:second", record=lambda a, r: recorded.append((a, r)))
    assert approved["approval"]["by"] == "user:second"
    assert recorded == [("privacy_request_approved", f"privacy/{request_id}")]
    with pytest.raises(ApprovalRecordedError):  # given before the wait: the workflow goes straight on
        steps.await_approval(request_id, "task-token-3")


def test_four_eyes_can_be_switched_off_per_deployment(aws: dict[str, Any]) -> None:
    _, steps, request_id = _file(aws)
    steps.four_eyes = False
    with pytest.raises(ApprovalRecordedError):
        steps.await_approval(request_id, "task-token-4")
    item = steps.requests.get(request_id)
    assert item is not None
    assert item.approval is not None
    assert item.approval.by == "not_required"
    key = {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}  # the v1 item, as stored
    stored = aws["session"].client("dynamodb").get_item(TableName=steps.requests.table, Key=key)["Item"]
    assert stored["approval"] == {"M": {"by": {"S": "not_required"}}}


def test_only_exports_and_erasures_need_an_approval(aws: dict[str, Any]) -> None:
    service, _, request_id = _file(aws, "objection")
    service.verify(request_id, VERIFY, actor="user:verifier")
    with pytest.raises(RequestStateError):
        service.approve(request_id, actor="user:second")


def test_a_restriction_for_an_identifier_reaches_a_history_that_starts_later(aws: dict[str, Any]) -> None:
    """Restricted by phone; the caller later shows the phone with a new e-mail (another unverified
    history): the new call is not analysed and agents do not see its content."""
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    first = call_body(call_id="rights-1", caller={"phone": PLANTED["phone"]})
    assert ingest.lambda_handler(api_event("POST", "/v1/calls", first), FakeContext())["statusCode"] == 202
    _, steps, request_id = _file(aws, "restriction")
    steps.apply_restriction(request_id)
    later = call_body(call_id="rights-2", caller={"phone": PLANTED["phone"], "email": "new@example.org"})
    answer = json.loads(ingest.lambda_handler(api_event("POST", "/v1/calls", later), FakeContext())["body"])
    assert answer["analysis"] == "skipped"
    assert steps.subjects.profile(answer["subject_id"]).restricted  # on the new history's profile too
    view = build_agent_view_service(aws["clients"])
    with pytest.raises(RestrictedError):
        view.view("rights-2", actor="user:agent")


def test_erasure_for_an_identifier_only_shown_on_a_proven_history_erases_that_call_alone(
    aws: dict[str, Any],
) -> None:
    """An e-mail stated (not authenticated) on one call of an authenticated history: erasing it
    erases that call, its consent entry and its evidence — the owner's other calls and key stay."""
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    proven = {"customer_id": "K-5150", "verification": {"identifiers": ["customer_id"], "method": "sso"}}
    for call_id, extra in (("own-1", {}), ("own-2", {"email": "stated@example.org"})):
        body = call_body(call_id=call_id, caller=proven | extra)
        assert ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())["statusCode"] == 202
    service, steps = build_privacy_service(aws["clients"]), build_privacy_steps(aws["clients"])
    request = PrivacyRequestIn.model_validate({"type": "erasure", "subject": {"email": "stated@example.org"}})
    request_id = service.submit(request, actor="user:filer")["request_id"]
    scope = steps.scope_of(request_id)
    assert (scope.subjects, list(scope.calls)) == ((), ["own-2"])  # the call, not the history
    for step in (steps.shred_subject_key, steps.delete_subject_data, steps.verify_erasure):
        step(request_id)
    certificate = steps.requests.get(request_id).result  # type: ignore[union-attr]
    assert certificate["removed"]["subject_keys"] == 0
    assert certificate["single_calls_without_key_shredding"] == 1
    calls = steps.data.calls
    assert calls.get("own-2") is None
    owner = calls.get("own-1")
    assert owner is not None
    assert owner.transcript is not None
    assert json.loads(
        steps.data.keyring.open(owner.subject_id, steps.data.transcripts.get(dict(owner.transcript)), aad="own-1")
    )
    assert steps.scope_of(request_id).empty  # the stated e-mail reaches nothing any more
    consent_calls = {entry.call_id for entry in steps.subjects.consent_history(owner.subject_id)}
    assert "own-2" not in consent_calls
    assert "own-1" in consent_calls
