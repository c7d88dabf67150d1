"""Cross-tenant proof (#18): every route, by (own tenant, other tenant, no tenant), by role, on `make local`'s
two-tenant stack (``default`` and ``acme-energie``).

The attacker holds a valid token of one tenant and the other tenant's ids: call ids, request ids (with
a live download ticket), hold ids, its callers' phone numbers. Each tenant has objects of its own
(*victims*) and both tenants have a call with the same call id and the same phone number. For every
route (from :data:`callguard.names.ROUTES`, which the OpenAPI document is generated from) and both
directions:

* **other tenant** — an object route answers 404 (never 403, never 5xx: existence does not leak) with
  the contract's error body and nothing of the object; a route without an object (ingest, routing,
  filing a request or a hold, the lists) works on the caller's own tenant only and returns nothing of
  the other's (its subject, its history, its requests, holds and follow-ups);
* **no tenant** — a correctly signed person's token that names no tenant of the stack, or none at all,
  with the role's scopes: 403 ``unknown_tenant``, nothing returned;
* **own tenant** — the owner is admitted and sees its own object;
* **roles** — a role without the route's scope is 403 in every tenant context, as
  tests/e2e/test_authz_matrix.py pins for v1;

and after the other-tenant and no-tenant requests the victim's objects, read back by their owner, are
exactly what they were before. Every cell that fails is listed in the failure message, by route,
context, role and direction.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from callguard.names import ROUTES, Route, Scope, full_scope
from infra import openapi
from local.client import Answer, fetch_invalid_token, fetch_token, http, wait_for_request
from tests.e2e import flows
from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TENANTS = ("default", "acme-energie")
ROLES = ("platform", "agent", "compliance")
#: the scopes each role's token carries (as tests/e2e/test_authz_matrix.py pins them)
ROLE_SCOPES = {
    "platform": {Scope.CALLS_WRITE.value, Scope.ROUTING_DECIDE.value},
    "agent": {Scope.CALLS_READ.value},
    "compliance": {Scope.PRIVACY_MANAGE.value},
}
#: tokens of no tenant of the stack: a person naming an unknown tenant, a person naming none
NO_TENANT_KINDS = ("unknown_tenant", "no_tenant")
PROTECTED = [r for r in ROUTES if r.scope is not None]
RUN = uuid.uuid4().hex[:8]
#: the same call id and the same phone number in both tenants
SHARED_CALL = f"tm-shared-{RUN}"
SHARED_PHONE = "+49 160 5550" + str(int(RUN, 16) % 900 + 100)
#: words each tenant's calls say (no personal data: they survive redaction, so a leak would show them)
WORDS = {"default": "Solarmodul Nordstadt", "acme-energie": "Wärmepumpe Südhafen"}
#: each tenant's own caller (a phone the other tenant never saw): the victim's history for routing
OWN_PHONE = {"default": "+49 171 5550" + str(int(RUN, 16) % 800 + 100), "acme-energie": "+49 172 5550123"}
ANGRY = "Die Rechnung ist schon wieder falsch, das ärgert mich sehr! Ich will kündigen."


def other(tenant: str) -> str:
    return TENANTS[1 - TENANTS.index(tenant)]


def _now(offset: int = 0) -> str:
    return datetime.fromtimestamp(time.time() - offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _call(tenant: str, call_id: str, *, phone: str = SHARED_PHONE, live: bool = False, analysed: bool = False,
          text: str | None = None) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "call_id": call_id,
        "started_at": _now(900),
        "channel": "voice",
        "language": "de",
        "caller": {"phone": phone},
        "agent_id": f"agent-{tenant}-{RUN}",
        "consent": {"recording": True, "ai_analysis": analysed, "ai_disclosure_given": True},
        "segments": [
            {
                "speaker": "customer",
                "start_ms": 0,
                "end_ms": 4000,
                "text": text or f"Eine Frage zu {WORDS[tenant]}, bitte.",
            }
        ],
    }
    if not live:
        body["ended_at"] = _now(600)
    return body


class Tokens(dict[str, str]):
    """A tenant's tokens by role, fetched again after 10 minutes (they are valid for 15, like Cognito's;
    the matrix runs longer than that on a loaded machine)."""

    def __init__(self, fetch: Callable[[str], str], roles: tuple[str, ...]) -> None:
        super().__init__()
        self._fetch, self._roles, self._at = fetch, roles, 0.0

    def __getitem__(self, role: str) -> str:
        if time.monotonic() - self._at > 600:
            self.update({r: self._fetch(r) for r in self._roles})
            self._at = time.monotonic()
        return super().__getitem__(role)


def tenant_tokens(stack: RunningStack, tenant: str) -> Tokens:
    def fetch(role: str) -> str:
        if role == "approver":
            return fetch_token("compliance", stack.state_file, user="approver-2", tenant=tenant)
        return fetch_token(role, stack.state_file, tenant=tenant)

    return Tokens(fetch, (*ROLES, "approver"))


@dataclass
class Victim:
    """One tenant's objects, and what its owner reads of them."""

    tenant: str
    tokens: Tokens
    calls: dict[str, str] = field(default_factory=dict)  # role of the call → call id
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # call id → body ingested
    subjects: set[str] = field(default_factory=set)
    requests: dict[str, str] = field(default_factory=dict)  # pending | completed → request id
    download_url: str = ""
    pending_due: str = ""
    hold_id: str = ""  # lifted by its owner in the matrix (DELETE)
    standing_hold: str = ""  # never lifted: the lists show it
    followup_ids: set[str] = field(default_factory=set)
    shared_status: int = 0  # what ingesting the call of the shared id answered

    def secrets(self, sent: str) -> list[str]:
        """What of this tenant must never reach another tenant's answer (less what the request itself
        sent: an id the attacker typed may be echoed without leaking anything)."""
        values = [WORDS[self.tenant], f"agent-{self.tenant}-{RUN}", *self.subjects, *self.followup_ids,
                  *self.requests.values(), self.hold_id, self.standing_hold]  # fmt: skip
        values += [c for c in self.calls.values() if c != SHARED_CALL]
        return [v for v in values if v and v not in sent]


