"""The importer of a deployment with two tenants: a file is the tenant's whose upload prefix it was
dropped under (``tenants/<tenant>/…``; the default tenant's is v1's), never what its content says.

Attacker's view: tenant B (``acme-energie``) drops a file naming a contact id that tenant A (``default``)
already imported; a file lands under the prefix of a tenant the deployment does not have.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.calls.importer.settings import tenant_key
from callguard.names import Env
from callguard.storage.scope import TenantScope
from local.connect import ConnectServer
from tests.functional.calls.test_import import FIXTURES, VOICE_DE, deliver, drop, loaded_importer, objects

pytestmark = pytest.mark.functional

ACME = "acme-energie"
V1_KEY = "Analysis/Voice/2026/11/27/voice-de_analysis_2026-11-27T09:04:10Z.json"


@pytest.fixture
def importer(tenant_aws: dict[str, Any], connect: ConnectServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    return loaded_importer(tenant_aws, connect, monkeypatch)


def _call(aws: dict[str, Any], tenant: str, call_id: str) -> dict[str, Any] | None:
    key = {"pk": {"S": TenantScope(tenant).key(f"CALL#{call_id}")}, "sk": {"S": "CALL"}}
    item: dict[str, Any] | None = (
        aws["session"].client("dynamodb").get_item(TableName=aws["env"][Env.CALLS_TABLE], Key=key).get("Item")
    )
    return item


def _queued(aws: dict[str, Any]) -> list[dict[str, Any]]:
    sqs = aws["session"].client("sqs")
    got = sqs.receive_message(QueueUrl=aws["env"][Env.ANALYSIS_QUEUE_URL], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_a_file_under_bs_prefix_is_imported_by_bs_ingest_whatever_it_contains(
    importer: Any, tenant_aws: dict[str, Any]
) -> None:
    raw = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    acme_key = tenant_key(ACME, V1_KEY)
    drop(tenant_aws, acme_key, raw)
    outcome = importer.service().handle(tenant_aws["env"][Env.IMPORT_BUCKET], acme_key)
    assert (outcome.status, outcome.call_id, outcome.tenant) == ("imported", VOICE_DE, ACME)
    # B's ingest stored it: its analysis message names B (the default tenant's never names a tenant)
    assert _queued(tenant_aws) == [{"call_id": VOICE_DE, "tenant": ACME}]
    assert objects(tenant_aws) == {}  # imported, and the raw file is gone from the stack's bucket


def test_a_file_of_a_tenant_the_deployment_does_not_have_is_refused_unread(
    importer: Any, tenant_aws: dict[str, Any]
) -> None:
    raw = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    keys = [f"tenants/nobody/{V1_KEY}", f"tenants/default/{V1_KEY}", f"tenants/Acme/{V1_KEY}"]
    for key in keys:
        drop(tenant_aws, key, raw)
    handled = [importer.service().handle(tenant_aws["env"][Env.IMPORT_BUCKET], key) for key in keys]
    refused = ("refused", "unknown_tenant", None, None)
    assert [(o.status, o.reason, o.call_id, o.tenant) for o in handled] == [refused] * len(keys)
    assert deliver(importer, tenant_aws, *keys) == []  # through the queue too: refused, not retried
    # nothing read, copied, quarantined or stored for anyone
    assert set(objects(tenant_aws)) == set(keys)
    calls = tenant_aws["session"].client("dynamodb").scan(TableName=tenant_aws["env"][Env.CALLS_TABLE])["Items"]
    assert calls == []
    assert _queued(tenant_aws) == []


def test_b_importing_as_call_id_creates_bs_call_and_leaves_as_untouched(
    importer: Any, tenant_aws: dict[str, Any]
) -> None:
    """The same file at A's prefix, then at B's: two calls with one call id, two subjects for one caller."""
    raw = (FIXTURES / "contact-lens-voice-de.json").read_bytes()
    drop(tenant_aws, V1_KEY, raw)
    assert deliver(importer, tenant_aws, V1_KEY) == []
    before = _call(tenant_aws, "default", VOICE_DE)
    assert before is not None

    acme_key = tenant_key(ACME, V1_KEY.replace("voice-de", "voice-de-again"))
    drop(tenant_aws, acme_key, raw)  # B's file naming A's contact (call) id
    assert deliver(importer, tenant_aws, acme_key) == []

    assert objects(tenant_aws, "callguard-quarantine/") == {}  # not a conflict: another tenant's call id
    acme = _call(tenant_aws, ACME, VOICE_DE)
    assert acme is not None
    assert acme["subject_id"]["S"] != before["subject_id"]["S"]
    assert _call(tenant_aws, "default", VOICE_DE) == before
