"""The embedded stack's resources come from the synthesized template, not from local/."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from moto import mock_aws

from infra.constructs.secure_storage import Index, LogBucket, N, S, SecureBucket, SecureTable
from local.provision import Provisioner, ProvisionError
from tests.conftest import Synth

pytestmark = pytest.mark.functional

REGION = "eu-central-1"


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def test_every_table_bucket_queue_and_key_of_the_template_exists_locally(synth: Synth, session: Any) -> None:
    result = Provisioner(session, region=REGION).provision(synth.template)
    ddb, s3, sqs, kms_client = (session.client(n) for n in ("dynamodb", "s3", "sqs", "kms"))

    for logical, resource in synth.resources("AWS::DynamoDB::GlobalTable").items():
        described = ddb.describe_table(TableName=result.refs[logical])["Table"]
        props = resource["Properties"]
        assert described["KeySchema"] == props["KeySchema"]
        assert {g["IndexName"] for g in described.get("GlobalSecondaryIndexes", [])} == {
            g["IndexName"] for g in props.get("GlobalSecondaryIndexes", [])
        }
        ttl = ddb.describe_time_to_live(TableName=result.refs[logical])["TimeToLiveDescription"]
        assert ttl["AttributeName"] == props["TimeToLiveSpecification"]["AttributeName"]
        assert described["SSEDescription"]["SSEType"] == "KMS"

    for logical, resource in synth.resources("AWS::S3::Bucket").items():
        name = result.refs[logical]
        versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
        assert versioning == resource["Properties"].get("VersioningConfiguration", {}).get("Status")
        rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
        expected = resource["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert (
            rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            == (expected["ServerSideEncryptionByDefault"]["SSEAlgorithm"])
        )
        lock = resource["Properties"].get("ObjectLockConfiguration")
        if lock:  # the trail (governance) and the audit anchors (compliance), as deployed
            local = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
            deployed = lock["Rule"]["DefaultRetention"]
            assert (local["Mode"], local["Days"]) == (deployed["Mode"], deployed["Days"])

    for logical, resource in synth.resources("AWS::SQS::Queue").items():
        attributes = sqs.get_queue_attributes(QueueUrl=result.refs[logical], AttributeNames=["All"])["Attributes"]
        if "RedrivePolicy" in resource["Properties"]:
            redrive = json.loads(attributes["RedrivePolicy"])
            assert redrive["maxReceiveCount"] == resource["Properties"]["RedrivePolicy"]["maxReceiveCount"]

    specs = {
        kms_client.describe_key(KeyId=k)["KeyMetadata"]["KeySpec"] for k in result.of_type("AWS::KMS::Key").values()
    }
    assert specs == {"SYMMETRIC_DEFAULT", "HMAC_256", "ECC_NIST_P256"}  # ECC: the audit anchor key (SIGN_VERIFY)
    aliases = {a["AliasName"] for a in kms_client.list_aliases()["Aliases"]}
    assert {"alias/callguard/data", "alias/callguard/subject-ids", "alias/callguard/audit",
            "alias/callguard/audit-anchor", "alias/callguard/exports"} <= aliases  # fmt: skip


def test_a_resource_added_in_infra_appears_locally_without_touching_local(session: Any) -> None:
    app = App()
    stack = Stack(app, "Extra", env={"region": REGION})
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    logs = LogBucket(stack, "Logs", expire_days=30, removal=RemovalPolicy.DESTROY)
    SecureTable(
        stack,
        "Followups",
        key=key,
        partition=("pk", S),
        sort=("sk", S),
        indexes=[Index("by_due", ("status", S), ("due_at", N))],
    )
    SecureBucket(stack, "Exports", key=key, access_logs=logs, expire_days=7)
    template = Template.from_stack(stack).to_json()

    result = Provisioner(session, region=REGION).provision(template)

    table = next(v for k, v in result.of_type("AWS::DynamoDB::GlobalTable").items() if k.startswith("Followups"))
    described = session.client("dynamodb").describe_table(TableName=table)["Table"]
    assert described["GlobalSecondaryIndexes"][0]["IndexName"] == "by_due"
    bucket = next(v for k, v in result.of_type("AWS::S3::Bucket").items() if k.startswith("Exports"))
    rules = session.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["Expiration"]["Days"] == 7


def test_unknown_resource_types_and_intrinsics_fail_loudly(session: Any) -> None:
    with pytest.raises(ProvisionError, match="AWS::RDS::DBInstance"):
        Provisioner(session, region=REGION).provision(
            {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {}}}}
        )
    with pytest.raises(ProvisionError, match="Fn::ImportValue"):
        Provisioner(session, region=REGION).provision(
            {
                "Resources": {
                    "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::ImportValue": "elsewhere"}}}
                }
            }
        )
