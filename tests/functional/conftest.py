"""Functional tier: handlers against moto, resources shaped like the synthesized ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import Synth
from tests.functional.accounts import REGION, provisioned_account

__all__ = ["REGION", "scan_all"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, synth: Synth) -> Iterator[dict[str, Any]]:
    """A moto account provisioned from the synthesized template, with the ingest function's env.

    Nothing is hand-made here: tables, keys, buckets and queues are the ones `cdk synth`
    wrote, and the environment is the one the template gives the ingest function.
    """
    with provisioned_account(monkeypatch, synth.template, V1_FUNCTIONS) as account:
        yield account


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


#: the functions whose environment ``aws`` gives the process (the template without tenants)
V1_FUNCTIONS = (
    "IngestApiIngest",
    "AnalysisAnalyze",
    "AgentViewApiAgentView",
    "DeadlinesCheck",
    "RetentionPurge",
    "PrivacyApiPrivacy",
    "AuditAnchoringAnchor",
    "ImportImporter",
)

#: the functions whose environment ``tenant_aws`` gives the process (the template with tenants)
TENANT_FUNCTIONS = (
    "IngestApiIngest",
    "PrivacyApiPrivacy",
    "RetentionPurge",
    "AuditAnchoringAnchor",
    "ImportImporter",
)


@pytest.fixture
def tenant_aws(monkeypatch: pytest.MonkeyPatch, tenant_synth: Synth) -> Iterator[dict[str, Any]]:
    """Like ``aws``, from the template synthesized with the README's two tenants (``default`` and
    ``acme-energie``): what the scheduled and import functions of such a deployment see."""
    with provisioned_account(monkeypatch, tenant_synth.template, TENANT_FUNCTIONS) as account:
        yield account
