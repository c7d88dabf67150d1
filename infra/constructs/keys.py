"""KMS keys: the data CMK, the HMAC key for subject ids, and the audit/log key."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

__all__ = ["ProjectKeys"]


class ProjectKeys(Construct):
    """Customer-managed keys, rotation on where KMS supports it.

    * ``data`` (symmetric): DynamoDB tables, S3 buckets, SQS queues and the wrapping
      of per-subject data keys. Usage is granted per function role by IAM grants; the
      key policy itself only delegates to the account and names no wildcard principal.
    * ``subject_ids`` (HMAC_256): ``GenerateMac`` over normalised identifiers.
    * ``audit`` (symmetric): CloudTrail logs and CloudWatch log groups, kept apart so
      that those who may read data cannot read or alter the audit trail's key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.data = kms.Key(
            self,
            "DataKey",
            alias="alias/callguard/data",
            description="callguard: personal data at rest and per-subject data key wrapping",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.subject_ids = kms.Key(
            self,
            "SubjectIdKey",
            alias="alias/callguard/subject-ids",
            description="callguard: HMAC key that pseudonymises caller identifiers",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            removal_policy=removal,
        )
        self.audit = kms.Key(
            self,
            "AuditKey",
            alias="alias/callguard/audit",
            description="callguard: CloudTrail and CloudWatch Logs encryption",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        region = Stack.of(self).region
        self.audit.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsUseForThisAccountOnly",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{Aws.PARTITION}:logs:{region}:{Aws.ACCOUNT_ID}:*"
                    }
                },
            )
        )
        self.audit.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptForThisAccountOnly",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": (
                            f"arn:{Aws.PARTITION}:cloudtrail:*:{Aws.ACCOUNT_ID}:trail/*"
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        self.audit.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.audit.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribeKey",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
