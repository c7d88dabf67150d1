"""The permission proof on a minimal template: what a denial says, and the implicit calls it derives."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import Decision, Verdict
from local.permissions import CallMapper, TemplateModel, Violation, implied_key_violations

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
