"""Retention capability: the nightly purge per data category (Art. 5(1)(e)), its schedule and alarms.

The construct is ``NightlyPurge``; the domain service the function runs is
``callguard.retention.purge.RetentionPurge``."""

from __future__ import annotations

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from callguard.names import METRICS_NAMESPACE, SERVICE_NAME, Env
from infra.constructs.operations import runbook_alarm
from infra.constructs.platform import Platform
from infra.grants import apply_grants
from infra.nag import acknowledge, logical_id, objects_wildcard

__all__ = ["NightlyPurge"]

_ENV = (
    Env.CALLS_TABLE,
    Env.SUBJECTS_TABLE,
    Env.KEYS_TABLE,
    Env.IDEMPOTENCY_TABLE,
    Env.PRIVACY_TABLE,
    Env.AUDIT_TABLE,
    Env.TRANSCRIPTS_BUCKET,
    Env.EXPORTS_BUCKET,
    Env.DATA_KEY_ID,
    Env.RETENTION,
)


class NightlyPurge(Construct):
    """The purge function, run hourly through the Europe/Berlin night; each run carries on
    where the last stopped, so one night absorbs a backlog far beyond one invocation."""

    def __init__(
        self, scope: Construct, construct_id: str, *, platform: Platform, alarm_topic: sns.ITopic, anchors: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        data, settings = platform.data, platform.settings
        self.handler = fn = platform.function(
            self, "Purge", name="purge", env=_ENV, memory_mb=1024, timeout_seconds=900, synchronous=False,
            reserved_concurrency=1,  # one run at a time; the next hourly run carries on
            extra_env={Env.AUDIT_ANCHORS_BUCKET.value: anchors.bucket_name},
        )  # fmt: skip
        apply_grants(fn, "purge", platform, anchors=anchors)
        self.dlq = platform.failure_queue(self, "Failures")
        fn.on_failure(self.dlq)
        acknowledge(
            fn.policy,
            "Transcripts and exports are keyed by subject under fixed prefixes; the purge removes every version "
            "of the expired objects, which the expiry index names at run time.",
            objects_wildcard(data.exports, "exports/"),
            objects_wildcard(data.transcripts, "transcripts/"),
        )
        role = iam.Role(self, "ScheduleRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
        self.schedule = scheduler.Schedule(
            self,
            "Nightly",
            description="callguard retention purge (Art. 5(1)(e) GDPR)",
            schedule=scheduler.ScheduleExpression.cron(
                minute="15", hour=settings.purge_hours, time_zone=TimeZone.EUROPE_BERLIN
            ),
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
            "The schedule target grants this role lambda:InvokeFunction on the purge function and its "
            "versions only (the ':*' suffix); the policy belongs to this one role.",
            f"AwsSolutions-IAM5[Resource::<{logical_id(fn.function)}.Arn>:*]",
            "HIPAA.Security-IAMNoInlinePolicy",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        runbook_alarm(
            self,
            "Errors",
            metric=fn.function.metric_errors(period=Duration.days(1), statistic="Sum"),
            description="The retention purge failed; expired personal data may be kept too long.",
            anchor="purge-failed",
            topic=alarm_topic,
        )
        runbook_alarm(
            self,
            "Incomplete",
            metric=cw.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="PurgeComplete",
                dimensions_map={"service": f"{SERVICE_NAME}-purge"},
                statistic="Maximum",
                period=Duration.days(1),
            ),
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cw.TreatMissingData.BREACHING,
            description="No retention purge run completed in the last day (or none ran at all).",
            anchor="purge-failed",
            topic=alarm_topic,
        )
