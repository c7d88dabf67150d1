"""The import capability as synthesized: the event path and the importer's exact grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra.config import load_settings
from infra.stacks.callguard_stack import CallguardStack
from tests.conftest import Synth

pytestmark = pytest.mark.infra

INSTANCE = "arn:aws:connect:eu-central-1:111122223333:instance/a1b2c3d4-5678-40ab-8def-0123456789ab"


def importer_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (policy,) = [
        r
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy" and k.startswith("ImportImporterPolicy")
    ]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        value = statement["Action"]
        found |= {value} if isinstance(value, str) else set(value)
    return found


def synth_with(imports: dict[str, Any]) -> dict[str, Any]:
    app = App(context={"callguard": {"imports": imports}, "account": "111122223333"})
    stack = CallguardStack(app, "Callguard", settings=load_settings(app.node.try_get_context))
    return Template.from_stack(stack).to_json()  # type: ignore[no-any-return]


def test_default_builds_its_own_bucket_with_eventbridge_and_a_rule_to_the_queue(synth: Synth) -> None:
    buckets = {k: r for k, r in synth.resources("AWS::S3::Bucket").items() if k.startswith("ImportDrop")}
    ((_, bucket),) = buckets.items()
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert (
        bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]["SSEAlgorithm"]
        == "aws:kms"
    )
    (rule,) = [r for k, r in synth.resources("AWS::Events::Rule").items() if k.startswith("ImportObjectCreated")]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [
        {"prefix": "Analysis/Voice/"},
        {"prefix": "Analysis/Chat/"},
        {"prefix": "CallAnalytics/"},
    ]
    assert "ImportQueue" in json.dumps(rule["Properties"]["Targets"])
    # no custom resource rewrites any bucket's notification configuration
    assert not [r for r in synth.template["Resources"].values() if r["Type"] == "Custom::S3BucketNotifications"]
    mappings = [
        r for r in synth.resources("AWS::Lambda::EventSourceMapping").values() if "ImportQueue" in json.dumps(r)
    ]
    assert len(mappings) == 1
    assert mappings[0]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_importer_may_do_exactly_what_the_ingest_path_and_the_files_need(synth: Synth) -> None:
    statements = importer_statements(synth.template)
    assert actions(statements) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchGetItem",
        "s3:PutObject",
        "s3:DeleteObjectVersion",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "kms:GenerateMac",
        "connect:DescribeContact",
        "connect:GetContactAttributes",
    }
    text = json.dumps(statements)
    (connect,) = [s for s in statements if "connect:DescribeContact" in s["Action"]]
    assert sorted(connect["Action"]) == ["connect:DescribeContact", "connect:GetContactAttributes"]
    # no instance configured: the contacts of this account's instances in this region, nothing else
    assert ":instance/*/contact/*" in json.dumps(connect["Resource"])
    assert "AWS::AccountId" in json.dumps(connect["Resource"])
    assert "dynamodb:Scan" not in text
    assert "dynamodb:Query" not in text
    assert "comprehend:" not in text


def test_connect_bucket_in_redacted_only_mode_narrows_every_grant() -> None:
    template = synth_with(
        {
            "bucket_name": "connect-callcenter-eu",
            "connect_instance_arn": INSTANCE,
            "redacted_only": True,
            "prefixes": ["Analysis/Voice/"],
        }
    )
    assert not [k for k in template["Resources"] if k.startswith("ImportDrop")]  # no bucket of its own
    statements = importer_statements(template)
    reads = [s for s in statements if "s3:GetObject" in s["Action"]]
    assert len(reads) == 1
    resources = json.dumps(reads[0]["Resource"])
    assert "connect-callcenter-eu/Analysis/Voice/Redacted/*" in resources
    assert "connect-callcenter-eu/Analysis/Voice/*" not in resources
    # a Connect bucket belongs to Connect: callguard never deletes there
    deletes = [s for s in statements if "s3:DeleteObjectVersion" in s["Action"]]
    assert all("connect-callcenter-eu" not in json.dumps(s["Resource"]) for s in deletes)
    (connect,) = [s for s in statements if "connect:DescribeContact" in s["Action"]]
    assert sorted(connect["Action"]) == ["connect:DescribeContact", "connect:GetContactAttributes"]
    assert connect["Resource"] == f"{INSTANCE}/contact/*"


def test_bad_import_settings_stop_synth() -> None:
    from infra.config import ConfigError

    with pytest.raises(ConfigError):
        load_settings({"callguard": {"imports": {"prefixes": ["Analysis/"], "quarantine_prefix": "Analysis/q/"}}})
    with pytest.raises(ConfigError):
        load_settings({"callguard": {"imports": {"connect_instance_arn": "arn:aws:connect:::instance/x"}}})
