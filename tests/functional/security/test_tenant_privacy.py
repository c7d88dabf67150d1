"""Two tenants' data subjects and privacy requests side by side (moto, the template with the README's tenants),
tried as an attacker would: the same phone number calls both tenants; every right exercised in one tenant
leaves the other tenant's subject, keys, calls, requests and objects exactly as they were; tenant B's
compliance people, holding tenant A's request ids, hold ids and download tickets, get 404 everywhere and
change nothing; request and hold ids may repeat across tenants; a warm container serves A, then B."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.errors import NotFoundError
from callguard.models import HoldIn, PrivacyRequestIn, RequestStatus, VerifyIn
from callguard.names import Env
from callguard.storage.holds import ACTIVE, LegalHold
from callguard.storage.requests import PrivacyRequest
from callguard.storage.scope import TenantScope
from callguard.wiring import build_deadline_check, build_privacy_service, build_privacy_steps, parts
from tests.functional.security.test_tenant_runtime import ACME, METER, tenants_aws  # noqa: F401 (fixture)
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

SCOPE = "callguard/privacy:manage"
DEFAULT = "default"
#: keys of every table's items (the keys table is keyed by the subject id alone)
_KEYS = {Env.KEYS_TABLE: ("subject_id",)}
#: the tables a subject's data and its privacy requests live in (the audit log is the audit slice's)
TABLES = (Env.CALLS_TABLE, Env.SUBJECTS_TABLE, Env.KEYS_TABLE, Env.PRIVACY_TABLE, Env.IDEMPOTENCY_TABLE)
BUCKETS = (Env.TRANSCRIPTS_BUCKET, Env.EXPORTS_BUCKET)

Snapshot = dict[tuple[str, ...], Any]


def _world(aws: dict[str, Any]) -> Snapshot:
    """Every item of the data tables and every object version of the data buckets, by key."""
    ddb, s3 = aws["session"].client("dynamodb"), aws["session"].client("s3")
    found: Snapshot = {}
    for table in TABLES:
        names = _KEYS.get(table, ("id",) if table is Env.IDEMPOTENCY_TABLE else ("pk", "sk"))
        for page in ddb.get_paginator("scan").paginate(TableName=aws["env"][table]):
            for item in page["Items"]:
                found[(table.value, *(next(iter(item[n].values())) for n in names))] = item
    for bucket in BUCKETS:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=aws["env"][bucket]):
            for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                found[(bucket.value, version["Key"], version["VersionId"])] = version.get("ETag", "marker")
    return found


def _changed(before: Snapshot, after: Snapshot) -> set[tuple[str, ...]]:
    """The keys of every item or object version added, removed or changed."""
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _owned_by(tenant: str, calls: set[str], subject_id: str) -> Callable[[tuple[str, ...]], bool]:
    """Whether a key of :func:`_world` is ``tenant``'s: under its prefix, or one of its calls, their
    idempotency records or its subject's transcripts (as the calls slice keys them)."""
    scope = TenantScope(tenant)

    def owned(key: tuple[str, ...]) -> bool:
        where, first = key[0], key[1]
        if where == Env.TRANSCRIPTS_BUCKET.value:
            return f"/{subject_id}/" in first  # its subject's (subject ids differ per tenant)
        if where == Env.EXPORTS_BUCKET.value:
            return scope.owns_object(first)
        if where == Env.CALLS_TABLE.value:
            return first in calls or any(first.endswith(f"#{c}") for c in calls)
        if where == Env.IDEMPOTENCY_TABLE.value:
            return True  # records of the erased subject's calls (judged by the call and subject checks)
        return scope.owns(first)

    return owned


