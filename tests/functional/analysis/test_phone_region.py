"""Every privacy function runs with the deployment's phone region (issue 14).

A deployment synthesized for Austria reads national numbers as Austrian. The request runs
through the privacy API handler and the workflow's steps, each with exactly the environment
its function gets in that template — a function without the region would read the number as
German, find another pseudonym and export nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from callguard.clients import AwsClients
from callguard.models import normalise_phone
from callguard.wiring import build_privacy_steps
from infra.workflows.privacy_workflow import STEPS
from local.provision import Provisioner
from tests.conftest import run_cdk_synth
from tests.support import FakeContext, api_event, call_body, load_handler

pytestmark = [pytest.mark.functional, pytest.mark.slow]

REGION = "eu-central-1"
AUSTRIAN_NATIONAL = "0664 1234567"  # +43 664 1234567; read as German it is another number


@pytest.fixture(scope="module")
def austrian_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("cdk-at") / "cdk.out"
    result = run_cdk_synth(out, 'callguard={"default_phone_region": "AT"}')
    assert result.returncode == 0, result.stderr[-3000:]
    template: dict[str, Any] = json.loads((Path(out) / "Callguard.template.json").read_text())
    return template


def _step_prefix(step: str) -> str:
    return "PrivacyApi" + step.replace("_", " ").title().replace(" ", "")


@pytest.fixture
def austria(austrian_template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_TRACE_DISABLED": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        provisioner = Provisioner(session, region=REGION)
        provisioner.provision(austrian_template)
        yield {"provisioner": provisioner, "template": austrian_template, "clients": AwsClients(session=session)}


def _only(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """The process environment of exactly this function (no other function's settings)."""
    for key in [k for k in os.environ if k.startswith("CALLGUARD_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_every_privacy_function_has_the_deployments_phone_region(austria: dict[str, Any]) -> None:
    provisioner, template = austria["provisioner"], austria["template"]
    for prefix in ["PrivacyApiPrivacy", *(_step_prefix(s) for s in STEPS)]:
        env = provisioner.function_environment(template, prefix)
        assert env.get("CALLGUARD_DEFAULT_PHONE_REGION") == "AT", prefix


def test_a_national_number_finds_the_callers_data_end_to_end(
    austria: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    provisioner, template, clients = austria["provisioner"], austria["template"], austria["clients"]
    _only(monkeypatch, provisioner.function_environment(template, "IngestApiIngest"))
    ingest = load_handler("ingest")
    ingest.dependencies(clients)
    body = call_body(call_id="at-1", caller={"phone": "+43 664 1234567"})
    assert ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())["statusCode"] == 202

    _only(monkeypatch, provisioner.function_environment(template, "PrivacyApiPrivacy"))
    privacy = load_handler("privacy")
    privacy.dependencies(clients)
    request = {"type": "access", "subject": {"phone": AUSTRIAN_NATIONAL}}
    answer = privacy.lambda_handler(api_event("POST", "/v1/privacy/requests", request,
                                              scopes="callguard/privacy:manage"), FakeContext())  # fmt: skip
    assert answer["statusCode"] == 202, answer["body"]
    request_id = json.loads(answer["body"])["request_id"]

    for step in ("collect_subject_data", "assemble_export"):
        env = provisioner.function_environment(template, _step_prefix(step))
        _only(monkeypatch, env)
        steps = build_privacy_steps(clients, env)
        if step == "collect_subject_data":
            assert steps.collect_subject_data(request_id, 0)["next_page"] is None
        else:
            steps.assemble_export(request_id)
    result = steps.requests.get(request_id).result  # type: ignore[union-attr]
    assert result["calls"] == 1  # the national number reached the call taken in international format
    # read as German the national number is another number (another pseudonym): the region decides
    assert normalise_phone(AUSTRIAN_NATIONAL, "DE") != normalise_phone(AUSTRIAN_NATIONAL, "AT") == "+436641234567"
