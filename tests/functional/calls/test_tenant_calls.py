"""Tenant isolation of the calls aggregate, tried by an attacker (#18 item 3), through the real handlers on the
template with the README's tenants (moto, every AWS call judged by the permission proof).

Tenant B's token with tenant A's call ids on every calls, routing and agent route; the same call id and the
same phone number in both tenants (two subjects, two calls); a warm container serving A, then B. Another
tenant's call answers 404 (never 403 or 500), nothing of it is returned, and A's items, transcript object
versions and subject keys are byte for byte what they were.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from callguard.names import Env
from callguard.storage.scope import TenantScope
from tests.functional.analysis.test_analyze import GERMAN_SEGMENTS
from tests.functional.security import test_tenant_runtime as runtime
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

ACME = runtime.ACME
DEFAULT = "default"
#: the two-tenant moto account of the tenant runtime tests (one fixture, one moto setup)
tenants_aws = runtime.tenants_aws
#: what acme-energie's caller says (so each tenant's call is told apart by its content)
METER = runtime.METER
BOTH = pytest.mark.parametrize(("owner", "attacker"), [(ACME, DEFAULT), (DEFAULT, ACME)])


@pytest.fixture
def aws(tenants_aws: dict[str, Any]) -> dict[str, Any]:
    for name in ("agent_view",):
        handler = load_handler(name)
        handler.service(tenants_aws["clients"])
        tenants_aws["handlers"][name] = handler
    return tenants_aws


# -- requests as one tenant ----------------------------------------------------------------------------
def _platform(aws: dict[str, Any], tenant: str, event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"]["authorizer"]["claims"]["client_id"] = aws["client_of"][tenant]
    return event


def _agent(tenant: str, event: dict[str, Any]) -> dict[str, Any]:
    claims = event["requestContext"]["authorizer"]["claims"]
    claims.update({"sub": f"agent-{tenant}", "username": "agent", "tenant": tenant, "client_id": "people"})
    return event


def _answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])


def ingest(aws: dict[str, Any], tenant: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = _platform(aws, tenant, api_event("POST", "/v1/calls", body))
    return _answer(aws["handlers"]["ingest"].lambda_handler(event, FakeContext()))


def segments(aws: dict[str, Any], tenant: str, call_id: str) -> tuple[int, dict[str, Any]]:
    turns = [{"speaker": "customer", "start_ms": 90_000, "end_ms": 91_000, "text": "Das ist eine Frechheit!"}]
    event = _platform(aws, tenant, api_event("POST", f"/v1/calls/{call_id}/segments", {"segments": turns}))
    event["resource"], event["pathParameters"] = "/v1/calls/{call_id}/segments", {"call_id": call_id}
    return _answer(aws["handlers"]["ingest"].lambda_handler(event, FakeContext()))


def view(aws: dict[str, Any], tenant: str, call_id: str) -> tuple[int, dict[str, Any]]:
    event = _agent(tenant, api_event("GET", f"/v1/calls/{call_id}", scopes="callguard/calls:read"))
    event["resource"], event["pathParameters"] = "/v1/calls/{call_id}", {"call_id": call_id}
    return _answer(aws["handlers"]["agent_view"].lambda_handler(event, FakeContext()))


def followups(aws: dict[str, Any], tenant: str) -> tuple[int, dict[str, Any]]:
    event = _agent(tenant, api_event("GET", "/v1/followups", scopes="callguard/calls:read"))
    event["resource"] = "/v1/followups"
    event["queryStringParameters"] = {"due_before": "2999-01-01T00:00:00Z"}
    return _answer(aws["handlers"]["agent_view"].lambda_handler(event, FakeContext()))


def route(aws: dict[str, Any], tenant: str, call_id: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"caller": {"phone": PLANTED["phone"]}, "channel": "voice", "language": "de"}
    body["utterance"] = "Die Abbuchung war doppelt, das ärgert mich sehr."
    if call_id is not None:
        body["call_id"] = call_id
    event = _platform(aws, tenant, api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide"))
    return _answer(aws["handlers"]["route"].lambda_handler(event, FakeContext()))


def analyse(aws: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = aws["handlers"]["analyze"].lambda_handler(runtime._sqs_event(messages), FakeContext())
    return result


def analyse_queued(aws: dict[str, Any]) -> None:
    queued = runtime._queued(aws)
    assert queued
    assert analyse(aws, queued) == {"batchItemFailures": []}


def call_of(tenant: str, call_id: str) -> dict[str, Any]:
    """A call whose content tells its tenant: the same phone number, e-mail and customer id in every tenant."""
    text = METER if tenant == ACME else "Die Abbuchung war doppelt, das ärgert mich sehr. Rufen Sie mich zurück."
    turns = [*GERMAN_SEGMENTS[:1], {"speaker": "customer", "start_ms": 2100, "end_ms": 9000, "text": text}]
    return call_body(call_id=call_id, agent_id=f"agent-of-{tenant}", segments=turns)


# -- what a tenant holds -------------------------------------------------------------------------------
def holdings(aws: dict[str, Any], tenant: str) -> dict[str, Any]:
    """Every calls-table item, transcript object version and subject key the tenant owns (as stored)."""
    scope = TenantScope(tenant)
    ddb, s3 = aws["session"].client("dynamodb"), aws["session"].client("s3")
    calls = [i for i in runtime._items(aws, Env.CALLS_TABLE) if scope.owns(i["pk"]["S"])]
    listed = s3.list_object_versions(Bucket=aws["env"][Env.TRANSCRIPTS_BUCKET])
    versions = sorted(
        (v["Key"], v["VersionId"], v["ETag"]) for v in listed.get("Versions", []) if scope.owns_object(v["Key"])
    )
    subjects = sorted({scope.unscoped(i["subject_id"]["S"]) or "" for i in calls if "subject_id" in i})
    keys_table = aws["env"][Env.KEYS_TABLE]
    # the keys table keys a listed tenant's subject key by its scope too (``T#<tenant>#<subject id>``)
    keys = [ddb.get_item(TableName=keys_table, Key={"subject_id": {"S": scope.key(s)}}).get("Item") for s in subjects]
    return {"calls": sorted(calls, key=lambda i: (i["pk"]["S"], i["sk"]["S"])), "objects": versions, "keys": keys}


def stored_call(aws: dict[str, Any], tenant: str, call_id: str, sk: str = "CALL") -> dict[str, Any] | None:
    ddb = aws["session"].client("dynamodb")
    key = {"pk": {"S": TenantScope(tenant).key(f"CALL#{call_id}")}, "sk": {"S": sk}}
    item: dict[str, Any] | None = ddb.get_item(TableName=aws["env"][Env.CALLS_TABLE], Key=key).get("Item")
    return item


# -- the tests ---------------------------------------------------------------------------------------------
def test_two_tenants_each_store_their_own_call_under_the_same_call_id_and_phone(aws: dict[str, Any]) -> None:
    accepted = {tenant: ingest(aws, tenant, call_of(tenant, "cc-1")) for tenant in (DEFAULT, ACME)}
    assert {status for status, _ in accepted.values()} == {202}
    default, acme = accepted[DEFAULT][1], accepted[ACME][1]
    assert default["subject_id"] != acme["subject_id"]  # the same phone number: two subjects
    # two calls: v1's keys for the default tenant, the listed tenant's behind its prefix, each with its subject
    default_call, acme_call = stored_call(aws, DEFAULT, "cc-1"), stored_call(aws, ACME, "cc-1")
    assert default_call is not None
    assert acme_call is not None
    assert default_call["subject_id"]["S"] == default["subject_id"]
    assert acme_call["subject_id"]["S"] == f"T#{ACME}#{acme['subject_id']}"
    assert default_call["transcript"]["M"]["key"]["S"] == f"transcripts/{default['subject_id']}/cc-1.sealed"
    assert acme_call["transcript"]["M"]["key"]["S"] == f"tenants/{ACME}/transcripts/{acme['subject_id']}/cc-1.sealed"
    assert acme_call["expiry_key"]["S"].startswith(f"T#{ACME}#calls#")
    assert not default_call["expiry_key"]["S"].startswith("T#")
    # the analysis of each acts for its tenant and writes only its call
    analyse_queued(aws)
    analyses = {
        t: json.loads((stored_call(aws, t, "cc-1", "ANALYSIS") or {})["analysis"]["S"]) for t in (DEFAULT, ACME)
    }
    assert analyses[ACME]["intent"]["name"] == "meter_reading"
    assert analyses[DEFAULT]["intent"]["name"] == "billing"
    # a replay is answered per tenant, from the tenant's own call
    assert ingest(aws, DEFAULT, call_of(DEFAULT, "cc-1")) == (202, default)
    assert ingest(aws, ACME, call_of(ACME, "cc-1")) == (202, acme)
    # and each tenant's agent sees its own call under the id
    for tenant, subject in ((DEFAULT, default), (ACME, acme)):
        status, shown = view(aws, tenant, "cc-1")
        assert status == 200, shown
        assert shown["agent_id"] == f"agent-of-{tenant}"
        assert subject["subject_id"] not in json.dumps(shown)


def test_a_replay_with_the_other_tenants_body_is_a_conflict_in_ones_own_tenant_only(aws: dict[str, Any]) -> None:
    """Ingest's replay semantics are per tenant: a different body under a call id the tenant used is 409 in that
    tenant, while the other tenant stores it as its own new call."""
    assert ingest(aws, DEFAULT, call_of(DEFAULT, "cc-r"))[0] == 202
    before = holdings(aws, DEFAULT)
    status, answer = ingest(aws, DEFAULT, call_of(ACME, "cc-r"))  # another body, the same tenant: a conflict
    assert (status, answer["error"]["code"]) == (409, "call_conflict")
    status, answer = ingest(aws, ACME, call_of(ACME, "cc-r"))
    assert status == 202
    assert holdings(aws, DEFAULT) == before


@BOTH
def test_the_other_tenants_token_with_a_call_id_answers_404_and_changes_nothing(
    aws: dict[str, Any], owner: str, attacker: str
) -> None:
    call_id = f"cc-{owner}-only"
    live = call_of(owner, call_id)
    del live["ended_at"]  # a live call: segments could be appended to it
    assert ingest(aws, owner, live)[0] == 202
    analyse_queued(aws)
    assert route(aws, owner, call_id)[0] == 200
    before = holdings(aws, owner)
    assert before["calls"]
    assert before["objects"]
    assert any(before["keys"])  # the call's subject key (a routed caller without calls has none)

    for name, (status, answer) in {
        "view": view(aws, attacker, call_id),
        "segments": segments(aws, attacker, call_id),
    }.items():
        assert (status, answer["error"]["code"]) == (404, "not_found"), name
        assert "agent-of" not in json.dumps(answer)
    # the analysis acting for the attacker's tenant finds no such call: it analyses nothing
    messages = [{"call_id": call_id}] if attacker == DEFAULT else [{"call_id": call_id, "tenant": attacker}]
    assert analyse(aws, messages) == {"batchItemFailures": []}
    # a routing request naming the call decides for the attacker's tenant alone
    assert route(aws, attacker, call_id)[0] == 200
    # the follow-up list of the attacker's agent holds none of the owner's
    status, listed = followups(aws, attacker)
    assert status == 200
    assert call_id not in json.dumps(listed)

    assert holdings(aws, owner) == before
    assert stored_call(aws, attacker, call_id) is None
    assert stored_call(aws, attacker, call_id, "ANALYSIS") is None
    # the owner still reads its call as before
    status, shown = view(aws, owner, call_id)
    assert (status, shown["agent_id"]) == (200, f"agent-of-{owner}")


def test_followups_and_resolution_statistics_are_listed_per_tenant(aws: dict[str, Any]) -> None:
    for tenant in (DEFAULT, ACME):
        body = call_body(call_id=f"fu-{tenant}", agent_id=f"agent-of-{tenant}", segments=GERMAN_SEGMENTS)
        assert ingest(aws, tenant, body)[0] == 202
    analyse_queued(aws)  # negative and unresolved: each opens a follow-up in its tenant
    for tenant, other in ((DEFAULT, ACME), (ACME, DEFAULT)):
        status, listed = followups(aws, tenant)
        assert status == 200
        assert [item["call_id"] for item in listed["items"]] == [f"fu-{tenant}"], tenant
        assert f"fu-{other}" not in json.dumps(listed)
    # the by-due index key of a listed tenant's follow-up is its own
    followup = stored_call(aws, ACME, f"fu-{ACME}", "FOLLOWUP")
    assert followup is not None
    assert followup["followup_status"]["S"] == f"T#{ACME}#open"
    # resolution phrases counted for one tenant are not suggested to another's agents
    acme_calls = aws["handlers"]["analyze"].service(tenant=ACME).calls
    for _ in range(3):
        acme_calls.record_resolution("billing", ["Gutschrift veranlasst"], datetime.now(UTC))
    assert dict(acme_calls.resolutions("billing"))["Gutschrift veranlasst"] == 3
    default_calls = aws["handlers"]["analyze"].service(tenant=DEFAULT).calls
    assert "Gutschrift veranlasst" not in dict(default_calls.resolutions("billing"))


def test_a_warm_container_serves_each_tenant_its_own_call_in_turn(aws: dict[str, Any]) -> None:
    for tenant in (ACME, DEFAULT):
        assert ingest(aws, tenant, call_of(tenant, "cc-warm"))[0] == 202
    # one loaded handler (a warm execution environment), tenants alternating; never the previous tenant's graph
    for tenant in (ACME, DEFAULT, ACME, DEFAULT):
        status, shown = view(aws, tenant, "cc-warm")
        assert (status, shown["agent_id"]) == (200, f"agent-of-{tenant}")
    status, refused = view(aws, "stadtwerk", "cc-warm")  # a tenant not listed: refused at the edge, no data
    assert (status, refused["error"]["code"]) == (403, "unknown_tenant")


def test_routing_history_is_the_tokens_tenants_only(aws: dict[str, Any]) -> None:
    """The same phone number calls acme-energie three times: acme's routing sees a repeat caller, the default
    tenant's sees a first-time caller (its subject is another)."""
    for n in range(3):
        assert ingest(aws, ACME, call_of(ACME, f"cc-h-{n}") | {"caller": {"phone": PLANTED["phone"]}})[0] == 202
    analyse_queued(aws)
    _, acme = route(aws, ACME)
    _, default = route(aws, DEFAULT)
    assert "repeat_caller" in json.dumps(acme["reasons"])
    assert "repeat_caller" not in json.dumps(default["reasons"])