def _ingest(aws: dict[str, Any], tenant: str, call_id: str) -> dict[str, Any]:
    """``POST /v1/calls`` with the planted caller, as ``tenant``'s platform client (its client id)."""
    body = call_body(call_id=call_id)
    body["segments"][1]["text"] = METER
    event = api_event("POST", "/v1/calls", body)
    event["requestContext"]["authorizer"]["claims"]["client_id"] = aws["client_of"][tenant]
    answer = aws["handlers"]["ingest"].lambda_handler(event, FakeContext())
    assert answer["statusCode"] == 202
    accepted: dict[str, Any] = json.loads(answer["body"])
    return accepted


def _person(event: dict[str, Any], tenant: str, user: str) -> dict[str, Any]:
    """A compliance person of ``tenant`` (the tenant claim the token trigger sets from their group)."""
    claims = event["requestContext"]["authorizer"]["claims"]
    claims.update({"username": user, "sub": f"sub-{tenant}-{user}", "tenant": tenant, "client_id": "people"})
    return event


def _api(
    privacy: Any,
    tenant: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    user: str = "desk-1",
) -> tuple[int, Any]:
    event = _person(api_event(method, path, body, scopes=SCOPE), tenant, user)
    event["queryStringParameters"] = query
    answer = privacy.lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


@pytest.fixture
def both(tenants_aws: dict[str, Any]) -> dict[str, Any]:  # noqa: F811 (the fixture imported above)
    """The same caller (phone, e-mail, customer id) on a call of each tenant; the calls' subjects."""
    default, acme = _ingest(tenants_aws, DEFAULT, "cc-d-1"), _ingest(tenants_aws, ACME, "cc-a-1")
    assert default["subject_id"] != acme["subject_id"]
    return {
        "aws": tenants_aws,
        "subject": {DEFAULT: default["subject_id"], ACME: acme["subject_id"]},
        "calls": {DEFAULT: {"cc-d-1"}, ACME: {"cc-a-1"}},
    }


def _file(aws: dict[str, Any], tenant: str, kind: str) -> str:
    """A request of ``kind`` for the planted phone number, filed, verified and approved in ``tenant``."""
    service = build_privacy_service(aws["clients"], tenant=tenant)
    body = PrivacyRequestIn.model_validate({"type": kind, "subject": {"phone": PLANTED["phone"]}})
    request_id: str = service.submit(body, actor="user:filer")["request_id"]
    service.verify(request_id, VerifyIn.model_validate({"method": "callback", "reference": "r-1"}), actor="user:v")
    if kind in {"access", "erasure"}:
        service.approve(request_id, actor="user:second")
    return request_id


def _carry_out(aws: dict[str, Any], tenant: str, kind: str, request_id: str) -> None:
    """The workflow's steps for ``kind``, acting for ``tenant`` (as the step handlers do from their input)."""
    steps = build_privacy_steps(aws["clients"], tenant=tenant)
    assert steps.route_request(request_id)["type"] == kind
    if kind == "erasure":
        assert steps.check_legal_hold(request_id)["held"] is False
        steps.shred_subject_key(request_id)
        steps.delete_subject_data(request_id)
        steps.verify_erasure(request_id)
    elif kind == "access":
        assert steps.collect_subject_data(request_id, 0)["next_page"] is None
        steps.assemble_export(request_id)
    elif kind == "restriction":
        steps.apply_restriction(request_id)
    else:
        steps.record_objection(request_id)
    steps.complete_request(request_id)


def _readable_export(aws: dict[str, Any], tenant: str, subject_id: str) -> dict[str, Any]:
    """The subject's data as its tenant exports it (its key unwraps, its transcript opens)."""
    export: dict[str, Any] = parts(aws["clients"], tenant=tenant).subject_data().export(subject_id)
    return export


