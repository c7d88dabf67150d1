"""CloudTrail: management events plus data events on every project bucket and table."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from callguard.retention.policy import DataCategory
from infra.config import Settings
from infra.constructs.keys import ProjectKeys
from infra.constructs.secure_storage import LoggedBucket
from infra.nag import acknowledge

__all__ = ["AuditTrail"]


class AuditTrail(Construct):
    """A trail with log-file validation, KMS-encrypted logs and CloudWatch Logs delivery.

    The trail bucket has S3 Object Lock (governance mode) so delivered log files cannot
    be overwritten or deleted inside the lock period, and a lifecycle that expires them
    after the audit retention period.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        keys: ProjectKeys,
        settings: Settings,
        access_logs: s3.IBucket,
        buckets: Sequence[s3.IBucket],
        tables: Sequence[dynamodb.ITableV2],
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        audit_days = settings.retention.days(DataCategory.AUDIT)
        self.bucket = LoggedBucket(
            self,
            "TrailBucket",
            key=keys.audit,
            ownership=None,
            access_logs=access_logs,
            log_prefix="trail/",
            removal=removal,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.governance(
                Duration.days(settings.trail_object_lock_days)
            ),
            lifecycle_rules=[
                s3.LifecycleRule(
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transition_after=Duration.days(90)
                        )
                    ],
                    expiration=Duration.days(audit_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
        )
        self.log_group = logs.LogGroup(
            self,
            "TrailLogs",
            encryption_key=keys.audit,
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=removal,
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            encryption_key=keys.audit,
            enable_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=True,  # copying data out through another region is recorded too
            send_to_cloud_watch_logs=True,
            cloud_watch_log_group=self.log_group,
            management_events=cloudtrail.ReadWriteType.ALL,
        )
        # Data events on DynamoDB need advanced event selectors, and a trail cannot mix
        # basic and advanced selectors: so all selectors are advanced ones.
        cfn = self.trail.node.default_child
        if not isinstance(cfn, cloudtrail.CfnTrail):
            raise TypeError("the trail's default child is not a CfnTrail")
        cfn.event_selectors = None
        cfn.advanced_event_selectors = [
            _selector("Management events", "Management"),
            _selector("S3 data events on callguard buckets", "Data", "AWS::S3::Object",
                      starts_with=[f"{b.bucket_arn}/" for b in buckets]),
            _selector("DynamoDB data events on callguard tables", "Data", "AWS::DynamoDB::Table",
                      equal_to=[t.table_arn for t in tables]),
        ]  # fmt: skip
        acknowledge(
            self.trail.node.find_child("LogsRole"),
            "CloudTrail's delivery role is created by the Trail construct with one statement (CreateLogStream/"
            "PutLogEvents on this trail's log group only).",
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "HIPAA.Security-IAMNoInlinePolicy",
        )
        acknowledge(
            self.log_group,
            "CloudTrail delivers into this group; its 1-year hot copy complements the object-locked S3 "
            "trail that holds the full audit retention period.",
            "NIST.800.53.R5-CloudWatchLogGroupRetentionPeriod",
        )


_Field = cloudtrail.CfnTrail.AdvancedFieldSelectorProperty


def _selector(
    name: str, category: str, resource_type: str | None = None, **arns: list[str]
) -> cloudtrail.CfnTrail.AdvancedEventSelectorProperty:
    """Events of ``category``; data events only on ``resource_type`` resources whose ARN matches ``arns``
    (``equal_to=`` or ``starts_with=``)."""
    fields = [_Field(field="eventCategory", equal_to=[category])]
    if resource_type:
        fields += [_Field(field="resources.type", equal_to=[resource_type]), _Field(field="resources.ARN", **arns)]
    return cloudtrail.CfnTrail.AdvancedEventSelectorProperty(name=name, field_selectors=fields)