def _post(stack: RunningStack, path: str, body: Any, token: str) -> Answer:
    return http("POST", f"{stack.api_url}{path}", body, token)


def _seed(stack: RunningStack, tenant: str) -> Victim:
    tokens = tenant_tokens(stack, tenant)
    victim = Victim(tenant, tokens)
    calls = {
        "shared": _call(tenant, SHARED_CALL),
        "only": _call(tenant, f"tm-only-{tenant}-{RUN}"),
        "live": _call(tenant, f"tm-live-{tenant}-{RUN}", live=True),
        "replayed": _call(tenant, f"tm-replayed-{tenant}-{RUN}"),  # the other tenant posts this very body
        "followup": _call(
            tenant,
            f"tm-followup-{tenant}-{RUN}",
            phone=OWN_PHONE[tenant],
            analysed=True,
            text=f"{ANGRY} {WORDS[tenant]}",
        ),
    }
    for role, body in calls.items():
        answer = _post(stack, "/v1/calls", body, tokens["platform"])
        if role == "shared":  # the second tenant's call of the same id: its own test says what went wrong
            victim.shared_status = answer.status
            if answer.status != 202:
                continue
        assert answer.status == 202, (tenant, role, answer.status)
        victim.calls[role] = body["call_id"]
        victim.bodies[body["call_id"]] = body
        victim.subjects.add(str(answer.body["subject_id"]))
    nobody = {"customer_id": f"TM-NOBODY-{tenant}-{RUN}"}
    pending = _post(stack, "/v1/privacy/requests", {"type": "restriction", "subject": nobody}, tokens["compliance"])
    assert pending.status == 202, (tenant, pending.status)
    victim.requests["pending"] = str(pending.body["request_id"])
    # one second later than the deadline: the list's filter that shows this request first
    victim.pending_due = (datetime.fromisoformat(str(pending.body["due_at"])) + timedelta(seconds=1)).isoformat()
    wait_for_request(stack.api_url, tokens["compliance"], victim.requests["pending"], {"awaiting_verification"})
    hold = _post(stack, "/v1/privacy/holds", {"subject": nobody, "reason": "matrix"}, tokens["compliance"])
    assert hold.status == 201, (tenant, hold.status)
    victim.hold_id = str(hold.body["hold_id"])
    standing = _post(stack, "/v1/privacy/holds", {"subject": nobody, "reason": "matrix"}, tokens["compliance"])
    assert standing.status == 201, (tenant, standing.status)
    victim.standing_hold = str(standing.body["hold_id"])
    done = flows.run(stack, tokens, "access", {"phone": OWN_PHONE[tenant]})
    assert done["status"] == "completed", (tenant, done["status"])
    victim.requests["completed"] = str(done["request_id"])
    victim.download_url = str(done["result"]["download_url"])
    return victim


