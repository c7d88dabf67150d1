"""Two tenants side by side through the real handlers (moto, the template with the README's tenants):
each gets its own retention, intents, routing, pseudonyms and key context, chosen by its token only;
and every AWS call is judged against that template's IAM and key policies (the permission proof)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from callguard.errors import NotFoundError
from callguard.names import Env
from callguard.security.crypto import SubjectKeyring
from callguard.security.tenancy import TenantDirectory
from callguard.storage.scope import TenantScope
from local import permissions
from local.iam import Decision, Principal
from tests.conftest import Synth
from tests.functional.accounts import provisioned_account
from tests.support import FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

REGION = "eu-central-1"
ACME = "acme-energie"
#: what the caller says: an intent only acme-energie configured (docs/tenants.example.json)
METER = "Guten Tag, ich möchte meinen Zählerstand durchgeben, der Zähler zeigt 4711."
FUNCTIONS = ("IngestApiIngest", "AnalysisAnalyze", "RoutingApiRoute", "AgentViewApiAgentView", "PrivacyApiPrivacy")


@pytest.fixture
def tenants_aws(monkeypatch: pytest.MonkeyPatch, tenant_synth: Synth) -> Iterator[dict[str, Any]]:
    """A moto account provisioned from the template with tenants; the API functions' environment."""
    with provisioned_account(monkeypatch, tenant_synth.template, FUNCTIONS) as account:
        env, clients = account["env"], account["clients"]
        directory = TenantDirectory.from_env({Env.TENANTS.value: env[Env.TENANTS]})
        client_of = {tenant: client for client, tenant in (directory.clients or {}).items()}
        handlers = {name: load_handler(name) for name in ("ingest", "analyze", "route")}
        handlers["ingest"].dependencies(clients)
        handlers["analyze"].service(clients)
        handlers["route"].service(clients)
        yield {**account, "client_of": client_of, "handlers": handlers}