@pytest.mark.slow
@pytest.mark.parametrize(("acting", "other"), [(ACME, DEFAULT), (DEFAULT, ACME)])
def test_every_right_exercised_in_one_tenant_leaves_the_other_tenants_subject_untouched(
    both: dict[str, Any], acting: str, other: str
) -> None:
    aws = both["aws"]
    others_export = _readable_export(aws, other, both["subject"][other])
    readable = METER in json.dumps(others_export["calls"], ensure_ascii=False)
    assert readable  # (a bare flag: the test output never shows the transcript)
    owned_by_acting = _owned_by(acting, both["calls"][acting], both["subject"][acting])
    for kind in ("restriction", "objection", "access", "erasure"):
        before = _world(aws)
        request_id = _file(aws, acting, kind)
        _carry_out(aws, acting, kind, request_id)
        changed = _changed(before, _world(aws))
        assert changed, kind  # the right was exercised
        assert {k for k in changed if not owned_by_acting(k)} == set(), kind  # only the acting tenant's items
        # the other tenant's subject: its profile has no flag, its key unwraps, its call and transcript are there
        other_profile = parts(aws["clients"], tenant=other).subjects().profile(both["subject"][other])
        assert (other_profile.objected, other_profile.restricted) == (False, False), kind
        assert _readable_export(aws, other, both["subject"][other]) == others_export, kind
    # the acting tenant's subject is gone, and its request is completed in its own tenant only
    assert parts(aws["clients"], tenant=acting).subject_data().inventory([both["subject"][acting]])["subject_keys"] == 0
    request = build_privacy_service(aws["clients"], tenant=acting).requests.get(request_id)
    assert request is not None
    assert request.status == RequestStatus.COMPLETED
    assert build_privacy_service(aws["clients"], tenant=other).requests.get(request_id) is None


def test_another_tenants_compliance_people_get_404_for_every_id_and_change_nothing(both: dict[str, Any]) -> None:
    """Tenant B's compliance token, holding tenant A's request id, hold id and a valid download ticket of
    A's, on every privacy route: 404 (never 403 or 500), nothing of A's in any answer, nothing of A's changed;
    the same handler (a warm container) serves A right before and after."""
    aws = both["aws"]
    privacy = load_handler("privacy")
    privacy.dependencies(aws["clients"])
    # tenant A (acme-energie) files an access request, has it carried out, and places a hold
    body = {"type": "access", "subject": {"phone": PLANTED["phone"]}, "note": PLANTED["name"]}
    status, filed = _api(privacy, ACME, "POST", "/v1/privacy/requests", body)
    assert status == 202
    request_id = filed["request_id"]
    assert _api(privacy, ACME, "POST", f"/v1/privacy/requests/{request_id}/verify",
                {"method": "callback", "reference": "r-1"}, user="desk-2")[0] == 200  # fmt: skip
    assert _api(privacy, ACME, "POST", f"/v1/privacy/requests/{request_id}/approve", user="desk-3")[0] == 200
    _carry_out(aws, ACME, "access", request_id)
    status, hold = _api(privacy, ACME, "POST", "/v1/privacy/holds",
                        {"subject": {"phone": PLANTED["phone"]}, "reason": "litigation"})  # fmt: skip
    assert status == 201
    hold_id = hold["hold_id"]
    ticket = build_privacy_service(aws["clients"], tenant=ACME).issue_download(request_id, "user:desk-1")
    status, view = _api(privacy, ACME, "GET", f"/v1/privacy/requests/{request_id}")
    assert status == 200
    assert view["status"] == "completed"

    before = _world(aws)
    attempts = [
        ("GET", f"/v1/privacy/requests/{request_id}", None, None),
        ("POST", f"/v1/privacy/requests/{request_id}/verify", {"method": "callback", "reference": "ref-9"}, None),
        ("POST", f"/v1/privacy/requests/{request_id}/approve", None, None),
        ("POST", f"/v1/privacy/requests/{request_id}/extend", {"months": 1, "reason": "more time"}, None),
        ("GET", f"/v1/privacy/requests/{request_id}/download", None, {"ticket": ticket}),
        ("DELETE", f"/v1/privacy/holds/{hold_id}", None, None),
    ]
    for method, path, body, query in attempts:
        status, answer = _api(privacy, DEFAULT, method, path, body, query=query, user="intruder")
        assert status == 404, (method, path, status, answer)
        assert answer["error"]["code"] == "not_found", path
        assert request_id not in json.dumps(answer), path
        assert hold_id not in json.dumps(answer), path
    # the lists of the other tenant's desk hold nothing of A's
    status, listed = _api(privacy, DEFAULT, "GET", "/v1/privacy/requests", query={"limit": "50"}, user="intruder")
    assert status == 200
    assert listed["items"] == []
    status, holds = _api(privacy, DEFAULT, "GET", "/v1/privacy/holds", user="intruder")
    assert status == 200
    assert holds["items"] == []
    assert _changed(before, _world(aws)) == set()  # nothing of A's (nor anyone's) changed
    # the ticket was not spent by the attempt: A's own person still redeems it once (a warm handler, A again)
    status, _ = _api(privacy, ACME, "GET", f"/v1/privacy/requests/{request_id}/download", query={"ticket": ticket})
    assert status == 303
    status, listed = _api(privacy, ACME, "GET", "/v1/privacy/requests", query={"limit": "50"})
    assert [i["request_id"] for i in listed["items"]] == [request_id]
    status, holds = _api(privacy, ACME, "GET", "/v1/privacy/holds")
    assert [h["hold_id"] for h in holds["items"]] == [hold_id]
    # and the reverse: acme-energie's people hold the default tenant's ids
    status, own = _api(privacy, DEFAULT, "POST", "/v1/privacy/requests",
                       {"type": "restriction", "subject": {"phone": PLANTED["phone"]}}, user="desk-d")  # fmt: skip
    assert status == 202
    assert _api(privacy, ACME, "GET", f"/v1/privacy/requests/{own['request_id']}", user="intruder")[0] == 404
    status, listed = _api(privacy, ACME, "GET", "/v1/privacy/requests", query={"limit": "50"})
    assert [i["request_id"] for i in listed["items"]] == [request_id]


