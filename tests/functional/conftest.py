"""Functional tier: handlers against moto, resources shaped like the synthesized ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from callguard.clients import AwsClients
from callguard.names import Env
from local import permissions
from local.comprehend import ComprehendServer
from local.provision import Provisioner
from tests.conftest import Synth

REGION = "eu-central-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, synth: Synth) -> Iterator[dict[str, Any]]:
    """A moto account provisioned from the synthesized template, with the ingest function's env.

    Nothing is hand-made here: tables, keys, buckets and queues are the ones `cdk synth`
    wrote, and the environment is the one the template gives the ingest function.
    """
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
        provisioner = Provisioner(session, region=REGION)
        provisioned = provisioner.provision(synth.template)
        # every call a handler makes is judged against its role in the template (tests/conftest.py fails on a denial)
        permissions.activate(permissions.model_for(synth.template, provisioned))
        raw_env: dict[str, str] = {}
        for prefix in (
            "IngestApiIngest",
            "AnalysisAnalyze",
            "AgentViewApiAgentView",
            "DeadlinesCheck",
            "RetentionPurge",
            "PrivacyApiPrivacy",
            "AuditAnchoringAnchor",
            "ImportImporter",
        ):
            raw_env.update(provisioner.function_environment(synth.template, prefix))
        env = {Env(k): v for k, v in raw_env.items() if k in {e.value for e in Env}}
        for key, value in env.items():
            monkeypatch.setenv(key.value, value)
        comprehend_server = ComprehendServer().start()
        comprehend = session.client("comprehend", endpoint_url=comprehend_server.url)
        try:
            yield {
                "session": session,
                "env": env,
                "clients": AwsClients(session=session, comprehend=comprehend),
                "comprehend": comprehend_server.emulator,
            }
        finally:
            permissions.deactivate()
            comprehend_server.stop()


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
        provisioner = Provisioner(session, region=REGION)
        provisioned = provisioner.provision(tenant_synth.template)
        permissions.activate(permissions.model_for(tenant_synth.template, provisioned))
        raw_env: dict[str, str] = {}
        for prefix in TENANT_FUNCTIONS:
            raw_env.update(provisioner.function_environment(tenant_synth.template, prefix))
        env = {Env(k): v for k, v in raw_env.items() if k in {e.value for e in Env}}
        for key, value in env.items():
            monkeypatch.setenv(key.value, value)
        comprehend_server = ComprehendServer().start()
        comprehend = session.client("comprehend", endpoint_url=comprehend_server.url)
        try:
            yield {
                "session": session,
                "env": env,
                "clients": AwsClients(session=session, comprehend=comprehend),
                "comprehend": comprehend_server.emulator,
            }
        finally:
            permissions.deactivate()
            comprehend_server.stop()