def _await_followups(stack: RunningStack, victims: dict[str, Victim]) -> None:
    """The angry, analysed call of each tenant opens a follow-up (once its analysis is done)."""
    deadline = time.monotonic() + 90
    for tenant, victim in victims.items():
        while True:
            answer = http("GET", f"{stack.api_url}/v1/followups?due_before=2099-01-01T00:00:00Z",
                          token=victim.tokens["agent"])  # fmt: skip
            mine = [i for i in answer.body.get("items", []) if i.get("call_id") == victim.calls["followup"]]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert mine, f"{tenant}: the analysed angry call opened no follow-up (the followups cells would prove nothing)"
        victim.followup_ids = {str(i["followup_id"]) for i in mine}


@pytest.fixture(scope="module")
def victims(tenant_stack: RunningStack) -> dict[str, Victim]:
    seeded = {tenant: _seed(tenant_stack, tenant) for tenant in TENANTS}
    _await_followups(tenant_stack, seeded)
    for tenant, victim in seeded.items():  # the owner sees its own words: a leak of them would show
        view = http("GET", f"{tenant_stack.api_url}/v1/calls/{victim.calls['only']}", token=victim.tokens["agent"])
        assert view.status == 200, (tenant, view.status)
        assert WORDS[tenant] in json.dumps(view.body, ensure_ascii=False)
    return seeded


@pytest.fixture(scope="module")
def no_tenant_tokens(tenant_stack: RunningStack) -> Tokens:
    """``<kind> <role>`` → a correctly signed token with the role's scopes and no tenant of the stack."""

    def fetch(name: str) -> str:
        kind, role = name.split()
        scopes = " ".join(full_scope(Scope(s)) for s in sorted(ROLE_SCOPES[role]))
        return fetch_invalid_token(kind, tenant_stack.state_file, scope=scopes)

    return Tokens(fetch, tuple(f"{kind} {role}" for kind in NO_TENANT_KINDS for role in ROLES))


# -- what the owner reads of its objects (before and after the others' requests) -------------------------