def test_a_cursor_of_one_tenants_request_list_is_refused_at_another_tenants_desk(both: dict[str, Any]) -> None:
    aws = both["aws"]
    privacy = load_handler("privacy")
    privacy.dependencies(aws["clients"])
    for n in range(3):
        body = {"type": "restriction", "subject": {"phone": PLANTED["phone"], "email": f"p{n}@example.de"}}
        assert _api(privacy, ACME, "POST", "/v1/privacy/requests", body)[0] == 202
    status, page = _api(privacy, ACME, "GET", "/v1/privacy/requests", query={"limit": "1"})
    assert status == 200
    assert page["next_cursor"]
    query = {"limit": "1", "cursor": page["next_cursor"]}
    assert _api(privacy, ACME, "GET", "/v1/privacy/requests", query=query)[0] == 200
    status, refused = _api(privacy, DEFAULT, "GET", "/v1/privacy/requests", query=query, user="intruder")
    assert status == 400
    assert refused["error"]["code"] == "invalid_cursor"


def test_request_and_hold_ids_may_repeat_across_tenants(both: dict[str, Any]) -> None:
    """The same id in two tenants is two objects: each tenant reads, moves and lifts only its own."""
    aws = both["aws"]
    now = datetime.now(UTC)
    request_id, hold_id = "pr-0123456789abcdef0123", "hold-0123456789abcdef0123"
    for tenant in (DEFAULT, ACME):
        p = parts(aws["clients"], tenant=tenant)
        request = PrivacyRequest(
            request_id=request_id,
            type="restriction" if tenant == DEFAULT else "objection",
            status=RequestStatus.RECEIVED,
            received_at=now.isoformat(),
            due_at=(now + timedelta(days=30)).isoformat(),
            history=((now.isoformat(), RequestStatus.RECEIVED),),
        )
        p.privacy_requests().create(request, now)
        p.legal_holds().place(LegalHold(hold_id=hold_id, status=ACTIVE, created_at=now.isoformat()))
    default, acme = (parts(aws["clients"], tenant=t) for t in (DEFAULT, ACME))
    acme.privacy_requests().transition(request_id, RequestStatus.REJECTED, now)
    acme.legal_holds().lift(hold_id, now, lifted_by="user:l", sealed_reason=None)
    kept, moved = default.privacy_requests().get(request_id), acme.privacy_requests().get(request_id)
    assert kept is not None
    assert moved is not None
    assert (kept.type, kept.status, moved.type, moved.status) == (
        "restriction",
        RequestStatus.RECEIVED,
        "objection",
        RequestStatus.REJECTED,
    )
    default_hold, acme_hold = default.legal_holds().get(hold_id), acme.legal_holds().get(hold_id)
    assert default_hold is not None
    assert acme_hold is not None
    assert (default_hold.hold_id, default_hold.active, acme_hold.active) == (hold_id, True, False)
    assert [h.hold_id for h in default.legal_holds().standing()] == [hold_id]
    assert acme.legal_holds().standing() == []


