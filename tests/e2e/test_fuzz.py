"""The API against its own OpenAPI document, fuzzed, plus hand-written hostile requests.

Schemathesis loads the document the running stack serves (``GET /v1/openapi.json``) and
sends generated requests, valid and invalid, to every operation with a token carrying the
operation's scope: no answer may be a 5xx, every status and body must be documented, every
error must have the contract's shape. ``CALLGUARD_FUZZ_EXAMPLES`` raises the number of
examples per operation (``make fuzz``); ``make test`` runs a bounded, derandomized pass.

The hostile cases follow the OWASP API Security Top 10: other callers' objects under the
wrong scope (BOLA/BFLA), mass assignment, oversize and deeply nested bodies, bytes that are
not UTF-8, keys that look like injections, a wrong content type. Each is rejected with the
documented status and error shape, and all of them together store nothing.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from callguard.names import MAX_BODY_BYTES, ROUTES, Route, Scope, full_scope
from infra import openapi
from infra.api_contract import ERROR_CODES, ErrorBody
from infra.openapi import OAUTH_SCHEME
from local.client import fetch_token, http
from local.stack import OPENAPI_PATH
from tests.e2e.conftest import RunningStack
from tests.support import PLANTED, call_body

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEFAULT_EXAMPLES = 25
EXAMPLES = int(os.environ.get("CALLGUARD_FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
#: every fuzz run's Hypothesis settings: reproducible by default, random with CALLGUARD_FUZZ_EXAMPLES (make fuzz)
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="CALLGUARD_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
)
ROLES = ("platform", "agent", "compliance")
#: which role's token carries a scope (contract: platforms write and route, agents read calls,
#: the compliance team manages privacy requests)
ROLE_OF_SCOPE = {
    full_scope(Scope.CALLS_WRITE): "platform",
    full_scope(Scope.ROUTING_DECIDE): "platform",
    full_scope(Scope.CALLS_READ): "agent",
    full_scope(Scope.PRIVACY_MANAGE): "compliance",
}


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return {role: fetch_token(role, stack.state_file) for role in ROLES}


#: objects the generated and the hostile requests aim at: a live call of the planted caller, and a
#: privacy request and a legal hold of a subject that exists nowhere else (an id, not a person), so
#: that verifying or extending the request cannot change what other tests see
TARGET_CALL = f"fuzz-live-{uuid.uuid4().hex[:8]}"
NOBODY = {"customer_id": f"FUZZ-NOBODY-{uuid.uuid4().hex[:6]}"}


@pytest.fixture(scope="module")
def targets(stack: RunningStack, tokens: dict[str, str]) -> dict[str, str]:
    """Path parameters of objects that exist, by parameter name."""
    call = http("POST", f"{stack.api_url}/v1/calls", call_body(call_id=TARGET_CALL, ended_at=None), tokens["platform"])
    assert call.status == 202, call.body
    request_body = {"type": "restriction", "subject": NOBODY}
    request = http("POST", f"{stack.api_url}/v1/privacy/requests", request_body, tokens["compliance"])
    assert request.status == 202, request.body
    hold = http("POST", f"{stack.api_url}/v1/privacy/holds", {"subject": NOBODY, "reason": "fuzz target"},
                tokens["compliance"])  # fmt: skip
    assert hold.status == 201, hold.body
    return {"call_id": TARGET_CALL, "request_id": str(request.body["request_id"]), "hold_id": str(hold.body["hold_id"]),
            "day": datetime.now(UTC).date().isoformat()}  # fmt: skip


def load_schema(api_url: str) -> schemathesis.BaseSchema:
    """The document the running stack serves, with the checks configured for this API."""
    config = schemathesis.Config.from_dict(
        {
            # the test sends real tokens; generated Authorization headers would only be overwritten
            "generation": {"with-security-parameters": False},
            # an invalid request may be rejected with any documented error status (413 included)
            "checks": {"negative_data_rejection": {"expected-statuses": [str(s) for s in sorted(ERROR_CODES)]}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{api_url}{OPENAPI_PATH}", config=config)
    schema.config.update(base_url=api_url)
    return schema


@pytest.fixture(scope="module")
def api_schema(stack: RunningStack) -> schemathesis.BaseSchema:
    return load_schema(stack.api_url)


def test_the_stack_serves_the_generated_document_without_a_token(stack: RunningStack) -> None:
    answer = http("GET", f"{stack.api_url}{OPENAPI_PATH}")
    assert (answer.status, answer.body) == (200, openapi.document())


def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error answer is exactly the contract's error body, with a code its status may carry."""
    if response.status_code < 400:
        return None
    body = ErrorBody.model_validate_json(response.content)
    assert body.error.code in ERROR_CODES.get(response.status_code, ()), (response.status_code, body.error.code)
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    error_shape,
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_operation_answers_as_documented(
    api_schema: schemathesis.BaseSchema, tokens: dict[str, str], targets: dict[str, str], route: Route
) -> None:
    """Valid and invalid requests alike (schemathesis' positive and negative modes), with the token
    the operation's scope needs; operations on one object also get valid requests for an existing
    one. Hypothesis is driven here, one operation per pytest case, because schemathesis' own
    pytest loader (``from_fixture``) does not run under pytest 9."""
    operation = api_schema[route.path][route.method]
    requirements = operation.definition.raw.get("security") or []
    scopes = [s for requirement in requirements for s in requirement.get(OAUTH_SCHEME, [])]
    headers = {"Authorization": f"Bearer {tokens[ROLE_OF_SCOPE[scopes[0]]]}"} if scopes else None
    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
    if "{" in route.path:  # random ids are all unknown (404): aim valid requests at objects that exist too
        names = [p.name for p in operation.path_parameters]
        strategies.append(operation.as_strategy(path_parameters={name: targets[name] for name in names}))
    cases = st.one_of(*strategies)

    @given(case=cases)
    @FUZZ_SETTINGS
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    fuzz()


