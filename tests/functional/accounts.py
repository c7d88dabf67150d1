"""A moto account provisioned from a synthesized template: the one way the functional tests make one.

Nothing is hand-made: tables, keys, buckets and queues are the ones ``cdk synth`` wrote, the process
gets the environment the template gives the named functions, and every AWS call a handler makes is
judged against its role in the template (the permission proof; tests/conftest.py fails on a denial).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from callguard.clients import AwsClients
from callguard.names import Env
from local import permissions
from local.comprehend import ComprehendServer
from local.provision import Provisioner

REGION = "eu-central-1"


@contextmanager
def provisioned_account(
    monkeypatch: pytest.MonkeyPatch, template: dict[str, Any], functions: Iterable[str]
) -> Iterator[dict[str, Any]]:
    """``{"session", "env", "clients", "comprehend"}`` of an account provisioned from ``template``, with
    the environment of the functions whose logical ids begin with ``functions`` set in the process."""
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
        provisioned = provisioner.provision(template)
        permissions.activate(permissions.model_for(template, provisioned))
        raw: dict[str, str] = {}
        for prefix in functions:
            raw.update(provisioner.function_environment(template, prefix))
        env = {Env(k): v for k, v in raw.items() if k in {e.value for e in Env}}
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