def _as(aws: dict[str, Any], tenant: str, event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"]["authorizer"]["claims"]["client_id"] = aws["client_of"][tenant]
    return event


def _post_call(aws: dict[str, Any], tenant: str, call_id: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    body = call_body(call_id=call_id)
    body["segments"][1]["text"] = METER
    event = _as(aws, tenant, api_event("POST", "/v1/calls", body, **extra))
    answer = aws["handlers"]["ingest"].lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def _items(aws: dict[str, Any], table: Env) -> list[dict[str, Any]]:
    ddb = aws["session"].client("dynamodb")
    return list(ddb.scan(TableName=aws["env"][table])["Items"])


def _queued(aws: dict[str, Any]) -> list[dict[str, Any]]:
    sqs = aws["session"].client("sqs")
    response = sqs.receive_message(QueueUrl=aws["env"][Env.ANALYSIS_QUEUE_URL], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def _item(aws: dict[str, Any], call_id: str, sk: str, tenant: str = "default") -> dict[str, Any]:
    """A stored item of the call ``call_id`` of ``tenant`` (a listed tenant's partition is behind its prefix)."""
    ddb = aws["session"].client("dynamodb")
    key = {"pk": {"S": TenantScope(tenant).key(f"CALL#{call_id}")}, "sk": {"S": sk}}
    item: dict[str, Any] = ddb.get_item(TableName=aws["env"][Env.CALLS_TABLE], Key=key)["Item"]
    return item


def _decide(aws: dict[str, Any], tenant: str, **extra: Any) -> dict[str, Any]:
    body = {"caller": {"phone": "+4915112345678"}, "channel": "voice", "language": "de", "utterance": METER}
    event = _as(aws, tenant, api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide"))
    for key, value in extra.items():
        event[key] = {**(event.get(key) or {}), **value}
    answer = aws["handlers"]["route"].lambda_handler(event, FakeContext())
    assert answer["statusCode"] == 200, answer["body"]
    decision: dict[str, Any] = json.loads(answer["body"])
    return decision


def test_the_same_caller_in_two_tenants_is_two_subjects_with_each_tenants_retention(
    tenants_aws: dict[str, Any],
) -> None:
    before = int(time.time())
    assert _post_call(tenants_aws, "default", "cc-t-1")[0] == 202
    status, acme = _post_call(tenants_aws, ACME, "cc-t-2")  # the same phone number, e-mail and customer id
    assert status == 202
    default_subject = _item(tenants_aws, "cc-t-1", "CALL")["subject_id"]["S"]
    assert acme["subject_id"] != default_subject
    # what ingest stamps follows the tenant: transcripts 30 days for acme-energie, the deployment's 90 otherwise
    for call_id, days, tenant in (("cc-t-1", 90, "default"), ("cc-t-2", 30, ACME)):
        expires = int(_item(tenants_aws, call_id, "TRANSCRIPT", tenant)["expires_at"]["N"])
        assert before + days * 86400 - 5 <= expires <= int(time.time()) + days * 86400 + 5, (call_id, days)
        call_expires = int(_item(tenants_aws, call_id, "CALL", tenant)["expires_at"]["N"])
        assert call_expires >= before + 90 * 86400 - 5  # not overridden
    # the analysis message names the listed tenant (from the token); the default tenant's stays v1's
    assert _queued(tenants_aws) == [{"call_id": "cc-t-1"}, {"call_id": "cc-t-2", "tenant": ACME}]


def test_each_tenants_subject_key_unwraps_only_under_its_own_tenant(tenants_aws: dict[str, Any]) -> None:
    _post_call(tenants_aws, "default", "cc-k-1")
    _, acme = _post_call(tenants_aws, ACME, "cc-k-2")
    default_subject = _item(tenants_aws, "cc-k-1", "CALL")["subject_id"]["S"]
    env, session = tenants_aws["env"], tenants_aws["session"]

    def keyring(tenant: str, stored_by: str | None = None) -> SubjectKeyring:
        """A keyring acting for ``tenant`` that reads the key items of ``stored_by`` (its own by default)."""
        from callguard.storage.keys import SubjectKeysStore
        from callguard.storage.scope import TenantScope

        scope = TenantScope(stored_by or tenant)
        return SubjectKeyring(
            kms=session.client("kms"),
            keys=SubjectKeysStore(dynamodb=session.client("dynamodb"), table=env[Env.KEYS_TABLE], scope=scope),
            cmk_id=env[Env.DATA_KEY_ID],
            tenant=tenant,
        )

    assert len(keyring(ACME).existing_key(acme["subject_id"])) == 32
    assert len(keyring("default").existing_key(default_subject)) == 32
    # acting for one tenant, the keys store does not even find another tenant's key (its items are not in its keys)
    assert not keyring(ACME).has_key(default_subject)
    assert not keyring("default").has_key(acme["subject_id"])
    # code acting for one tenant that is handed another's key item (a storage bug, a guessed id) cannot unwrap it
    for tenant, owner, subject in (
        (ACME, "default", default_subject),
        ("default", ACME, acme["subject_id"]),
        ("stadtwerk", "default", default_subject),
    ):
        with pytest.raises(ClientError) as denied:
            keyring(tenant, stored_by=owner).existing_key(subject)
        assert denied.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_the_key_policy_refuses_every_role_a_tenant_context_of_no_listed_tenant(tenants_aws: dict[str, Any]) -> None:
    """Judged by the permission proof against the synthesized template: the ingest role may wrap and unwrap
    subject keys of the default tenant (v1's context) and of acme-energie, and of no tenant not listed."""
    model = permissions.active_model()
    assert model is not None
    data_key = model.key_ids["alias/callguard/data"]
    (ingest,) = [role for logical, role in model.function_roles.items() if logical.startswith("IngestApiIngest")]
    role = Principal(arn=ingest, account=permissions.ACCOUNT)

    def verdict(action: str, **context: str) -> Decision:
        keys = {"callguard:subject_id": "sub_x", **context}
        request = {f"kms:EncryptionContext:{k}": v for k, v in keys.items()}
        return model.check(role, action, data_key, {**request, "kms:EncryptionContextKeys": list(keys)}).decision

    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert verdict(action) is Decision.ALLOW
        assert verdict(action, **{"callguard:tenant": ACME}) is Decision.ALLOW
        for other in ("stadtwerk", "default", "ACME-ENERGIE", ""):
            assert verdict(action, **{"callguard:tenant": other}) is Decision.EXPLICIT_DENY, (action, other)


def _sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{i}", "body": json.dumps(m), "receiptHandle": f"r{i}", "attributes": {}}
            | {"eventSource": "aws:sqs"}
            for i, m in enumerate(messages)
        ]
    }


def test_analysis_and_routing_use_the_intents_and_rules_of_the_tokens_tenant(tenants_aws: dict[str, Any]) -> None:
    _post_call(tenants_aws, "default", "cc-a-1")
    _post_call(tenants_aws, ACME, "cc-a-2")
    messages = _queued(tenants_aws)
    records = [
        {
            "messageId": f"m{i}",
            "body": json.dumps(m),
            "receiptHandle": f"r{i}",
            "attributes": {},
            "eventSource": "aws:sqs",
        }
        for i, m in enumerate(messages)
    ]
    result = tenants_aws["handlers"]["analyze"].lambda_handler({"Records": records}, FakeContext())
    assert result == {"batchItemFailures": []}
    intents = {call_id: json.loads(_item(tenants_aws, call_id, "ANALYSIS", tenant)["analysis"]["S"])["intent"]
               for call_id, tenant in (("cc-a-1", "default"), ("cc-a-2", ACME))}  # fmt: skip
    assert intents["cc-a-2"]["name"] == "meter_reading"  # acme-energie's own intent
    assert intents["cc-a-1"]["name"] != "meter_reading"  # the deployment's intents know no meter reading

    default, acme = _decide(tenants_aws, "default"), _decide(tenants_aws, ACME)
    assert "meter_reading" in json.dumps(acme["reasons"])
    assert "meter_reading" not in json.dumps(default["reasons"])
    assert (acme["queue"], acme["priority"]) != (default["queue"], default["priority"])


def test_a_request_cannot_pick_another_tenants_settings(tenants_aws: dict[str, Any]) -> None:
    default, acme = _decide(tenants_aws, "default"), _decide(tenants_aws, ACME)
    spoof_default = {"headers": {"X-Tenant": ACME, "tenant": ACME}, "queryStringParameters": {"tenant": ACME}}
    assert _decide(tenants_aws, "default", **spoof_default) == default
    spoof_acme = {"headers": {"X-Tenant": "default"}, "queryStringParameters": {"tenant": "default"}}
    assert _decide(tenants_aws, ACME, **spoof_acme) == acme
    # a body naming a tenant is refused like any unknown field, and nothing is stored
    body = {"caller": {"phone": "+4915112345678"}, "channel": "voice", "utterance": METER, "tenant": ACME}
    event = _as(
        tenants_aws, "default", api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide")
    )
    answer = tenants_aws["handlers"]["route"].lambda_handler(event, FakeContext())
    assert answer["statusCode"] == 422
    # an analysis message naming a tenant the deployment does not serve fails (to the DLQ), analysing nothing
    _post_call(tenants_aws, "default", "cc-s-1")
    _queued(tenants_aws)
    forged = _sqs_event([{"call_id": "cc-s-1", "tenant": "stadtwerk"}])
    assert tenants_aws["handlers"]["analyze"].lambda_handler(forged, FakeContext()) == {
        "batchItemFailures": [{"itemIdentifier": "m0"}]
    }
    ddb = tenants_aws["session"].client("dynamodb")
    key = {"pk": {"S": "CALL#cc-s-1"}, "sk": {"S": "ANALYSIS"}}
    assert "Item" not in ddb.get_item(TableName=tenants_aws["env"][Env.CALLS_TABLE], Key=key)


def test_a_listed_tenants_privacy_request_finds_its_own_subject_and_its_workflow_acts_for_it(
    tenants_aws: dict[str, Any],
) -> None:
    from callguard.models import PrivacyRequestIn
    from callguard.privacy.step_runner import tenant_of
    from callguard.wiring import build_privacy_service, build_privacy_steps
    from tests.support import PLANTED

    _post_call(tenants_aws, "default", "cc-p-1")
    _, acme_call = _post_call(tenants_aws, ACME, "cc-p-2")
    clients = tenants_aws["clients"]
    body = PrivacyRequestIn.model_validate({"type": "access", "subject": {"phone": PLANTED["phone"]}})
    acme_service = build_privacy_service(clients, tenant=ACME)
    request_id = acme_service.submit(body, actor="user:filer")["request_id"]
    item = acme_service.requests.get(request_id)
    assert item is not None
    # the request is for the pseudonyms of the filer's tenant: they lead to its subject, never the default's
    macs = set(item.subject_macs)
    acme_keys = TenantScope(ACME)
    owners = {
        i["subject_id"]["S"]
        for i in _items(tenants_aws, Env.SUBJECTS_TABLE)
        if (acme_keys.unscoped(i["pk"]["S"]) or "").removeprefix("IDENT#") in macs and "subject_id" in i
    }
    assert owners == {acme_call["subject_id"]}
    # the workflow's input names the filer's tenant, and each step acts for it
    sfn = tenants_aws["session"].client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=tenants_aws["env"][Env.PRIVACY_STATE_MACHINE])["executions"]
    execution_input = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert execution_input["tenant"] == ACME
    assert tenant_of({"request_id": request_id, **execution_input}) == ACME
    assert tenant_of({"request_id": request_id}) == "default"  # v1's input
    for forged in ("ACME", "acme:agent", 7):
        with pytest.raises(ValueError, match="tenant"):
            tenant_of({"request_id": request_id, "tenant": forged})
    # the export's first page holds acme's call when acme-energie collects it, into acme-energie's objects
    s3, bucket = tenants_aws["session"].client("s3"), tenants_aws["env"][Env.EXPORTS_BUCKET]

    def first_page() -> dict[str, Any]:
        (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"] if f"{request_id}/part-" in o["Key"]]
        assert key.startswith(f"tenants/{ACME}/exports/")
        page: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return page

    assert build_privacy_steps(clients, tenant=ACME).collect_subject_data(request_id, 0)["next_page"] is None
    assert [c["call_id"] for c in first_page()["calls"]] == ["cc-p-2"]
    # a step acting for the default tenant does not even find acme-energie's request: nothing is written for it
    before = _items(tenants_aws, Env.PRIVACY_TABLE)
    with pytest.raises(NotFoundError):
        build_privacy_steps(clients).collect_subject_data(request_id, 0)
    assert _items(tenants_aws, Env.PRIVACY_TABLE) == before


def test_an_agent_of_one_tenant_never_reads_the_content_of_anothers_call(tenants_aws: dict[str, Any]) -> None:
    """Another tenant's call id builds a key the call does not have: 404 (existence does not leak), nothing of
    its content is returned, and the call is as it was (tests/functional/calls/test_tenant_calls.py tries every
    calls route so)."""
    handler = load_handler("agent_view")
    handler.service(tenants_aws["clients"])
    _post_call(tenants_aws, "default", "cc-v-1")

    def view(tenant: str) -> tuple[int, str]:
        event = api_event("GET", "/v1/calls/cc-v-1", scopes="callguard/calls:read")
        event["resource"] = "/v1/calls/{call_id}"
        event["pathParameters"] = {"call_id": "cc-v-1"}
        claims = event["requestContext"]["authorizer"]["claims"]
        claims.update({"sub": f"agent-{tenant}", "username": "agent", "tenant": tenant, "client_id": "people"})
        response = handler.lambda_handler(event, FakeContext())
        return response["statusCode"], str(response["body"])

    status, body = view("default")
    assert status == 200
    assert "Zählerstand" in body or "[" in body  # the default tenant's agent sees its (redacted) call
    before = _item(tenants_aws, "cc-v-1", "CALL")
    status, body = view(ACME)
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    assert "Zählerstand" not in body
    assert "agent-17" not in body
    assert _item(tenants_aws, "cc-v-1", "CALL") == before


def test_another_tenant_replaying_a_call_never_gets_the_first_tenants_stored_answer(
    tenants_aws: dict[str, Any],
) -> None:
    """Ingest's idempotency records are per tenant: the same call id and body from a second tenant within
    the idempotency window is not answered from the first tenant's record (its subject id)."""
    status, first = _post_call(tenants_aws, "default", "cc-replay-1")
    assert status == 202
    again, repeated = _post_call(tenants_aws, "default", "cc-replay-1")
    assert (again, repeated) == (202, first)  # the same tenant's replay: its stored answer, as in v1
    stored = _item(tenants_aws, "cc-replay-1", "CALL")
    status, answer = _post_call(tenants_aws, ACME, "cc-replay-1")
    assert first["subject_id"] not in json.dumps(answer)
    # call ids are per tenant: the other tenant's call is a new call of its own, with its own subject, and the
    # first tenant's call stays as it was
    assert status == 202
    assert answer["subject_id"] != first["subject_id"]
    assert _item(tenants_aws, "cc-replay-1", "CALL", ACME)["subject_id"]["S"] == f"T#{ACME}#{answer['subject_id']}"
    assert _item(tenants_aws, "cc-replay-1", "CALL") == stored
    assert _post_call(tenants_aws, ACME, "cc-replay-1") == (202, answer)  # its own replay: its own answer