# -- hand-written hostile requests ---------------------------------------------------------------

NO_HOLD = "hold-" + "0" * 20
#: what an error answer must never contain: the planted personal data and the hostile keys
NEVER_ECHOED = (*(v for k, v in PLANTED.items() if k != "transcript"), "$where", "__proto__", "$ne", "$gt", "prototype")


@dataclass(frozen=True)
class Hostile:
    name: str
    role: str | None
    method: str
    path: str  # {call_id} and {request_id} name objects that exist
    expected: int
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"


def _call(**extra: Any) -> dict[str, Any]:
    return call_body(call_id=f"fuzz-rejected-{uuid.uuid4().hex[:8]}") | extra


_SEGMENTS = {"segments": [{"speaker": "customer", "start_ms": 0, "end_ms": 900, "text": "Hallo?"}]}
_ACCESS = {"type": "access", "subject": {"phone": PLANTED["phone"]}}
_ROUTING = {"caller": {"phone": PLANTED["phone"]}, "channel": "voice"}
_HOLD = {"subject": {"phone": PLANTED["phone"]}, "reason": "pending litigation"}
_OVERSIZE_TEXT = "a" * (MAX_BODY_BYTES + 1024)

HOSTILE = [
    # BOLA/BFLA: objects that exist, asked for under a scope that does not cover them
    Hostile("read call as platform", "platform", "GET", "/v1/calls/{call_id}", 403),
    Hostile("read call as compliance", "compliance", "GET", "/v1/calls/{call_id}", 403),
    Hostile("read call without token", None, "GET", "/v1/calls/{call_id}", 401),
    Hostile("append to call as agent", "agent", "POST", "/v1/calls/{call_id}/segments", 403, _SEGMENTS),
    Hostile("read privacy request as agent", "agent", "GET", "/v1/privacy/requests/{request_id}", 403),
    Hostile("read privacy request as platform", "platform", "GET", "/v1/privacy/requests/{request_id}", 403),
    Hostile("verify as platform", "platform", "POST", "/v1/privacy/requests/{request_id}/verify", 403,
            {"method": "callback", "reference": "ticket-1"}),
    Hostile("approve as agent", "agent", "POST", "/v1/privacy/requests/{request_id}/approve", 403),
    Hostile("erasure as platform", "platform", "POST", "/v1/privacy/requests", 403, _ACCESS | {"type": "erasure"}),
    Hostile("lift hold as agent", "agent", "DELETE", f"/v1/privacy/holds/{NO_HOLD}", 403),
    Hostile("followups as platform", "platform", "GET", "/v1/followups", 403),
    # mass assignment: fields the server owns, sent by the client (every model forbids extras)
    Hostile("call with subject_id", "platform", "POST", "/v1/calls", 422, _call(subject_id="s-" + "0" * 20)),
    Hostile("call with status", "platform", "POST", "/v1/calls", 422, _call(status="accepted", analysis="skipped")),
    Hostile("caller with subject_id", "platform", "POST", "/v1/calls", 422,
            _call(caller={"phone": PLANTED["phone"], "subject_id": "s-1"})),
    Hostile("caller ID claimed as proof", "platform", "POST", "/v1/calls", 422,
            _call(caller={"phone": PLANTED["phone"],
                          "verification": {"identifiers": ["phone"], "method": "caller_id"}})),
    Hostile("verification of an absent identifier", "platform", "POST", "/v1/calls", 422,
            _call(caller={"phone": PLANTED["phone"],
                          "verification": {"identifiers": ["customer_id"], "method": "sso"}})),
    Hostile("segments with ended_at", "platform", "POST", "/v1/calls/{call_id}/segments", 422,
            _SEGMENTS | {"ended_at": "2026-11-27T10:07:30Z"}),
    Hostile("routing with priority", "platform", "POST", "/v1/routing/decisions", 422,
            _ROUTING | {"priority": 1, "handled_by": "ai"}),
    Hostile("privacy request with status", "compliance", "POST", "/v1/privacy/requests", 422,
            _ACCESS | {"status": "completed", "request_id": "pr-" + "0" * 20}),
    Hostile("verify with status", "compliance", "POST", "/v1/privacy/requests/{request_id}/verify", 422,
            {"method": "callback", "reference": "ticket-1", "status": "completed"}),
    # the verifying person comes from the token: a body that names one is refused
    Hostile("verify naming the verifier", "compliance", "POST", "/v1/privacy/requests/{request_id}/verify", 422,
            {"method": "callback", "reference": "ticket-1", "verified_by": "someone-else"}),
    Hostile("verify with a free-text method", "compliance", "POST", "/v1/privacy/requests/{request_id}/verify", 422,
            {"method": "trust me", "reference": "ticket-1"}),
    Hostile("extend with due_at", "compliance", "POST", "/v1/privacy/requests/{request_id}/extend", 422,
            {"months": 1, "reason": "complex case", "due_at": "2099-01-01T00:00:00Z"}),
    Hostile("hold with status", "compliance", "POST", "/v1/privacy/holds", 422, _HOLD | {"status": "lifted"}),
    # size and shape
    Hostile("oversize call", "platform", "POST", "/v1/calls", 413,
            _call(segments=[{"speaker": "customer", "start_ms": 0, "end_ms": 1, "text": _OVERSIZE_TEXT}])),
    Hostile("oversize note", "compliance", "POST", "/v1/privacy/requests", 413, _ACCESS | {"note": _OVERSIZE_TEXT}),
    Hostile("deeply nested field", "platform", "POST", "/v1/calls", 400,
            raw=b'{"call_id":' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
    Hostile("deeply nested objects", "compliance", "POST", "/v1/privacy/requests", 400,
            raw=b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    Hostile("not UTF-8", "platform", "POST", "/v1/calls", 400, raw=b'{"call_id": "\xff\xfe\xfd"}'),
    Hostile("UTF-16 body", "compliance", "POST", "/v1/privacy/holds", 400, raw=json.dumps(_HOLD).encode("utf-16")),
    Hostile("empty body", "platform", "POST", "/v1/routing/decisions", 400, raw=b""),
    # keys that look like injections (NoSQL operators, prototype pollution)
    Hostile("$where key", "platform", "POST", "/v1/calls", 422, _call(**{"$where": "sleep(5000)"})),
    Hostile("__proto__ key", "platform", "POST", "/v1/calls", 422, _call(__proto__={"admin": True})),
    Hostile("operator as identifier", "platform", "POST", "/v1/calls", 422,
            _call(caller={"customer_id": {"$ne": None}})),
    Hostile("injection metadata keys", "platform", "POST", "/v1/calls", 422,
            _call(metadata={"$where": "1", "__proto__": "x"})),
    Hostile("operator as subject", "compliance", "POST", "/v1/privacy/requests", 422,
            {"type": "erasure", "subject": {"phone": {"$gt": ""}}}),
    Hostile("constructor.prototype", "platform", "POST", "/v1/routing/decisions", 422,
            _ROUTING | {"constructor": {"prototype": {"admin": True}}}),
    # content types: API Gateway validates only the application/json model and passes other types
    # through to the function (AWS: "If no matching content type is found, request validation is
    # not performed"), which answers 415; the emulator does the same
    Hostile("text/plain", "platform", "POST", "/v1/calls", 415, _call(), content_type="text/plain"),
    Hostile("form encoded", "compliance", "POST", "/v1/privacy/requests", 415,
            raw=b"type=erasure&subject=x", content_type="application/x-www-form-urlencoded"),
    Hostile("xml", "platform", "POST", "/v1/routing/decisions", 415,
            raw=b"<decision/>", content_type="application/xml"),
    # instants outside what UTC can hold once the offset is applied (these were 500s)
    Hostile("year 1 with offset", "platform", "POST", "/v1/calls", 422, _call(started_at="0001-01-01T00:00:00+14:00")),
    Hostile("received in year 9999", "compliance", "POST", "/v1/privacy/requests", 422,
            _ACCESS | {"received_at": "9999-12-31T23:59:59Z"}),
    Hostile("received in year 1", "compliance", "POST", "/v1/privacy/requests", 422,
            _ACCESS | {"received_at": "0001-01-01T00:00:00+14:00"}),
    Hostile("due before year 10000", "agent", "GET", "/v1/followups?due_before=9999-12-31T23:59:59-14:00", 422),
    Hostile("empty due_before", "agent", "GET", "/v1/followups?due_before=", 422),
    # the same call id with another body
    Hostile("other body, same call_id", "platform", "POST", "/v1/calls", 409,
            call_body(call_id=TARGET_CALL, ended_at=None, channel="chat")),
]  # fmt: skip


def _send(stack: RunningStack, tokens: dict[str, str], targets: dict[str, str], case: Hostile) -> tuple[int, bytes]:
    """The request as sent on the wire (raw bytes, any content type); answers are read raw too."""
    url = stack.api_url + case.path.format(**targets)
    data = case.raw if case.raw is not None else (json.dumps(case.body).encode() if case.body is not None else None)
    request = urllib.request.Request(url, data=data, method=case.method)  # noqa: S310 - the local stack
    request.add_header("Content-Type", case.content_type)
    if case.role:
        request.add_header("Authorization", f"Bearer {tokens[case.role]}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_hostile_request_is_rejected_in_the_contracts_shape(
    stack: RunningStack, tokens: dict[str, str], targets: dict[str, str], case: Hostile
) -> None:
    status, raw = _send(stack, tokens, targets, case)
    assert status == case.expected, raw[:500]
    body = ErrorBody.model_validate_json(raw)
    assert body.error.code in ERROR_CODES[status]
    text = raw.decode()
    assert not [value for value in NEVER_ECHOED if value in text]


def _stored(stack: RunningStack) -> dict[str, int]:
    """Items per table and object versions per bucket."""
    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    counts = {}
    for table in ddb.list_tables()["TableNames"]:
        pages = ddb.get_paginator("scan").paginate(TableName=table, Select="COUNT")
        counts[table] = sum(page["Count"] for page in pages)
    for bucket in s3.list_buckets()["Buckets"]:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket["Name"])
        counts[bucket["Name"]] = sum(len(p.get("Versions", [])) + len(p.get("DeleteMarkers", [])) for p in pages)
    return counts


def _settled(stack: RunningStack, seconds: float = 60) -> dict[str, int]:
    """Storage once background work of earlier tests (queued analyses) has finished: the queues
    are empty and two snapshots a second apart agree."""
    sqs = stack.client("sqs")
    deadline = time.monotonic() + seconds
    previous: dict[str, int] | None = None
    while time.monotonic() < deadline:
        busy = any(
            int(value)
            for url in sqs.list_queues().get("QueueUrls", [])
            if "dlq" not in url.lower()
            for value in sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"].values()
        )
        current = _stored(stack)
        if not busy and current == previous:
            return current
        previous = current
        time.sleep(1)
    pytest.fail("storage did not settle: background work of earlier tests is still running")


def test_rejected_requests_store_nothing(stack: RunningStack, tokens: dict[str, str], targets: dict[str, str]) -> None:
    """Every hostile request again, with storage counted before and after (only rejections between)."""
    before = _settled(stack)
    statuses = {case.name: _send(stack, tokens, targets, case)[0] for case in HOSTILE}
    after = _settled(stack)
    assert statuses == {case.name: case.expected for case in HOSTILE}
    assert after == before, {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}


# -- tenant confusion: one tenant's tokens, the other tenant's ids everywhere ----------------------------

TENANTS = ("default", "acme-energie")
CONFUSION_RUN = uuid.uuid4().hex[:8]
#: words each tenant's calls say (no personal data, so they survive redaction: a leak would show them)
CONFUSION_WORDS = {"default": "Windpark Ostufer", "acme-energie": "Fernwärme Westend"}


#: path parameters that name one tenant's object (a day of the audit log is no tenant's object)
OBJECT_NAMES = {"call_id", "request_id", "hold_id"}


@dataclass
class Tenant:
    """One tenant of the two-tenant stack: its tokens, and the objects seeded for it (by parameter name)."""

    name: str
    tokens: dict[str, str]
    ids: dict[str, str]
    phone: str
    secrets: list[str]


def _seed_tenant(stack: RunningStack, tenant: str) -> Tenant:
    tokens = {role: fetch_token(role, stack.state_file, tenant=tenant) for role in ROLES}
    phone = "+49 175 5550" + str(int(CONFUSION_RUN, 16) % 400 + (100 if tenant == "default" else 500))
    call_id = f"confused-{tenant}-{CONFUSION_RUN}"
    agent = f"agent-{tenant}-{CONFUSION_RUN}"
    body = call_body(call_id=call_id, ended_at=None, caller={"phone": phone}, agent_id=agent,
                     segments=[{"speaker": "customer", "start_ms": 0, "end_ms": 900,
                                "text": f"Frage zu {CONFUSION_WORDS[tenant]}."}])  # fmt: skip
    call = http("POST", f"{stack.api_url}/v1/calls", body, tokens["platform"])
    assert call.status == 202, (tenant, call.status)
    nobody = {"customer_id": f"FUZZ-CONFUSED-{tenant}-{CONFUSION_RUN}"}
    request = http("POST", f"{stack.api_url}/v1/privacy/requests", {"type": "restriction", "subject": nobody},
                   tokens["compliance"])  # fmt: skip
    assert request.status == 202, (tenant, request.status)
    hold = http("POST", f"{stack.api_url}/v1/privacy/holds", {"subject": nobody, "reason": "confusion target"},
                tokens["compliance"])  # fmt: skip
    assert hold.status == 201, (tenant, hold.status)
    ids = {"call_id": call_id, "request_id": str(request.body["request_id"]), "hold_id": str(hold.body["hold_id"]),
           "day": datetime.now(UTC).date().isoformat()}  # fmt: skip
    secrets = [CONFUSION_WORDS[tenant], agent, str(call.body["subject_id"]),
               ids["request_id"], ids["hold_id"]]  # fmt: skip
    return Tenant(tenant, tokens, ids, phone, secrets)


@pytest.fixture(scope="module")
def confused(tenant_stack: RunningStack) -> dict[str, Tenant]:
    seeded = {tenant: _seed_tenant(tenant_stack, tenant) for tenant in TENANTS}
    for tenant in seeded.values():  # the owners' views are compared before and after: let the analysis land first
        deadline = time.monotonic() + 60
        while _owner_view(tenant_stack, tenant)["call"][1].get("analysis", {}).get("status") == "pending":
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
    return seeded


@pytest.fixture(scope="module")
def tenant_schema(tenant_stack: RunningStack) -> schemathesis.BaseSchema:
    return load_schema(tenant_stack.api_url)


def _owner_view(stack: RunningStack, owner: Tenant) -> dict[str, Any]:
    """The owner's objects as the owner reads them (the call, the request, the holds it placed)."""
    api, ids = stack.api_url, owner.ids
    call = http("GET", f"{api}/v1/calls/{ids['call_id']}", token=owner.tokens["agent"])
    request = http("GET", f"{api}/v1/privacy/requests/{ids['request_id']}", token=owner.tokens["compliance"])
    holds = http("GET", f"{api}/v1/privacy/holds", token=owner.tokens["compliance"]).body.get("items", [])
    return {
        "call": (call.status, call.body),
        "request": (request.status, {k: v for k, v in request.body.items() if k != "days_left"}),
        "hold": [h for h in holds if h.get("hold_id") == ids["hold_id"]],
    }


def _with_ids(owner: Tenant) -> Any:
    """A generated body with the owner's ids where the body names a call or a person."""

    def aim(case: schemathesis.Case) -> schemathesis.Case:
        body = case.body
        if isinstance(body, dict):
            if "call_id" in body:
                body["call_id"] = owner.ids["call_id"]
            for field_name in ("caller", "subject"):
                if isinstance(body.get(field_name), dict):
                    body[field_name]["phone"] = owner.phone
        return case

    return aim


@pytest.mark.parametrize("direction", [f"{TENANTS[0]}→{TENANTS[1]}", f"{TENANTS[1]}→{TENANTS[0]}"])
@pytest.mark.parametrize("route", [r for r in ROUTES if r.scope is not None], ids=lambda r: f"{r.method} {r.path}")
def test_tenant_confusion_never_reaches_the_other_tenant(
    tenant_stack: RunningStack, tenant_schema: schemathesis.BaseSchema, confused: dict[str, Tenant],
    route: Route, direction: str,
) -> None:  # fmt: skip
    """The attacker's tokens (with the operation's scope) and the owner's ids in every path parameter and
    body: no answer is a 5xx, none carries anything of the owner, and the owner's objects read back
    exactly as before."""
    attacker_name, owner_name = direction.split("→")
    attacker, owner = confused[attacker_name], confused[owner_name]
    operation = tenant_schema[route.path][route.method]
    requirements = operation.definition.raw.get("security") or []
    scopes = [s for requirement in requirements for s in requirement.get(OAUTH_SCHEME, [])]
    headers = {"Authorization": f"Bearer {attacker.tokens[ROLE_OF_SCOPE[scopes[0]]]}"}
    names = [p.name for p in operation.path_parameters]
    fixed = {name: owner.ids[name] for name in names}
    modes = [operation.as_strategy(generation_mode=mode, **({"path_parameters": fixed} if fixed else {}))
             for mode in GenerationMode]  # fmt: skip
    cases = st.one_of(*modes).map(_with_ids(owner))
    before = _owner_view(tenant_stack, owner)

    def nothing_of_the_owner(ctx: Any, response: Any, case: Any) -> bool | None:
        sent = json.dumps(case.path_parameters or {}) + json.dumps(case.body, default=str, ensure_ascii=False)
        text = response.content.decode("utf-8", "replace")
        leaked = [value[:24] for value in owner.secrets if value in text and value not in sent]
        assert not leaked, f"{response.status_code}: the other tenant's data in the answer"
        if set(names) & OBJECT_NAMES and response.status_code < 400 and not _attackers_own(case):
            raise AssertionError(f"{response.status_code}: the other tenant's object was served (expected 404)")
        return True

    def _attackers_own(case: Any) -> bool:
        """Call ids are per tenant: once the attacker's own POST /v1/calls used the owner's call id, the
        attacker has a call of that id, and serving it is right (what it holds is checked above: nothing
        of the owner's)."""
        call_id = (case.path_parameters or {}).get("call_id")
        own = f"{tenant_stack.api_url}/v1/calls/{call_id}"
        return call_id is not None and http("GET", own, token=attacker.tokens["agent"]).status == 200

    @given(case=cases)
    @FUZZ_SETTINGS
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error, error_shape, nothing_of_the_owner],
                               timeout=30)  # fmt: skip

    fuzz()
    assert _owner_view(tenant_stack, owner) == before  # nothing of the owner changed
