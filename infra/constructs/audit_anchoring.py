"""Audit anchoring: signed, object-locked anchors of the hash-chained audit log.

The anchoring function (``functions/audit_anchor``) runs every ``audit_checkpoint_minutes`` on
EventBridge Scheduler; failed asynchronous invocations go to a dead-letter queue. It is the only
principal the anchor key's policy lets sign, and the only writer of the anchors bucket, whose
Object Lock in compliance mode keeps every version for ``audit_anchor_lock_days``.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from callguard.names import Env
from infra.constructs.platform import Platform
from infra.constructs.schedule import run_on_schedule
from infra.constructs.secure_storage import LoggedBucket
from infra.grants import apply_grants
from infra.nag import acknowledge, logical_id

__all__ = ["AuditAnchoring"]


class AuditAnchoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform, alarm_topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        settings, keys, data = platform.settings, platform.keys, platform.data
        self.bucket = LoggedBucket(
            self,
            "Anchors",
            key=keys.audit,
            access_logs=data.access_logs,
            log_prefix="anchors/",
            removal=platform.removal,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(
                Duration.days(settings.audit_anchor_lock_days)
            ),
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.audit_anchor_lock_days + 1),
                    noncurrent_version_expiration=Duration.days(settings.audit_anchor_lock_days + 1),
                )
            ],
        )
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
        scheduled = run_on_schedule(
            self,
            "Checkpoints",
            platform=platform,
            fn=fn,
            expression=scheduler.ScheduleExpression.rate(Duration.minutes(settings.audit_checkpoint_minutes)),
            description="callguard audit anchoring: close past days, checkpoint today",
            role_reason="The schedule target grants this role lambda:InvokeFunction on the anchoring function and "
            "its versions only (the ':*' suffix) and SendMessage on its dead-letter queue; the policy belongs to "
            "this one role.",
            errors_period=Duration.hours(1),
            errors_description="The audit anchoring failed: the chain may be broken or anchors are not being signed.",
            anchor="audit-anchoring-failed",
            topic=alarm_topic,
        )
        self.dlq, self.schedule = scheduled.dlq, scheduled.schedule
        # after on_failure: the function's policy lists the queue first, then the grants table's row
        apply_grants(fn, "audit_anchor", platform, anchors=self.bucket)
        keys.allow_anchor_signing(fn.role)
        acknowledge(
            fn.policy,
            "Anchors are written under days/ and checkpoints/<day>/ with names the function derives at run "
            "time; the bucket holds nothing else and its objects cannot be deleted (Object Lock, compliance).",
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
        )
