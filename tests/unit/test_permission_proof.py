"""The permission proof on a minimal template: what a denial says, and the implicit calls it derives."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import Decision, Verdict
from local.permissions import (
    CallMapper,
    TemplateModel,
    Violation,
    implied_key_violations,
    service_principal_violations,
)

pytestmark = pytest.mark.unit

ROOT = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}


def template(extra_statements: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "Resources": {
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "KeyPolicy": {
                        "Statement": [
                            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}
                        ]
                    }
                },
            },
            "Table": {
                "Type": "AWS::DynamoDB::GlobalTable",
                "Properties": {"Replicas": [{"SSESpecification": {"KMSMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}}]},
            },
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "dynamodb:GetItem",
                                "Resource": {"Fn::GetAtt": ["Table", "Arn"]},
                            },
                            *(extra_statements or []),
                        ]
                    },
                },
            },
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        }
    }


def test_a_grant_on_an_encrypted_table_without_its_key_is_named() -> None:
    (violation,) = implied_key_violations(TemplateModel.from_template(template()))
    text = str(violation)
    assert text.startswith("Fn (its policy's grants)")
    assert "kms:Decrypt on arn:aws:kms:eu-central-1:123456789012:key/Key" in text
    assert "DynamoDB decrypts the table key of callguard-Table" in text
    assert '"kms:EncryptionContext:aws:dynamodb:tableName": "callguard-Table"' in text
    assert "policies evaluated: Policy" in text


def test_the_key_grant_through_dynamodb_only_satisfies_it() -> None:
    grant = {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": {"Fn::GetAtt": ["Key", "Arn"]},
        "Condition": {"StringEquals": {"kms:ViaService": "dynamodb.eu-central-1.amazonaws.com"}},
    }
    model = TemplateModel.from_template(template([grant]))
    assert implied_key_violations(model) == []
    # the same grant does not let the function call KMS itself
    accesses = CallMapper(model).accesses("kms", "Decrypt", {"KeyId": "Key", "CiphertextBlob": b"x"})
    role = model.function_roles["Fn"]
    from local.iam import Principal

    verdict = model.check(Principal(arn=role, account="123456789012"), accesses[0].action, accesses[0].resource, {})
    assert not verdict.allowed


def test_messages_never_carry_object_keys() -> None:
    violation = Violation(
        "Fn (handler)",
        "s3:GetObject",
        "kms:Decrypt",
        "arn:aws:s3:::bucket/transcripts/subject-mac/call-1",
        Verdict(Decision.IMPLICIT_DENY, reason="no statement allows it"),
        context={"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::bucket/transcripts/subject-mac/call-1"},
    )
    assert "subject-mac" not in str(violation)
    assert "arn:aws:s3:::bucket/transcripts/*" in str(violation)


# -- SnapStart: API Gateway invokes a published version's alias -------------------------------------------

_ALIAS_ARN = "arn:aws:lambda:eu-central-1:123456789012:function:Fn:live"
_FUNCTION_ARN = "arn:aws:lambda:eu-central-1:123456789012:function:Fn"


def _api_template(*, integration: str, permission_on: str | None) -> dict[str, Any]:
    """``GET /v1/calls`` → a proxy integration of ``integration`` (``Fn``, or its alias ``Live``), and
    API Gateway's invoke permission on ``permission_on`` (or none)."""
    resources = template()["Resources"]
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    resources["Role"]["Properties"]["AssumeRolePolicyDocument"] = {"Statement": [trust]}
    uri_target = {"Fn::GetAtt": ["Fn", "Arn"]} if integration == "Fn" else {"Ref": integration}
    resources |= {
        "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        "Live": {
            "Type": "AWS::Lambda::Alias",
            "Properties": {
                "FunctionName": {"Ref": "Fn"},
                "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]},
                "Name": "live",
            },
        },
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        "Calls": {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {
                "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                "PathPart": "calls",
                "RestApiId": {"Ref": "Api"},
            },
        },
        "Stage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"StageName": "v1", "RestApiId": {"Ref": "Api"}}},
        "Get": {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "HttpMethod": "GET",
                "RestApiId": {"Ref": "Api"},
                "ResourceId": {"Ref": "Calls"},
                "Integration": {
                    "Type": "AWS_PROXY",
                    "Uri": {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                {"Ref": "AWS::Partition"},
                                ":apigateway:",
                                {"Ref": "AWS::Region"},
                                ":lambda:path/2015-03-31/functions/",
                                uri_target,
                                "/invocations",
                            ],
                        ]
                    },
                },
            },
        },
    }
    if permission_on is not None:
        target = {"Fn::GetAtt": ["Fn", "Arn"]} if permission_on == "Fn" else {"Ref": permission_on}
        resources["Invoke"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": target,
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {
                    "Fn::Join": ["", ["arn:aws:execute-api:eu-central-1:123456789012:", {"Ref": "Api"}, "/*/GET/calls"]]
                },
            },
        }
    return {"Resources": resources}


