"""Functional tier: handlers against moto, resources shaped like the synthesized ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from callguard.clients import AwsClients
from callguard.names import Env

REGION = "eu-central-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A moto account with the foundation's tables, bucket, queue and keys."""
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "callguard-test",
        "POWERTOOLS_METRICS_NAMESPACE": "CallguardTest",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        kms = session.client("kms")
        ddb = session.client("dynamodb")
        data_key = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
        hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]

        def table(name: str, keys: list[tuple[str, str]], gsis: list[tuple[str, str, str]] = ()) -> str:  # type: ignore[assignment]
            attrs = {k for k, _ in keys} | {a for _, a, _ in gsis} | {b for _, _, b in gsis}
            kwargs: dict[str, Any] = {
                "TableName": name,
                "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in keys],
                "AttributeDefinitions": [
                    {"AttributeName": a, "AttributeType": "N" if a == "expires_at" else "S"} for a in sorted(attrs)
                ],
                "BillingMode": "PAY_PER_REQUEST",
            }
            if gsis:
                kwargs["GlobalSecondaryIndexes"] = [
                    {
                        "IndexName": n,
                        "KeySchema": [
                            {"AttributeName": a, "KeyType": "HASH"},
                            {"AttributeName": b, "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                    for n, a, b in gsis
                ]
            ddb.create_table(**kwargs)
            return name

        env = {
            Env.CALLS_TABLE: table(
                "calls",
                [("pk", "HASH"), ("sk", "RANGE")],
                [("by_subject", "subject_id", "created_at"), ("by_expiry", "expiry_key", "expires_at")],
            ),
            Env.SUBJECTS_TABLE: table(
                "subjects", [("pk", "HASH"), ("sk", "RANGE")], [("by_expiry", "expiry_key", "expires_at")]
            ),
            Env.KEYS_TABLE: table("subject-keys", [("subject_id", "HASH")]),
            Env.IDEMPOTENCY_TABLE: table("idempotency", [("id", "HASH")]),
            Env.DATA_KEY_ID: data_key,
            Env.HMAC_KEY_ID: hmac_key,
        }
        s3 = session.client("s3")
        s3.create_bucket(Bucket="transcripts", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket="transcripts", VersioningConfiguration={"Status": "Enabled"})
        env[Env.TRANSCRIPTS_BUCKET] = "transcripts"
        sqs = session.client("sqs")
        env[Env.ANALYSIS_QUEUE_URL] = sqs.create_queue(QueueName="analysis")["QueueUrl"]
        for key, value in env.items():
            monkeypatch.setenv(key.value, value)
        yield {"session": session, "env": env, "clients": AwsClients(session=session)}


def scan_all(session: boto3.Session) -> str:
    """Every item of every table and every object version of every bucket, as text."""
    ddb = session.client("dynamodb")
    s3 = session.client("s3")
    dump: list[str] = []
    for name in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=name):
            dump.append(repr(page["Items"]))
    for bucket in s3.list_buckets()["Buckets"]:
        versions = s3.list_object_versions(Bucket=bucket["Name"]).get("Versions", [])
        for version in versions:
            body = s3.get_object(Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"])["Body"]
            dump.append(version["Key"])
            dump.append(body.read().decode("latin-1"))
    return "\n".join(dump)
