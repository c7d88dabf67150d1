"""A table restored from a backup after an erasure: the tombstones erase it again (docs/runbooks.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from callguard.models import PrivacyRequestIn
from callguard.names import Env
from callguard.privacy.subject_data import SubjectData
from callguard.wiring import build_privacy_service, build_privacy_steps
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

OTHER = "+49 30 5557766"


def _table_items(ddb: Any, table: str) -> str:
    return repr([i for p in ddb.get_paginator("scan").paginate(TableName=table) for i in p["Items"]])


def test_a_restored_copy_is_erased_again_from_the_tombstones(aws: dict[str, Any]) -> None:
    ddb, env = aws["session"].client("dynamodb"), aws["env"]
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    for call_id, phone in (("gone-1", PLANTED["phone"]), ("gone-2", PLANTED["phone"]), ("kept-1", OTHER)):
        body = call_body(call_id=call_id, caller={"phone": phone})
        assert ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())["statusCode"] == 202
    backups = {
        t: ddb.create_backup(TableName=env[t], BackupName=f"before-{n}")["BackupDetails"]["BackupArn"]
        for n, t in enumerate((Env.CALLS_TABLE, Env.SUBJECTS_TABLE))
    }

    request_id = build_privacy_service(aws["clients"]).submit(
        PrivacyRequestIn.model_validate({"type": "erasure", "subject": {"phone": PLANTED["phone"]}})
    )["request_id"]
    steps = build_privacy_steps(aws["clients"])
    for step in (steps.shred_subject_key, steps.delete_subject_data, steps.verify_erasure):
        step(request_id)
    assert "CALL#gone-1" not in _table_items(ddb, env[Env.CALLS_TABLE])

    restored = {t: f"{env[t]}-restored" for t in backups}
    for table, arn in backups.items():
        ddb.restore_table_from_backup(TargetTableName=restored[table], BackupArn=arn)
    assert "CALL#gone-1" in _table_items(ddb, restored[Env.CALLS_TABLE])  # the backup brought it back

    live: SubjectData = steps.data
    stores = replace(live.stores, calls_table=restored[Env.CALLS_TABLE], subjects_table=restored[Env.SUBJECTS_TABLE])
    calls = type(live.calls)(dynamodb=ddb, table=restored[Env.CALLS_TABLE], retention=steps.retention)
    subjects = type(live.subjects)(dynamodb=ddb, table=restored[Env.SUBJECTS_TABLE], retention=steps.retention)
    copy = SubjectData(stores, calls, subjects, live.transcripts, live.keyring)
    erased, single = SubjectData.tombstones(ddb, env[Env.PRIVACY_TABLE])
    assert erased  # the erasure left tombstones (no personal data in them)
    removed = copy.reapply_erasures(erased, single)
    assert removed["calls"] >= 2
    calls_left = _table_items(ddb, restored[Env.CALLS_TABLE])
    assert "CALL#gone-1" not in calls_left
    assert "CALL#gone-2" not in calls_left
    assert "CALL#kept-1" in calls_left  # another subject's data is untouched
    subjects_left = _table_items(ddb, restored[Env.SUBJECTS_TABLE])
    for sid in erased:
        assert sid not in subjects_left
