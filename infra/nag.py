"""Acknowledging compliance rule-pack findings, always with a rule id and a reason.

cdk-nag 3 reports through CDK's validation framework; an acknowledgment is made on
the narrowest construct the finding concerns (``Validations.of(scope).acknowledge``).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks
from constructs import IConstruct

__all__ = ["acknowledge", "add_rule_packs"]


def add_rule_packs(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    Validations.of(app).add_plugins(HIPAASecurityChecks(app))
    Validations.of(app).add_plugins(NIST80053R5Checks(app))


def acknowledge(scope: IConstruct, reason: str, *rule_ids: str) -> None:
    """Acknowledge each of ``rule_ids`` on ``scope`` with a specific ``reason``."""
    if len(reason) < 20:
        raise ValueError("an acknowledgment needs a specific reason")
    Validations.of(scope).acknowledge(*(Acknowledgment(id=_qualified(rule_id), reason=reason) for rule_id in rule_ids))


def _qualified(rule_id: str) -> str:
    """``AwsSolutions-IAM5`` → ``AwsSolutions::AwsSolutions-IAM5`` (the plugin's id form)."""
    if "::" in rule_id:
        return rule_id
    return f"{rule_id.split('-', 1)[0]}::{rule_id}"
