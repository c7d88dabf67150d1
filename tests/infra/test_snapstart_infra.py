"""SnapStart in the template: every API route reaches its function through the alias of a published
version with a snapshot, API Gateway may invoke only that alias, and only the API functions pay for it."""

from __future__ import annotations

from typing import Any

import pytest

from callguard.names import ROUTES
from infra.constructs.function import LIVE_ALIAS
from tests.conftest import Synth

pytestmark = pytest.mark.infra

#: the functions behind the API's routes: the latency-sensitive ones (docs/benchmarks.md, SnapStart)
API_FUNCTIONS = {r.function for r in ROUTES if r.function}
#: the Python runtimes SnapStart supports (3.12 on); Lambda refuses SnapStart on others
_SNAPSTART_RUNTIMES = {"python3.12", "python3.13", "python3.14"}


@pytest.fixture(params=["synth", "tenant_synth"])
def template(request: pytest.FixtureRequest) -> Synth:
    synth: Synth = request.getfixturevalue(request.param)
    return synth


def _service(function: dict[str, Any]) -> str:
    name = str(function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"])
    return name.removeprefix("callguard-").partition("-")[0]


def _snap_start(function: dict[str, Any]) -> bool:
    return (function["Properties"].get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"


def _ref(value: Any) -> str:
    assert isinstance(value, dict), f"expected a Ref, got {value!r}"
    assert set(value) == {"Ref"}, f"expected a Ref, got {value!r}"
    return str(value["Ref"])


def _uri_refs(uri: Any) -> list[str]:
    """The logical ids a proxy integration's URI references (``Fn::Join`` of literal parts and Refs)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Ref" in node and not str(node["Ref"]).startswith("AWS::"):
                found.append(str(node["Ref"]))
            if "Fn::GetAtt" in node:
                found.append(str(node["Fn::GetAtt"][0]))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(uri)
    return found


def test_every_api_method_invokes_the_live_alias_of_a_snapstart_version(template: Synth) -> None:
    resources = template.template["Resources"]
    methods = {
        k: m for k, m in template.resources("AWS::ApiGateway::Method").items()
        if m["Properties"]["Integration"]["Type"] == "AWS_PROXY"
    }  # fmt: skip
    assert methods, "the API has proxy methods"
    reached: set[str] = set()
    for logical, method in methods.items():
        (target,) = _uri_refs(method["Properties"]["Integration"]["Uri"])
        alias = resources[target]
        assert alias["Type"] == "AWS::Lambda::Alias", f"{logical} invokes {alias['Type']}, not a SnapStart alias"
        assert alias["Properties"]["Name"] == LIVE_ALIAS
        function_logical = _ref(alias["Properties"]["FunctionName"])
        version_logical, attribute = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"]
        version = resources[version_logical]
        assert (version["Type"], attribute) == ("AWS::Lambda::Version", "Version")
        assert _ref(version["Properties"]["FunctionName"]) == function_logical, (
            "the alias' version is another function's"
        )
        assert "ProvisionedConcurrencyConfig" not in alias["Properties"] | version["Properties"]  # not with SnapStart
        assert "RoutingConfig" not in alias["Properties"], "the alias must send every request to the snapshot's version"
        function = resources[function_logical]
        assert _snap_start(function), f"{function_logical} (behind {logical}) has no SnapStart on published versions"
        props = function["Properties"]
        assert props["Runtime"] in _SNAPSTART_RUNTIMES
        assert "FileSystemConfigs" not in props, "SnapStart does not support EFS"
        assert props.get("EphemeralStorage", {}).get("Size", 512) <= 512, "SnapStart: at most 512 MB of /tmp"
        reached.add(_service(function))
    assert reached == API_FUNCTIONS


def test_api_gateway_may_invoke_only_the_aliases_and_only_from_its_own_method(template: Synth) -> None:
    resources = template.template["Resources"]
    grants = [
        p["Properties"] for p in template.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]  # fmt: skip
    assert grants
    for grant in grants:
        target = resources[_ref(grant["FunctionName"])]
        assert target["Type"] == "AWS::Lambda::Alias", "API Gateway may invoke an unqualified function ($LATEST)"
        assert "Qualifier" not in grant
        assert "SourceArn" in grant, "an invoke permission for API Gateway without the method it is for"
    granted = {_ref(g["FunctionName"]) for g in grants}
    assert granted == {k for k in template.resources("AWS::Lambda::Alias")}, "an alias nothing invokes, or one missed"


def test_snapstart_is_paid_only_for_the_api_functions_with_one_version_and_alias_each(template: Synth) -> None:
    functions = template.product_functions()
    with_snapshot = {k for k, f in functions.items() if _snap_start(f)}
    # scheduled jobs, the queue consumer, the importer, the Cognito trigger and the workflow's steps: no
    # user waits on their cold start, and each cached version would cost its memory every month
    assert {_service(functions[k]) for k in with_snapshot} == API_FUNCTIONS
    assert len(with_snapshot) == len(API_FUNCTIONS)
    versions = [_ref(v["Properties"]["FunctionName"]) for v in template.resources("AWS::Lambda::Version").values()]
    aliases = [_ref(a["Properties"]["FunctionName"]) for a in template.resources("AWS::Lambda::Alias").values()]
    assert sorted(versions) == sorted(with_snapshot), "a version without SnapStart, or a second one cached"
    assert sorted(aliases) == sorted(with_snapshot)


def test_the_functions_with_snapstart_are_those_whose_hooks_the_snapshot_test_runs(synth: Synth) -> None:
    """tests/functional/test_snapstart.py runs the before-snapshot hooks of these handlers: a function
    that gets SnapStart without registering (and proving) its hooks would snapshot its init as it is."""
    from tests.functional.test_snapstart import API_HANDLERS

    snap = {_service(f) for f in synth.product_functions().values() if _snap_start(f)}
    assert snap == set(API_HANDLERS)
