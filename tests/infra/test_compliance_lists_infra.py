"""The compliance desk's lists as synthesized: the request list is an index of the privacy table
that carries the list's columns only, and the privacy API reads it by query, never by scan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.names import GSI_BY_DEADLINE, REQUEST_LIST_INCLUDES
from tests.conftest import Synth

pytestmark = pytest.mark.infra


def _statements(policy: dict[str, Any]) -> list[tuple[list[str], str]]:
    return [
        (s["Action"] if isinstance(s["Action"], list) else [s["Action"]], json.dumps(s["Resource"]))
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_request_list_index_orders_by_deadline_and_projects_no_identifier(synth: Synth) -> None:
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    privacy = next(t for k, t in tables.items() if k.startswith("DataPrivacy"))
    index = next(g for g in privacy["Properties"]["GlobalSecondaryIndexes"] if g["IndexName"] == GSI_BY_DEADLINE)
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
        ("request_list", "HASH"),
        ("deadline_at", "RANGE"),
    ]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert set(index["Projection"]["NonKeyAttributes"]) == set(REQUEST_LIST_INCLUDES)
    assert not {"subject_macs", "subject_id", "sealed_note", "filed_by"} & set(REQUEST_LIST_INCLUDES)


def test_the_privacy_api_queries_the_list_index_and_never_scans(synth: Synth) -> None:
    policies = synth.resources("AWS::IAM::ManagedPolicy") | synth.resources("AWS::IAM::Policy")
    api = [p for k, p in policies.items() if k.startswith("PrivacyApiPrivacy")]
    assert api
    statements = [s for p in api for s in _statements(p)]
    assert not any("dynamodb:Scan" in actions for actions, _ in statements)
    on_index = [actions for actions, resource in statements if f"/index/{GSI_BY_DEADLINE}" in resource]
    assert on_index == [["dynamodb:Query"]]
