"""The retention capability as synthesized: expiry indexes, the nightly schedule, the purge's
least privilege, alarms; and the records of processing name only processors the stack uses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.names import EXPIRY_INDEX_INCLUDES, GSI_BY_EXPIRY
from infra.ropa import PROCESSORS
from tests.conftest import Synth

pytestmark = pytest.mark.infra


def _actions(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions |= set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    return actions


def test_every_table_with_expiring_data_has_the_expiry_index_with_what_the_purge_needs(synth: Synth) -> None:
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    for prefix in ("DataCalls", "DataSubjects", "DataPrivacy", "DataAudit"):
        table = next(t for k, t in tables.items() if k.startswith(prefix))
        index = next(g for g in table["Properties"]["GlobalSecondaryIndexes"] if g["IndexName"] == GSI_BY_EXPIRY)
        assert [k["AttributeName"] for k in index["KeySchema"]] == ["expiry_key", "expires_at"]
        assert set(index["Projection"]["NonKeyAttributes"]) == set(EXPIRY_INDEX_INCLUDES)
        # the TTL is a backstop on its own attribute, never the instant the purge works from
        assert table["Properties"]["TimeToLiveSpecification"]["AttributeName"] == "ttl_backstop"


def test_the_purge_runs_nightly_in_berlin_time_with_retries(synth: Synth) -> None:
    (schedule,) = [s for k, s in synth.resources("AWS::Scheduler::Schedule").items() if k.startswith("Retention")]
    props = schedule["Properties"]
    assert props["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert props["ScheduleExpression"] == "cron(15 1-4 * * ? *)"
    assert props["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert props["Target"]["Arn"]["Fn::GetAtt"][0].startswith("RetentionPurge")


def test_the_purge_reads_indexes_never_scans_and_deletes_only_under_fixed_prefixes(synth: Synth) -> None:
    policies = synth.resources("AWS::IAM::ManagedPolicy")
    purge = next(p for k, p in policies.items() if k.startswith("RetentionPurge"))
    actions = _actions(purge)
    assert "dynamodb:Scan" not in actions
    assert not any(a.startswith(("s3:Get", "s3:Put")) for a in actions)  # deletes; never reads content
    # its only KMS permission is the one DynamoDB uses on its behalf to open the encrypted tables: it can
    # never call KMS itself, so it cannot unwrap a subject's data key or open a sealed transcript
    kms = [s for s in purge["Properties"]["PolicyDocument"]["Statement"] if "kms:" in json.dumps(s["Action"])]
    assert [s["Action"] for s in kms] == ["kms:Decrypt"]
    assert kms[0]["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.eu-central-1.amazonaws.com"}}
    for statement in purge["Properties"]["PolicyDocument"]["Statement"]:
        statement_actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        text = json.dumps(statement["Resource"])
        if "dynamodb:Query" in statement_actions and "index" in text:
            assert text.count(f"/index/{GSI_BY_EXPIRY}") == 4
        if "s3:DeleteObjectVersion" in statement_actions:
            assert "/transcripts/*" in text
            assert "/exports/*" in text


def test_failed_and_incomplete_purges_alarm(synth: Synth) -> None:
    alarms = {k: a for k, a in synth.resources("AWS::CloudWatch::Alarm").items() if k.startswith("Retention")}
    kinds = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert kinds == {"Errors", "PurgeComplete"}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"]


_SERVICE_TYPES = {
    "AWS Lambda": "AWS::Lambda::",
    "Amazon API Gateway": "AWS::ApiGateway::",
    "Amazon DynamoDB": "AWS::DynamoDB::",
    "Amazon S3": "AWS::S3::",
    "AWS KMS": "AWS::KMS::",
    "Amazon SQS": "AWS::SQS::",
    "AWS Step Functions": "AWS::StepFunctions::",
    "Amazon Cognito": "AWS::Cognito::",
    "AWS CloudTrail": "AWS::CloudTrail::",
    "Amazon CloudWatch": "AWS::CloudWatch::",
    "Amazon EventBridge": "AWS::Scheduler::",
}


def test_the_records_of_processing_name_the_processors_the_stack_really_uses(synth: Synth) -> None:
    types = {r["Type"] for r in synth.template["Resources"].values()}
    for processor in PROCESSORS:
        if processor == "Amazon Comprehend":  # an API, no resource: its permission is the evidence
            assert '"comprehend:' in json.dumps(synth.resources("AWS::IAM::ManagedPolicy"))
            continue
        assert any(t.startswith(_SERVICE_TYPES[processor]) for t in types), processor
