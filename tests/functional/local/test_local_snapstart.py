"""The embedded stack with SnapStart: routes reach their function through the alias API Gateway invokes,
and a SnapStart function's first local invocation starts from a restored environment's state."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from moto import mock_aws

from callguard.clients import Lazy
from local.gateway import LambdaRuntime, template_routes
from local.provision import Provisioner, ProvisionError, function_logical
from tests.conftest import Synth

pytestmark = pytest.mark.functional

REGION = "eu-central-1"


def _snap_start(resource: dict[str, Any]) -> bool:
    return (resource["Properties"].get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"


def test_every_api_route_is_served_by_the_function_behind_its_live_alias(synth: Synth) -> None:
    resources = synth.template["Resources"]
    routes = [r for r in template_routes(synth.template) if r.function is not None]
    assert routes
    for route in routes:
        function = resources[route.function]
        assert function["Type"] == "AWS::Lambda::Function"
        assert route.qualifier == "live", f"{route.method} {route.path} does not go through the alias"
        assert _snap_start(function)


def test_an_alias_or_version_reference_leads_to_its_function_and_anything_else_fails_loudly(synth: Synth) -> None:
    resources = synth.template["Resources"]
    for logical, resource in resources.items():
        if resource["Type"] in {"AWS::Lambda::Alias", "AWS::Lambda::Version"}:
            function = function_logical({"Ref": logical}, resources)
            assert function == resource["Properties"]["FunctionName"]["Ref"]
            assert resources[function]["Type"] == "AWS::Lambda::Function"
    table = next(k for k, r in resources.items() if r["Type"] == "AWS::DynamoDB::GlobalTable")
    with pytest.raises(ProvisionError, match="is not a Lambda function"):
        function_logical({"Ref": table}, resources)


@pytest.fixture
def provisioned(synth: Synth, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        provisioner = Provisioner(boto3.Session(region_name=REGION), region=REGION)
        provisioner.provision(synth.template)
        yield provisioner


def test_aliases_resolve_to_qualified_arns_of_their_function(synth: Synth, provisioned: Provisioner) -> None:
    aliases = {k: r for k, r in synth.template["Resources"].items() if r["Type"] == "AWS::Lambda::Alias"}
    assert aliases
    for logical, alias in aliases.items():
        function = alias["Properties"]["FunctionName"]["Ref"]
        assert provisioned.resolve({"Ref": logical}) == f"arn:aws:lambda:{REGION}:123456789012:function:{function}:live"


def test_a_snapstart_function_is_loaded_as_a_restored_environment(
    synth: Synth, provisioned: Provisioner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading runs the before-snapshot and after-restore hooks the handler registered: what its init
    built (clients, a service graph) is gone before the first invocation, as in a restored environment."""
    resources = synth.template["Resources"]
    runtime = LambdaRuntime(synth.outdir, synth.template, provisioned)
    snap = next(k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function" and _snap_start(r)
                and k.startswith("IngestApi"))  # fmt: skip
    plain = next(k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function" and not _snap_start(r)
                 and k.startswith("AnalysisAnalyze"))  # fmt: skip
    environments = runtime.environments()
    forgotten: list[Lazy[Any]] = []
    forget = Lazy.forget

    def recording(self: Lazy[Any]) -> None:
        forgotten.append(self)
        forget(self)

    monkeypatch.setattr(Lazy, "forget", recording)
    saved = dict(os.environ)
    try:
        runtime.load_all({snap: environments[snap], plain: environments[plain]})
    finally:  # loading sets the functions' environment in this process: later tests must not inherit it
        os.environ.clear()
        os.environ.update(saved)
    restored, cold = runtime.functions[snap], runtime.functions[plain]
    assert restored.restored_hooks >= 3  # forget before the snapshot; forget and re-seed after the restore
    assert cold.restored_hooks == 0  # no SnapStart: its init is its first invocation's
    # the graph and clients the handler's init could hold were dropped twice (snapshot, restore), nothing else's
    assert forgotten == [restored.module.dependencies, restored.module.dependencies]