_VOLATILE = {"days_left"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def owner_snapshot(stack: RunningStack, victim: Victim) -> dict[str, Any]:
    """Every object of the victim, read by its owner: calls (agent view), requests, holds, follow-ups."""
    agent, compliance = victim.tokens["agent"], victim.tokens["compliance"]
    api = stack.api_url
    seen: dict[str, Any] = {}
    for role, call_id in victim.calls.items():
        answer = http("GET", f"{api}/v1/calls/{call_id}", token=agent)
        seen[f"call {role}"] = (answer.status, answer.body if answer.status == 200 else None)
    for kind, request_id in victim.requests.items():
        answer = http("GET", f"{api}/v1/privacy/requests/{request_id}", token=compliance)
        result = answer.body.get("result")
        if isinstance(result, dict) and result.get("download_url"):
            # every read of a completed export issues a new single-use ticket, valid five minutes: the
            # freshest one is what the matrix aims at (and the only part of the answer that changes)
            victim.download_url = str(result.pop("download_url"))
        seen[f"request {kind}"] = (answer.status, answer.body)
    holds = http("GET", f"{api}/v1/privacy/holds", token=compliance).body.get("items", [])
    seen["holds"] = sorted((h for h in holds if h.get("hold_id") in {victim.hold_id, victim.standing_hold}),
                           key=lambda h: str(h.get("hold_id")))  # fmt: skip
    followups = http("GET", f"{api}/v1/followups?due_before=2099-01-01T00:00:00Z", token=agent).body.get("items", [])
    seen["followups"] = sorted((f for f in followups if f.get("followup_id") in victim.followup_ids),
                               key=lambda f: str(f.get("followup_id")))  # fmt: skip
    return dict(_stable(seen))


#: where a privacy request's workflow waits (or ends): nothing changes it until someone acts
RESTING = {"awaiting_verification", "awaiting_approval", "completed", "rejected", "failed"}


def let_workflows_rest(stack: RunningStack, victims: dict[str, Victim]) -> None:
    """The owner's own verify starts the pending request's workflow: wait until it waits again."""
    for victim in victims.values():
        state = wait_for_request(stack.api_url, victim.tokens["compliance"], victim.requests["pending"], RESTING)
        assert state.get("status") in RESTING, (victim.tenant, state.get("status"))


# -- the requests of each route: whose object, whose ids -------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One request: method, path (with query), body."""

    method: str
    path: str
    body: Any = None

    def send(self, stack: RunningStack, token: str) -> Answer:
        """The request as sent; a redirect (the download link's 303) is the answer, never followed."""
        data = json.dumps(self.body).encode() if self.body is not None else None
        request = urllib.request.Request(f"{stack.api_url}{self.path}", data=data, method=self.method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {token}")
        try:
            with _NO_REDIRECT.open(request, timeout=30) as response:
                return Answer(response.status, json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as error:
            raw = error.read()
            return Answer(error.code, json.loads(raw) if raw.strip().startswith(b"{") else {"raw": raw.decode()})


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECT = urllib.request.build_opener(_KeepRedirects)


def _download_path(victim: Victim) -> str:
    parts = urlsplit(victim.download_url)
    return f"{parts.path}?{parts.query}"


_SEGMENT = {"segments": [{"speaker": "customer", "start_ms": 5000, "end_ms": 6000, "text": "Sind Sie noch da?"}]}
_VERIFY = {"method": "callback", "reference": "ticket-matrix"}
_EXTEND = {"months": 1, "reason": "matrix: many linked subjects"}
DAY = datetime.now(UTC).date().isoformat()

#: route → the request that aims at ``victim``'s objects (or, without an object, carries its ids)
REQUESTS: dict[tuple[str, str], Callable[[Victim], Ask]] = {
    ("POST", "/v1/calls"): lambda v: Ask("POST", "/v1/calls", v.bodies[v.calls["replayed"]]),
    ("POST", "/v1/calls/{call_id}/segments"): lambda v: Ask("POST", f"/v1/calls/{v.calls['live']}/segments",
                                                            _SEGMENT),
    ("GET", "/v1/calls/{call_id}"): lambda v: Ask("GET", f"/v1/calls/{v.calls['only']}"),
    ("GET", "/v1/followups"): lambda _: Ask("GET", "/v1/followups?due_before=2099-01-01T00:00:00Z"),
    ("POST", "/v1/routing/decisions"): lambda v: Ask("POST", "/v1/routing/decisions", {
        "call_id": v.calls["followup"], "caller": {"phone": OWN_PHONE[v.tenant]}, "channel": "voice",
        "utterance": ANGRY}),
    ("POST", "/v1/privacy/requests"): lambda v: Ask("POST", "/v1/privacy/requests",
                                                    {"type": "access", "subject": {"phone": OWN_PHONE[v.tenant]}}),
    ("GET", "/v1/privacy/requests/{request_id}"): lambda v: Ask("GET",
                                                                f"/v1/privacy/requests/{v.requests['pending']}"),
    ("GET", "/v1/privacy/requests/{request_id}/download"): lambda v: Ask("GET", _download_path(v)),
    ("POST", "/v1/privacy/requests/{request_id}/verify"): lambda v: Ask(
        "POST", f"/v1/privacy/requests/{v.requests['pending']}/verify", _VERIFY),
    ("POST", "/v1/privacy/requests/{request_id}/extend"): lambda v: Ask(
        "POST", f"/v1/privacy/requests/{v.requests['pending']}/extend", _EXTEND),
    ("POST", "/v1/privacy/requests/{request_id}/approve"): lambda v: Ask(
        "POST", f"/v1/privacy/requests/{v.requests['completed']}/approve"),
    ("POST", "/v1/privacy/holds"): lambda v: Ask("POST", "/v1/privacy/holds",
                                                 {"subject": {"phone": OWN_PHONE[v.tenant]}, "reason": "matrix"}),
    ("DELETE", "/v1/privacy/holds/{hold_id}"): lambda v: Ask("DELETE", f"/v1/privacy/holds/{v.hold_id}"),
    ("GET", "/v1/privacy/requests"): lambda v: Ask("GET", f"/v1/privacy/requests?type=restriction&limit=100&"
                                                          f"due_before={quote(v.pending_due)}"),
    ("GET", "/v1/privacy/holds"): lambda _: Ask("GET", "/v1/privacy/holds"),
    ("GET", "/v1/audit/days/{day}"): lambda _: Ask("GET", f"/v1/audit/days/{DAY}"),
}  # fmt: skip


#: path parameters that name one tenant's object (a day of the audit log is no tenant's object)
OBJECT_PARAMETERS = ("call_id", "request_id", "hold_id")


def is_object_route(route: Route) -> bool:
    return any(f"{{{name}}}" in route.path for name in OBJECT_PARAMETERS)


def _key(route: Route) -> tuple[str, str]:
    return route.method, route.path


def test_the_matrix_covers_every_route_of_the_code_and_the_document() -> None:
    """The routes come from the code; the document the stack serves is generated from the same list.
    A new route fails here until the matrix says how to aim at another tenant's object through it."""
    documented = {(m.upper(), p) for p, item in openapi.document()["paths"].items() for m in item}
    assert {_key(r) for r in ROUTES} == documented
    assert set(REQUESTS) == {_key(r) for r in PROTECTED}


# -- the cells -------------------------------------------------------------------------------------------


def _leaks(answer: Answer, victim: Victim, ask: Ask) -> list[str]:
    sent = ask.path + json.dumps(ask.body, ensure_ascii=False)
    text = json.dumps(answer.body, ensure_ascii=False)
    return [value[:24] for value in victim.secrets(sent) if value in text]


def _is_error(answer: Answer, status: int, code: str | None = None) -> str | None:
    """None when ``answer`` is exactly the contract's error body with ``status`` (and ``code``)."""
    if answer.status != status:
        return f"{answer.status} (expected {status})"
    if set(answer.body) != {"error", "request_id"}:
        return f"{status} but the body has {sorted(answer.body)}"
    if code is not None and answer.body["error"].get("code") != code:
        return f"{status} {answer.body['error'].get('code')} (expected {code})"
    return None


def _other_tenant_cell(route: Route, answer: Answer, attacker: Victim, victim: Victim, ask: Ask,
                       stack: RunningStack) -> str | None:  # fmt: skip
    """What another tenant's admitted role gets: 404 on an object route; its own tenant's data only on
    a route without an object."""
    key = _key(route)
    if is_object_route(route):
        return _is_error(answer, 404, "not_found")
    if answer.status >= 500 or answer.status in {401, 403, 404}:
        return f"{answer.status} on a route without an object"
    if key == ("POST", "/v1/calls"):
        # the same call id and the same body in the other tenant: a call of its own (never the victim's
        # stored answer, never a conflict with it)
        if answer.status != 202:
            return f"{answer.status} (expected 202: call ids are per tenant)"
        if answer.body.get("subject_id") in victim.subjects:
            return "the victim's subject id"
    if key == ("POST", "/v1/routing/decisions"):
        baseline = Ask("POST", "/v1/routing/decisions", {**ask.body, "call_id": f"tm-nowhere-{RUN}",
                                                          "caller": {"phone": "+49 160 5559999"}})  # fmt: skip
        fresh = baseline.send(stack, attacker.tokens["platform"])
        if (answer.status, _decision(answer)) != (fresh.status, _decision(fresh)):
            return f"decided with the victim's history: {_decision(answer)} vs a stranger's {_decision(fresh)}"
    return None


def _decision(answer: Answer) -> tuple[Any, ...]:
    body = answer.body
    return body.get("queue"), body.get("priority"), body.get("handled_by"), json.dumps(body.get("reasons"))


def _own_cell(route: Route, answer: Answer, owner: Victim) -> str | None:
    """The owner's admitted role is served (a state change a request already went through may be a 409)."""
    if answer.status in {401, 403, 404} or answer.status >= 500:
        return f"{answer.status} for the owner"
    key = _key(route)
    if key == ("GET", "/v1/calls/{call_id}") and WORDS[owner.tenant] not in json.dumps(answer.body, ensure_ascii=False):
        return "the owner's call without its words"
    listed = {
        ("GET", "/v1/followups"): owner.followup_ids,
        ("GET", "/v1/privacy/requests"): {owner.requests["pending"]},
        ("GET", "/v1/privacy/holds"): {owner.standing_hold},
    }.get(key)
    if listed and not listed <= set(json.dumps(answer.body).split('"')):
        return "the owner's list without its own objects"
    return None


def _failure(cell: str, problem: str | None, leaked: list[str]) -> list[str]:
    if not problem and not leaked:
        return []
    return [f"{cell}: {problem or ''}{' leaked ' + str(leaked) if leaked else ''}"]


def _foreign_cells(stack: RunningStack, victims: dict[str, Victim], no_tenant: Tokens, route: Route,
                   asks: dict[str, Ask]) -> list[str]:  # fmt: skip
    """Another tenant's roles and tokens of no tenant, aimed at each victim's objects."""
    assert route.scope is not None
    failures: list[str] = []
    for tenant, victim in victims.items():
        attacker, ask = victims[other(tenant)], asks[tenant]
        for role in ROLES:
            admitted = route.scope.value in ROLE_SCOPES[role]
            answer = ask.send(stack, attacker.tokens[role])
            problem = (_other_tenant_cell(route, answer, attacker, victim, ask, stack) if admitted
                       else _is_error(answer, 403))  # fmt: skip
            failures += _failure(f"other tenant ({attacker.tenant} → {tenant}) {role}", problem,
                                 _leaks(answer, victim, ask))  # fmt: skip
            for kind in NO_TENANT_KINDS:
                answer = ask.send(stack, no_tenant[f"{kind} {role}"])
                problem = _is_error(answer, 403, "unknown_tenant" if admitted else None)
                failures += _failure(f"{kind} → {tenant} {role}", problem, _leaks(answer, victim, ask))
    return failures


def _own_cells(stack: RunningStack, victims: dict[str, Victim], route: Route, asks: dict[str, Ask]) -> list[str]:
    """The owner, with each role, with the very request the others sent (the same download ticket)."""
    assert route.scope is not None
    failures: list[str] = []
    for tenant, owner in victims.items():
        ask = asks[tenant]
        for role in ROLES:
            answer = ask.send(stack, owner.tokens[role])
            admitted = route.scope.value in ROLE_SCOPES[role]
            problem = _own_cell(route, answer, owner) if admitted else _is_error(answer, 403)
            failures += _failure(f"own tenant ({tenant}) {role}", problem, [])
    return failures


def _cells(stack: RunningStack, victims: dict[str, Victim], no_tenant: Tokens,
           route: Route) -> list[str]:  # fmt: skip
    before = {tenant: owner_snapshot(stack, victim) for tenant, victim in victims.items()}
    asks = {tenant: REQUESTS[_key(route)](victim) for tenant, victim in victims.items()}
    failures = _foreign_cells(stack, victims, no_tenant, route, asks)
    after = {tenant: owner_snapshot(stack, victim) for tenant, victim in victims.items()}
    for tenant in TENANTS:
        changed = sorted(k for k in before[tenant] if before[tenant][k] != after[tenant].get(k))
        if changed:
            failures.append(f"{tenant}'s objects changed by the others' requests: {changed}")
    failures += _own_cells(stack, victims, route, asks)
    let_workflows_rest(stack, victims)
    return failures


@pytest.mark.parametrize("route", PROTECTED, ids=lambda r: f"{r.method} {r.path}")
def test_route_by_tenant_by_role(
    tenant_stack: RunningStack, victims: dict[str, Victim], no_tenant_tokens: Tokens,
    route: Route,
) -> None:  # fmt: skip
    failures = _cells(tenant_stack, victims, no_tenant_tokens, route)
    assert not failures, f"{route.method} {route.path}: {len(failures)} cell(s) failed:\n" + "\n".join(failures)


def test_the_same_call_id_and_phone_in_both_tenants_are_two_calls_of_two_subjects(
    tenant_stack: RunningStack, victims: dict[str, Victim]
) -> None:
    """Each tenant reads its own call under the shared id: its own words, never the other's."""
    api = tenant_stack.api_url
    assert {t: v.shared_status for t, v in victims.items()} == dict.fromkeys(TENANTS, 202)  # call ids are per tenant
    for tenant, victim in victims.items():
        view = http("GET", f"{api}/v1/calls/{SHARED_CALL}", token=victim.tokens["agent"])
        assert view.status == 200, (tenant, view.status)
        shown = json.dumps(view.body, ensure_ascii=False)
        assert WORDS[tenant] in shown
        assert WORDS[other(tenant)] not in shown
        assert f"agent-{other(tenant)}-{RUN}" not in shown
    assert not victims["default"].subjects & victims["acme-energie"].subjects  # the same phone: two subjects


def test_the_public_routes_need_no_tenant(tenant_stack: RunningStack) -> None:
    for route in (r for r in ROUTES if r.scope is None):
        assert http(route.method, f"{tenant_stack.api_url}{route.path}").status == 200


def test_a_token_without_tenant_answers_on_the_two_tenant_stack_as_on_v1s(
    tenant_stack: RunningStack, stack: RunningStack
) -> None:
    """`make -s token ROLE=…` without TENANT is the default tenant's: every route answers it on `make local`'s
    two-tenant stack exactly as the single-tenant (v1) stack answers its token (tests/e2e/test_authz_matrix.py's
    requests: empty bodies, ids that exist nowhere)."""
    seen: dict[str, dict[str, int]] = {}
    for name, running in (("two tenants", tenant_stack), ("v1", stack)):
        tokens = {role: fetch_token(role, running.state_file) for role in ROLES}
        seen[name] = {
            f"{r.method} {r.path} {role}": flows.call_route(running, r, tokens[role]) for r in ROUTES for role in ROLES
        }
    assert seen["two tenants"] == seen["v1"]