def test_the_deadline_check_counts_and_lists_each_tenants_requests_in_its_own_tenant(both: dict[str, Any]) -> None:
    aws = both["aws"]
    now = datetime.now(UTC)
    for tenant, overdue in ((DEFAULT, 1), (ACME, 2)):
        requests = parts(aws["clients"], tenant=tenant).privacy_requests()
        for n in range(overdue):
            received = now - timedelta(days=40 + n)
            requests.create(
                PrivacyRequest(
                    request_id=f"pr-{tenant[:4].replace('-', '0')}{n:016d}",
                    type="access",
                    status=RequestStatus.RECEIVED,
                    received_at=received.isoformat(),
                    due_at=(received + timedelta(days=30)).isoformat(),
                ),
                now,
            )
    check = build_deadline_check(aws["clients"])  # the tenants from CALLGUARD_TENANT_SETTINGS
    reports = check.by_tenant(now)
    assert {t: (r.open, r.overdue) for t, r in reports.items()} == {DEFAULT: (1, 1), ACME: (2, 2)}
    assert (check.run(now).open, check.run(now).overdue) == (3, 3)
    # each desk lists only its own tenant's requests
    for tenant, count in ((DEFAULT, 1), (ACME, 2)):
        page = parts(aws["clients"], tenant=tenant).privacy_requests().list_by_deadline(limit=10)
        assert len(page.items) == count, tenant
        assert {i.request_id[3:7] for i in page.items} == {tenant[:4].replace("-", "0")}, tenant


def test_a_warm_step_container_acts_for_each_invocations_tenant_only(both: dict[str, Any]) -> None:
    """One step handler (a warm Lambda container) runs A's step, then B's, then an input that pairs A's
    request id with B's tenant (a forged or misrouted execution): that finds nothing and writes nothing."""
    from callguard.privacy.step_runner import step_handler

    aws = both["aws"]
    acme_request, default_request = _file(aws, ACME, "restriction"), _file(aws, DEFAULT, "objection")
    route = step_handler("route_request")
    route.deps(aws["clients"])
    assert route({"request_id": acme_request, "tenant": ACME}, FakeContext())["type"] == "restriction"
    assert route({"request_id": default_request}, FakeContext())["type"] == "objection"
    before = _world(aws)
    restrict = step_handler("apply_restriction")
    restrict.deps(aws["clients"])
    with pytest.raises(NotFoundError):
        restrict({"request_id": acme_request, "tenant": DEFAULT}, FakeContext())
    with pytest.raises(NotFoundError):
        restrict({"request_id": default_request, "tenant": ACME}, FakeContext())
    assert _changed(before, _world(aws)) == set()


