"""Acknowledging compliance rule-pack findings, always with a rule id and a reason.

cdk-nag 3 reports through CDK's validation framework; an acknowledgment is made on
the narrowest construct the finding concerns (``Validations.of(scope).acknowledge``).
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks
from constructs import IConstruct

__all__ = ["acknowledge", "acknowledge_step_invocations", "add_rule_packs", "logical_id", "objects_wildcard"]


def add_rule_packs(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    Validations.of(app).add_plugins(HIPAASecurityChecks(app))
    Validations.of(app).add_plugins(NIST80053R5Checks(app))


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge each of ``rule_ids`` on ``scope`` with a specific ``reason``."""
    if len(reason) < 20:
        raise ValueError("an acknowledgment needs a specific reason")
    Validations.of(scope).acknowledge(*(Acknowledgment(id=_qualified(rule_id), reason=reason) for rule_id in rule_ids))


def acknowledge_step_invocations(role: IConstruct, functions: Iterable[IConstruct]) -> None:
    """Acknowledge what CDK grants a state machine's ``role`` to invoke its step ``functions`` (each by
    ARN and its versions, ``ARN:*``) and to deliver logs and traces (services without resource-level
    permissions): one statement of reasons for every workflow of the stack."""
    acknowledge(
        role,
        "Step Functions invokes each step function by ARN and its versions (ARN:*) and delivers logs and "
        "traces to services without resource-level permissions; CDK generates exactly these statements.",
        "AwsSolutions-IAM5[Resource::*]",
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "HIPAA.Security-IAMNoInlinePolicy",
        *(f"AwsSolutions-IAM5[Resource::<{logical_id(fn)}.Arn>:*]" for fn in functions),
    )


def objects_wildcard(bucket: IConstruct, prefix: str) -> str:
    """The IAM5 finding id for ``<bucket ARN>/<prefix>*``, with the bucket's real logical id."""
    return f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{prefix}*]"


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2 construct's resource (as findings name it)."""
    from aws_cdk import CfnResource, Stack

    cfn = construct.node.default_child
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource as its default child")
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(cfn)))


def _qualified(rule_id: str) -> str:
    """``AwsSolutions-IAM5`` → ``AwsSolutions::AwsSolutions-IAM5`` (the plugin's id form)."""
    if "::" in rule_id:
        return rule_id
    return f"{rule_id.split('-', 1)[0]}::{rule_id}"
