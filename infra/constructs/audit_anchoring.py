"""Audit anchoring: signed, object-locked anchors of the hash-chained audit log.

The anchoring function (``functions/audit_anchor``) runs every ``audit_checkpoint_minutes`` on
EventBridge Scheduler; failed asynchronous invocations go to a dead-letter queue. It is the only
principal the anchor key's policy lets sign, and the only writer of the anchors bucket, whose
Object Lock in compliance mode keeps every version for ``audit_anchor_lock_days``.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from callguard.names import Env
from infra.constructs.operations import runbook_alarm
from infra.constructs.platform import Platform
from infra.constructs.secure_storage import acknowledge_residency
from infra.grants import apply_grants
from infra.nag import acknowledge, logical_id

__all__ = ["AuditAnchoring"]


class AuditAnchoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform, alarm_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        settings, keys, data = platform.settings, platform.keys, platform.data
        self.bucket = s3.Bucket(
            self,
            "Anchors",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=keys.audit,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(
                Duration.days(settings.audit_anchor_lock_days)
            ),
            server_access_logs_bucket=data.access_logs,
            server_access_logs_prefix="anchors/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.audit_anchor_lock_days + 1),
                    noncurrent_version_expiration=Duration.days(settings.audit_anchor_lock_days + 1),
                )
            ],
            removal_policy=platform.removal,
        )
        acknowledge_residency(self.bucket)
        self.dlq = platform.failure_queue(self, "Failures")
        self.handler = fn = platform.function(
            self,
            "Anchor",
            name="audit_anchor",
            env=(Env.AUDIT_TABLE, Env.RETENTION),
            extra_env={
                Env.AUDIT_ANCHORS_BUCKET.value: self.bucket.bucket_name,
                Env.AUDIT_ANCHOR_KEY_ID.value: keys.audit_anchor.key_arn,
            },
            timeout_seconds=60,  # a long catch-up goes on at the next run: every closed day is kept
            synchronous=False,
            reserved_concurrency=1,  # one run at a time: two runs would sign the same day twice
        )
        fn.on_failure(self.dlq)
        apply_grants(fn, "audit_anchor", platform, anchors=self.bucket)
        keys.allow_anchor_signing(fn.role)
        role = iam.Role(self, "ScheduleRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
        self.schedule = scheduler.Schedule(
            self,
            "Checkpoints",
            description="callguard audit anchoring: close past days, checkpoint today",
            schedule=scheduler.ScheduleExpression.rate(Duration.minutes(settings.audit_checkpoint_minutes)),
            target=scheduler_targets.LambdaInvoke(
                fn.function,
                role=role,
                input=scheduler.ScheduleTargetInput.from_object({}),
                retry_attempts=2,
                max_event_age=Duration.hours(1),
                dead_letter_queue=self.dlq,
            ),
        )
        self.schedule.node.add_dependency(role)  # the role's policy (lambda:InvokeFunction) exists first
        acknowledge(
            role,
            "The schedule target grants this role lambda:InvokeFunction on the anchoring function and its "
            "versions only (the ':*' suffix) and SendMessage on its dead-letter queue; the policy belongs to "
            "this one role.",
            f"AwsSolutions-IAM5[Resource::<{logical_id(fn.function)}.Arn>:*]",
            "HIPAA.Security-IAMNoInlinePolicy",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        acknowledge(
            fn.policy,
            "Anchors are written under days/ and checkpoints/<day>/ with names the function derives at run "
            "time; the bucket holds nothing else and its objects cannot be deleted (Object Lock, compliance).",
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
        )
        runbook_alarm(
            self,
            "Errors",
            metric=fn.function.metric_errors(period=Duration.hours(1), statistic="Sum"),
            description="The audit anchoring failed: the chain may be broken or anchors are not being signed.",
            anchor="audit-anchoring-failed",
            topic=alarm_topic,
        )