def test_the_scheduled_deadline_check_reports_every_tenant_within_its_role(
    both: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The handler as scheduled (no token, no tenant in the event): it learns the tenants from its environment,
    counts each tenant's requests under a tenant dimension and the deployment's under v1's metrics; every AWS
    call is judged against the deadline check's role in the template with tenants (the permission proof)."""
    aws = both["aws"]
    now = datetime.now(UTC)
    for tenant, days in ((DEFAULT, 45), (ACME, 3)):  # the default tenant's is overdue, acme-energie's due soon
        received = now - timedelta(days=30 - days) if days < 30 else now - timedelta(days=days)
        parts(aws["clients"], tenant=tenant).privacy_requests().create(
            PrivacyRequest(
                request_id="pr-00000000000000000001",  # the same id in both tenants
                type="erasure",
                status=RequestStatus.IN_PROGRESS,
                received_at=received.isoformat(),
                due_at=(received + timedelta(days=30)).isoformat(),
            ),
            now,
        )
    module = load_handler("deadline_check")
    module.check(aws["clients"])
    scans: list[str] = []
    aws["clients"].dynamodb.meta.events.register("before-call.dynamodb.Scan", lambda **_: scans.append("scan"))
    capsys.readouterr()
    assert module.lambda_handler({}, FakeContext()) == {"open": 2, "due_soon": 1, "overdue": 1}
    assert scans == ["scan"]  # one scan of the privacy table for every tenant of the deployment
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    per_tenant = {
        (m.get("tenant"), name): m[name][0] if isinstance(m[name], list) else m[name]
        for m in emitted
        for name in ("PrivacyRequestsOverdue", "PrivacyRequestsDueSoon")
        if name in m
    }
    assert per_tenant == {
        (None, "PrivacyRequestsOverdue"): 1.0,  # the deployment's, as in v1 (the alarms watch these)
        (None, "PrivacyRequestsDueSoon"): 1.0,
        (DEFAULT, "PrivacyRequestsOverdue"): 1.0,
        (DEFAULT, "PrivacyRequestsDueSoon"): 0.0,
        (ACME, "PrivacyRequestsOverdue"): 0.0,
        (ACME, "PrivacyRequestsDueSoon"): 1.0,
    }


def test_every_key_and_index_key_a_listed_tenants_privacy_work_writes_is_under_its_prefix(
    both: dict[str, Any],
) -> None:
    """An access export, an erasure, a hold and a download ticket of acme-energie: each item they leave in the
    subjects, keys and privacy tables, and each index key on it, begins with the tenant's prefix; the objects
    begin with ``tenants/acme-energie/``; no item of the default tenant's keys names acme-energie's subject."""
    aws = both["aws"]
    acme = TenantScope(ACME)
    before = _world(aws)
    service = build_privacy_service(aws["clients"], tenant=ACME)
    export = _file(aws, ACME, "access")
    _carry_out(aws, ACME, "access", export)
    service.issue_download(export, "user:desk-1")
    service.add_hold(HoldIn.model_validate({"subject": {"email": "else@example.de"}, "reason": "audit"}))
    _carry_out(aws, ACME, "erasure", _file(aws, ACME, "erasure"))
    after = _world(aws)
    added = {k: after[k] for k in after.keys() - before.keys()}
    assert added
    for key, item in added.items():
        where = key[0]
        if where in {Env.EXPORTS_BUCKET.value, Env.TRANSCRIPTS_BUCKET.value}:
            assert acme.owns_object(key[1]), key
        elif where in {Env.SUBJECTS_TABLE.value, Env.KEYS_TABLE.value, Env.PRIVACY_TABLE.value}:
            assert acme.owns(key[1]), key
            for index_key in ("expiry_key", "request_list"):
                if index_key in item:
                    assert acme.owns(item[index_key]["S"]), (key, index_key)
    subject = both["subject"][ACME]
    tables = {Env.SUBJECTS_TABLE.value, Env.KEYS_TABLE.value, Env.PRIVACY_TABLE.value}
    v1_items = [k for k in after if k[0] in tables and not acme.owns(k[1]) and subject in str(after[k])]
    assert v1_items == []
