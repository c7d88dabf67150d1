"""Deployable for real: what AWS checks at deployment and at run time, proven on the synthesized template.

moto grants everything and cfn-lint/checkov/cdk-nag do not evaluate policies, so each defect below
passed every other check. Each test fails with the missing permission or dependency named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.iam import Principal
from local.permissions import (
    TemplateModel,
    implied_key_violations,
    service_principal_violations,
    service_principals_checked,
)
from tests.conftest import Synth, is_cdk_provider, run_cdk_synth
from tests.support import ROOT

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def model(synth: Synth) -> TemplateModel:
    return TemplateModel.from_template(synth.template)


def _listing(violations: list[Any]) -> str:
    return "\n".join(f"- {v}" for v in violations)


def _function(synth: Synth, prefix: str) -> str:
    (logical,) = [k for k in synth.resources("AWS::Lambda::Function") if k.startswith(prefix)]
    return logical


# -- the whole template -------------------------------------------------------------------------------


def test_every_service_principal_can_do_its_part(model: TemplateModel) -> None:
    """CloudWatch → SNS (+ topic key), Step Functions → KMS/Lambda, Logs → KMS, EventBridge/Scheduler/
    API Gateway/Cognito → Lambda, CloudTrail → S3/KMS/Logs, Lambda → its roles and the SQS source."""
    violations = service_principal_violations(model)
    assert not violations, "services would be denied in AWS:\n" + _listing(violations)


def _services_named(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        principal = node.get("Principal")
        if isinstance(principal, dict) and "Service" in principal:
            services = principal["Service"]
            yield from (str(s) for s in (services if isinstance(services, list) else [services]))
        for child in node.values():
            yield from _services_named(child)
    elif isinstance(node, list):
        for child in node:
            yield from _services_named(child)


def test_the_check_makes_every_service_principal_of_the_template_act(model: TemplateModel, synth: Synth) -> None:
    """A service named in a trust, key, bucket or topic policy or a Lambda permission is one the product
    relies on: a template change that adds one without a check here fails this test."""
    named = set(_services_named(synth.template["Resources"]))
    named |= {str(p["Properties"]["Principal"]) for p in synth.resources("AWS::Lambda::Permission").values()}
    unchecked = named - service_principals_checked(model)
    assert not unchecked, f"service principals the permission check never makes act: {sorted(unchecked)}"
    assert len(named) >= 10


def test_every_function_can_use_the_keys_of_what_its_policy_grants(model: TemplateModel) -> None:
    violations = implied_key_violations(model)
    assert not violations, "implicit KMS calls would be denied in AWS:\n" + _listing(violations)


def test_the_check_covers_every_function_and_reads_every_policy(model: TemplateModel, synth: Synth) -> None:
    functions = set(synth.resources("AWS::Lambda::Function"))
    assert set(model.function_roles) == functions
    for logical, role in model.function_roles.items():
        assert model.policy_names(role), f"{logical}: no policy found for its role"
    # the only policies the evaluator cannot read are AWS managed: API Gateway's account logging role's, and
    # the basic-execution policy of CDK's BucketDeployment provider (deploy time only, the console's files)
    assert all(
        "AmazonAPIGatewayPushToCloudWatchLogs" in u or (is_cdk_provider(u) and "AWSLambdaBasicExecutionRole" in u)
        for u in model.unmodelled
    ), model.unmodelled


# -- defect 1: the privacy workflow's key ---------------------------------------------------------------


def test_the_privacy_workflow_can_encrypt_its_execution_data(model: TemplateModel, synth: Synth) -> None:
    ((logical, machine),) = synth.resources("AWS::StepFunctions::StateMachine").items()
    assert "StateMachineName" in machine["Properties"], (
        f"{logical} has no StateMachineName: the execution role's kms:EncryptionContext:aws:states:stateMachineArn "
        "condition ends in ':stateMachine:' and matches no execution"
    )
    arn = model.resolve.attribute(logical, "Arn")
    key_arn, role = model.machines[arn]
    context = {"kms:EncryptionContext:aws:states:stateMachineArn": arn}
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        verdict = model.check(Principal(arn=role, account=model.resolve.account), action, key_arn, context)
        assert verdict.allowed, f"{logical}'s execution role lacks {action} on the data key for its ARN: {verdict}"
    # the key policy itself names the execution role for this machine only
    named = [
        s
        for s in model.key_policies[key_arn]["Statement"]
        if s.get("Principal", {}).get("AWS") == role
        and s.get("Condition", {}).get("StringEquals", {}).get("kms:EncryptionContext:aws:states:stateMachineArn")
        == arn
    ]
    assert named, f"the data key's policy has no statement for {logical}'s execution role and its ARN"


# -- defect 2: table keys for routing, deadline check, purge ----------------------------------------------


@pytest.mark.parametrize("prefix", ["RoutingApiRoute", "DeadlinesCheck", "RetentionPurge"])
def test_functions_can_decrypt_every_table_they_read(model: TemplateModel, synth: Synth, prefix: str) -> None:
    logical = _function(synth, prefix)
    role = model.function_roles[logical]
    tables = {
        name
        for name in model.tables
        if any(name in json.dumps(s) for s in model.statements(role) if "dynamodb:" in json.dumps(s.get("Action")))
    }
    assert tables, f"{logical} reads no table?"
    for name in sorted(tables):
        encrypted = model.tables[name]
        context = {
            **{f"kms:EncryptionContext:{k}": v for k, v in encrypted.context.items()},
            "kms:ViaService": f"dynamodb.{model.resolve.region}.amazonaws.com",
        }
        verdict = model.check(
            Principal(arn=role, account=model.resolve.account), "kms:Decrypt", encrypted.key_arn, context
        )
        assert verdict.allowed, (
            f"{logical} reads {name} but DynamoDB's kms:Decrypt on its key as {logical}'s role is denied "
            f"({verdict.reason}); missing: Allow kms:Decrypt on {encrypted.key_arn} in {model.policy_names(role)}"
        )


# -- defect 3: alarms reach their topics ----------------------------------------------------------------


def test_cloudwatch_may_publish_to_every_alarm_topic_of_this_account_only(model: TemplateModel, synth: Synth) -> None:
    topics = {
        model.resolve(a)
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
        for key in ("AlarmActions", "OKActions")
        for a in alarm["Properties"].get(key, [])
    }
    assert topics
    cw = Principal(service="cloudwatch.amazonaws.com", account=model.resolve.account)
    own_alarm = f"arn:aws:cloudwatch:{model.resolve.region}:{model.resolve.account}:alarm:any"
    for topic in sorted(topics):
        ok = model.check(
            cw, "sns:Publish", topic, {"aws:SourceAccount": model.resolve.account, "aws:SourceArn": own_alarm}
        )
        assert ok.allowed, f"CloudWatch cannot sns:Publish to {topic}: the topic policy has no statement for it"
        # confused deputy: another account's alarm may not
        other = model.check(
            cw,
            "sns:Publish",
            topic,
            {
                "aws:SourceAccount": "210987654321",
                "aws:SourceArn": own_alarm.replace(model.resolve.account, "210987654321"),
            },
        )
        assert not other.allowed, f"{topic} lets another account's alarms publish"


# -- defect 4: creation order ----------------------------------------------------------------------------


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("Ref"), str):
            yield node["Ref"]
        if "Fn::GetAtt" in node:
            arg = node["Fn::GetAtt"]
            yield arg[0] if isinstance(arg, list) else arg.split(".", 1)[0]
        for child in node.values():
            yield from _references(child)
    elif isinstance(node, list):
        for child in node:
            yield from _references(child)


def _created_before(template: dict[str, Any], logical: str) -> set[str]:
    """Everything CloudFormation must finish before ``logical``: DependsOn and references, transitively."""
    resources = template["Resources"]
    seen: set[str] = set()
    todo = [logical]
    while todo:
        res = resources[todo.pop()]
        depends = res.get("DependsOn", [])
        edges = ([depends] if isinstance(depends, str) else list(depends)) + list(
            _references(res.get("Properties", {}))
        )
        for edge in edges:
            if edge in resources and edge not in seen:
                seen.add(edge)
                todo.append(edge)
    return seen


def _policies_of(template: dict[str, Any], role: str) -> set[str]:
    return {
        k
        for k, r in template["Resources"].items()
        if r["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
        and any(x.get("Ref") == role for x in r["Properties"].get("Roles", []))
    }


def _role_of(template: dict[str, Any], logical: str) -> str:
    res = template["Resources"][logical]
    props = res["Properties"]
    if res["Type"] == "AWS::Lambda::EventSourceMapping":
        return _role_of(template, props["FunctionName"]["Ref"])
    role = props.get("Role") or props.get("RoleArn") or props.get("Target", {}).get("RoleArn")
    return str(role["Fn::GetAtt"][0])


def test_every_function_mapping_machine_and_schedule_is_created_after_its_policies(synth: Synth) -> None:
    """Lambda validates the role at creation (X-Ray tracing needs xray:PutTraceSegments), an event source
    mapping needs sqs:ReceiveMessage, Step Functions and Scheduler check their roles: all of it must exist."""
    template = synth.template
    kinds = {
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::StepFunctions::StateMachine",
        "AWS::Scheduler::Schedule",
    }
    missing = []
    checked = 0
    for logical, res in template["Resources"].items():
        if res["Type"] not in kinds:
            continue
        checked += 1
        before = _created_before(template, logical)
        role = _role_of(template, logical)
        policies = _policies_of(template, role)
        assert policies, f"{logical}: its role {role} has no policy"
        missing += [f"{logical} ({res['Type']}) must DependsOn {p}" for p in sorted(policies - before)]
    assert checked >= 25
    assert not missing, "created before the permissions they need:\n" + "\n".join(missing)


# -- defect 5: the smaller ones ------------------------------------------------------------------------------


def test_api_execution_logs_are_encrypted_expiring_and_exist_before_the_stage(synth: Synth) -> None:
    (stage_id, stage) = next(iter(synth.resources("AWS::ApiGateway::Stage").items()))
    (api_id,) = synth.resources("AWS::ApiGateway::RestApi")
    groups = {
        k: g
        for k, g in synth.resources("AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in json.dumps(g["Properties"].get("LogGroupName", ""))
    }
    assert len(groups) == 1, (
        "no explicit API-Gateway-Execution-Logs_<api>/<stage> group: "
        "API Gateway creates one, unencrypted and never expiring"
    )
    ((group_id, group),) = groups.items()
    name = json.dumps(group["Properties"]["LogGroupName"])
    assert api_id in name
    assert stage["Properties"]["StageName"] in name
    assert "KmsKeyId" in group["Properties"], f"{group_id} is not KMS-encrypted"
    assert group["Properties"].get("RetentionInDays"), f"{group_id} never expires"
    assert group_id in _created_before(synth.template, stage_id), f"{stage_id} must DependsOn {group_id}"


def test_no_retained_resource_has_a_fixed_name(synth: Synth) -> None:
    """A retained resource outlives its stack; with a literal name, re-creating the stack fails with
    "already exists". Names must be generated, or carry something unique to this stack (its id, an API id)."""
    name_keys = ("LogGroupName", "TableName", "BucketName", "QueueName", "TopicName", "RoleName", "UserPoolName")
    clashing = []
    for logical, res in synth.template["Resources"].items():
        if res.get("DeletionPolicy") != "Retain" and res.get("UpdateReplacePolicy") != "Retain":
            continue
        for key in name_keys:
            name = res.get("Properties", {}).get(key)
            if name is None:
                continue
            unique = "AWS::StackId" in json.dumps(name) or any(
                r in synth.template["Resources"] for r in _references(name)
            )
            if not unique:
                clashing.append(f"{logical}.{key} = {json.dumps(name)}")
    assert not clashing, "retained with a fixed name (a re-created stack fails):\n" + "\n".join(clashing)


@pytest.mark.slow
def test_removal_destroy_can_tear_the_stack_down(tmp_path: Path) -> None:
    result = run_cdk_synth(tmp_path / "cdk.out", "removal=destroy")
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((tmp_path / "cdk.out" / "Callguard.template.json").read_text())
    protected = []
    for logical, res in template["Resources"].items():
        props = res.get("Properties", {})
        replicas = props.get("Replicas", [])
        if props.get("DeletionProtectionEnabled") or any(r.get("DeletionProtectionEnabled") for r in replicas):
            protected.append(logical)
        if props.get("DeletionProtection") == "ACTIVE":
            protected.append(logical)
    assert not protected, f"removal=destroy, but deletion protection blocks the teardown of: {protected}"


def test_retained_stores_keep_deletion_protection(synth: Synth) -> None:
    for logical, table in synth.resources("AWS::DynamoDB::GlobalTable").items():
        assert all(r.get("DeletionProtectionEnabled") for r in table["Properties"]["Replicas"]), logical
    for logical, pool in synth.resources("AWS::Cognito::UserPool").items():
        assert pool["Properties"].get("DeletionProtection") == "ACTIVE", logical


def test_the_pre_token_trigger_version_and_its_limit_are_documented(synth: Synth) -> None:
    ((_, pool),) = synth.resources("AWS::Cognito::UserPool").items()
    version = pool["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]["LambdaVersion"]
    machine_clients = [
        c for c in synth.resources("AWS::Cognito::UserPoolClient").values()
        if "client_credentials" in c["Properties"].get("AllowedOAuthFlows", [])
    ]  # fmt: skip
    deploy = " ".join((ROOT / "docs" / "deploy.md").read_text().replace("*", "").split())
    assert version == "V2_0", "the trigger version changed: update docs/deploy.md#tokens and this test"
    assert machine_clients
    assert "V2_0" in deploy
    assert "does not run for client-credentials" in deploy, (
        "the V2_0 pre-token trigger does not run for client-credentials tokens: docs/deploy.md must say so"
    )


def test_the_dependency_graph_has_no_cycle(synth: Synth) -> None:
    """CloudFormation refuses a template whose DependsOn/reference graph has a cycle (the key policy now
    names the workflow's role, whose policy names the key: no cycle, as long as the role itself does not)."""
    resources = synth.template["Resources"]
    done: set[str] = set()
    for start in resources:
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                on_path.discard(node)
                path.pop()
                done.add(node)
                continue
            if node in done:
                continue
            assert node not in on_path, "circular dependency: " + " -> ".join([*path, node])
            on_path.add(node)
            path.append(node)
            stack.append((node, True))
            res = resources[node]
            depends = res.get("DependsOn", [])
            edges = [depends] if isinstance(depends, str) else list(depends)
            edges += list(_references(res.get("Properties", {})))
            stack += [(e, False) for e in edges if e in resources and e not in done]