def _apigateway_may_invoke(model: TemplateModel, arn: str) -> bool:
    from local.iam import Principal

    context = {
        "aws:SourceArn": "arn:aws:execute-api:eu-central-1:123456789012:Api/v1/GET/calls",
        "aws:SourceAccount": "123456789012",
    }
    principal = Principal(service="apigateway.amazonaws.com", account="123456789012")
    return model.check(principal, "lambda:InvokeFunction", arn, context).allowed


def test_an_alias_resolves_to_its_qualified_arn_and_names_its_function() -> None:
    model = TemplateModel.from_template(_api_template(integration="Live", permission_on="Live"))
    assert model.resolve({"Ref": "Live"}) == _ALIAS_ARN
    assert model.resolve({"Ref": "Version"}) == f"{_FUNCTION_ARN}:1"
    assert model.function_logical(_ALIAS_ARN) == "Fn"
    assert model.function_logical(_FUNCTION_ARN + "Other:live") is None  # a prefix of a name is not the name


def test_a_permission_on_the_alias_lets_api_gateway_invoke_only_the_alias() -> None:
    model = TemplateModel.from_template(_api_template(integration="Live", permission_on="Live"))
    assert _apigateway_may_invoke(model, _ALIAS_ARN)
    assert not _apigateway_may_invoke(model, _FUNCTION_ARN)  # $LATEST: no snapshot, and not granted
    assert not _apigateway_may_invoke(model, f"{_FUNCTION_ARN}:1")
    assert service_principal_violations(model) == []


def test_a_permission_on_the_function_does_not_cover_its_alias() -> None:
    """Lambda keeps a policy per qualifier: the function's permission is not the alias' (a deployment
    that moved the integration to the alias but left the permission behind answers 500 on every call)."""
    model = TemplateModel.from_template(_api_template(integration="Live", permission_on="Fn"))
    assert _apigateway_may_invoke(model, _FUNCTION_ARN)
    assert not _apigateway_may_invoke(model, _ALIAS_ARN)
    (violation,) = service_principal_violations(model)
    assert violation.resource == _ALIAS_ARN
    assert violation.action == "lambda:InvokeFunction"


def test_an_integration_without_any_permission_is_a_violation_not_a_skip() -> None:
    for integration in ("Fn", "Live"):
        (violation,) = service_principal_violations(
            TemplateModel.from_template(_api_template(integration=integration, permission_on=None))
        )
        assert violation.resource == (_FUNCTION_ARN if integration == "Fn" else _ALIAS_ARN)


def test_an_integration_naming_no_function_of_the_template_is_a_violation() -> None:
    spec = _api_template(integration="Live", permission_on="Live")
    spec["Resources"]["Get"]["Properties"]["Integration"]["Uri"] = (
        "arn:aws:apigateway:eu-central-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:eu-central-1:123456789012:function:Elsewhere:live/invocations"
    )
    (violation,) = service_principal_violations(TemplateModel.from_template(spec))
    assert "names no function of the template" in violation.verdict.reason
