"""The IAM evaluator behind the permission proof: each rule of AWS's evaluation that it claims to model."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam import Decision, PolicyError, Principal, Request, authorize, authorize_kms, evaluate

pytestmark = pytest.mark.unit

ROLE = "arn:aws:iam::123456789012:role/fn"
KEY = "arn:aws:kms:eu-central-1:123456789012:key/k1"
TABLE = "arn:aws:dynamodb:eu-central-1:123456789012:table/calls"


def req(action: str, resource: str, **context: Any) -> Request:
    return Request(Principal(arn=ROLE, account="123456789012"), action, resource, context)


def allow(action: Any, resource: Any, condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition:
        s["Condition"] = condition
    return s


def test_actions_match_with_wildcards_and_ignore_case() -> None:
    assert evaluate([allow("dynamodb:Get*", TABLE)], req("dynamodb:GetItem", TABLE)).allowed
    assert evaluate([allow("DynamoDB:getitem", TABLE)], req("dynamodb:GetItem", TABLE)).allowed
    assert not evaluate([allow("dynamodb:Get*", TABLE)], req("dynamodb:PutItem", TABLE)).allowed
    assert evaluate([allow("kms:GenerateDataKey?", KEY)], req("kms:GenerateDataKeyX", KEY)).allowed


def test_resources_match_with_wildcards_and_are_case_sensitive() -> None:
    assert evaluate(
        [allow("s3:GetObject", "arn:aws:s3:::b/exports/*")], req("s3:GetObject", "arn:aws:s3:::b/exports/x")
    ).allowed
    assert not evaluate(
        [allow("s3:GetObject", "arn:aws:s3:::b/exports/*")], req("s3:GetObject", "arn:aws:s3:::b/Exports/x")
    ).allowed
    assert not evaluate([allow("dynamodb:Query", TABLE)], req("dynamodb:Query", TABLE + "/index/by_subject")).allowed


def test_not_action_and_not_resource() -> None:
    statement = {"Effect": "Allow", "NotAction": "kms:*", "NotResource": TABLE}
    assert evaluate([statement], req("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    assert not evaluate([statement], req("kms:Decrypt", KEY)).allowed
    assert not evaluate([statement], req("dynamodb:GetItem", TABLE)).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert (
        evaluate([allow("*", "*"), deny], req("s3:GetObject", "x", **{"aws:SecureTransport": "false"})).decision
        is Decision.EXPLICIT_DENY
    )
    assert evaluate([allow("*", "*"), deny], req("s3:GetObject", "x", **{"aws:SecureTransport": "true"})).allowed


def test_string_and_arn_conditions_with_missing_keys() -> None:
    cond = {
        "StringEquals": {
            "kms:EncryptionContext:aws:states:stateMachineArn": "arn:aws:states:eu-central-1:1:stateMachine:m"
        }
    }
    statement = allow("kms:Decrypt", KEY, cond)
    ok = req(
        "kms:Decrypt",
        KEY,
        **{"kms:EncryptionContext:aws:states:stateMachineArn": "arn:aws:states:eu-central-1:1:stateMachine:m"},
    )
    assert evaluate([statement], ok).allowed
    # the CDK defect: a condition naming ":stateMachine:" never matches a real machine
    empty = allow(
        "kms:Decrypt",
        KEY,
        {
            "StringEquals": {
                "kms:EncryptionContext:aws:states:stateMachineArn": "arn:aws:states:eu-central-1:1:stateMachine:"
            }
        },
    )
    assert not evaluate([empty], ok).allowed
    assert not evaluate([statement], req("kms:Decrypt", KEY)).allowed  # key missing: the condition fails
    # keys are case-insensitive, values are not
    assert evaluate(
        [allow("x:Y", "*", {"StringEquals": {"AWS:SourceAccount": "1"}})], req("x:Y", "r", **{"aws:sourceaccount": "1"})
    ).allowed
    assert not evaluate([allow("x:Y", "*", {"StringEquals": {"a": "V"}})], req("x:Y", "r", a="v")).allowed
    like = allow("sns:Publish", "*", {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:eu-central-1:1:alarm:*"}})
    assert evaluate(
        [like], req("sns:Publish", "t", **{"aws:SourceArn": "arn:aws:cloudwatch:eu-central-1:1:alarm:a"})
    ).allowed
    assert not evaluate(
        [like], req("sns:Publish", "t", **{"aws:SourceArn": "arn:aws:cloudwatch:eu-central-1:2:alarm:a"})
    ).allowed


def test_negated_operators_and_if_exists_on_missing_keys() -> None:
    assert evaluate([allow("x:Y", "*", {"StringNotEquals": {"k": "v"}})], req("x:Y", "r")).allowed
    assert evaluate([allow("x:Y", "*", {"StringEqualsIfExists": {"k": "v"}})], req("x:Y", "r")).allowed
    assert not evaluate([allow("x:Y", "*", {"StringEqualsIfExists": {"k": "v"}})], req("x:Y", "r", k="w")).allowed


def test_null_bool_and_numeric() -> None:
    assert evaluate([allow("x:Y", "*", {"Null": {"k": "true"}})], req("x:Y", "r")).allowed
    assert not evaluate([allow("x:Y", "*", {"Null": {"k": "true"}})], req("x:Y", "r", k="v")).allowed
    assert evaluate(
        [allow("x:Y", "*", {"Bool": {"aws:SecureTransport": "true"}})], req("x:Y", "r", **{"aws:SecureTransport": True})
    ).allowed
    assert evaluate([allow("x:Y", "*", {"NumericLessThan": {"n": "5"}})], req("x:Y", "r", n=3)).allowed
    assert not evaluate([allow("x:Y", "*", {"NumericLessThan": {"n": "5"}})], req("x:Y", "r", n=7)).allowed


def test_set_operators() -> None:
    any_of = allow("x:Y", "*", {"ForAnyValue:StringEquals": {"keys": ["a", "b"]}})
    all_of = allow("x:Y", "*", {"ForAllValues:StringLike": {"keys": ["aws:*"]}})
    assert evaluate([any_of], req("x:Y", "r", keys=["c", "b"])).allowed
    assert not evaluate([any_of], req("x:Y", "r", keys=["c"])).allowed
    assert not evaluate([any_of], req("x:Y", "r")).allowed
    assert evaluate([all_of], req("x:Y", "r", keys=["aws:a", "aws:b"])).allowed
    assert not evaluate([all_of], req("x:Y", "r", keys=["aws:a", "other"])).allowed
    assert evaluate([all_of], req("x:Y", "r")).allowed  # ForAllValues holds for an absent key, as in AWS


def test_an_operator_it_does_not_know_fails_loudly() -> None:
    with pytest.raises(PolicyError, match="DateLessThan"):
        evaluate([allow("x:Y", "*", {"DateLessThan": {"aws:CurrentTime": "2030-01-01"}})], req("x:Y", "r"))


def test_key_policy_delegation_and_direct_grants() -> None:
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    policy = {"Statement": [root]}
    assert not authorize_kms(req("kms:Decrypt", KEY), key_policy=policy).allowed  # delegated, but no IAM grant
    assert authorize_kms(req("kms:Decrypt", KEY), key_policy=policy, identity=[allow("kms:Decrypt", KEY)]).allowed
    direct = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}
    assert authorize_kms(req("kms:Decrypt", KEY), key_policy={"Statement": [direct]}).allowed
    # without delegation, an IAM grant alone is not enough
    assert not authorize_kms(
        req("kms:Decrypt", KEY), key_policy={"Statement": []}, identity=[allow("kms:Decrypt", KEY)]
    ).allowed
    service = Request(Principal(service="logs.eu-central-1.amazonaws.com", account="123456789012"), "kms:Encrypt", KEY)
    assert not authorize_kms(service, key_policy=policy).allowed  # delegation is for IAM principals, not services


def test_resource_policies_allow_services_and_deny_everyone() -> None:
    topic = "arn:aws:sns:eu-central-1:123456789012:alarms"
    tls_only = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:Publish",
        "Resource": topic,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    cloudwatch = Request(
        Principal(service="cloudwatch.amazonaws.com"), "sns:Publish", topic, {"aws:SecureTransport": "true"}
    )
    assert not authorize(cloudwatch, resource={"Statement": [tls_only]}).allowed
    grant = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic,
    }
    assert authorize(cloudwatch, resource={"Statement": [tls_only, grant]}).allowed
    insecure = Request(cloudwatch.principal, "sns:Publish", topic, {"aws:SecureTransport": "false"})
    assert authorize(insecure, resource={"Statement": [tls_only, grant]}).decision is Decision.EXPLICIT_DENY
