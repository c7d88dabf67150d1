"""Retention capability: the nightly purge per data category (Art. 5(1)(e)), its schedule and alarms.

The construct is ``NightlyPurge``; the domain service the function runs is
``callguard.retention.purge.RetentionPurge``."""

from __future__ import annotations

from aws_cdk import Duration, TimeZone
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from callguard.names import METRICS_NAMESPACE, SERVICE_NAME, Env
from infra.constructs.data_access import acknowledge_subject_objects
from infra.constructs.operations import runbook_alarm
from infra.constructs.platform import Platform
from infra.constructs.schedule import run_on_schedule
from infra.grants import apply_grants

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
        settings = platform.settings
        self.handler = fn = platform.function(
            self, "Purge", name="purge", env=_ENV, memory_mb=1024, timeout_seconds=900, synchronous=False,
            reserved_concurrency=1,  # one run at a time; the next hourly run carries on
            extra_env={Env.AUDIT_ANCHORS_BUCKET.value: anchors.bucket_name},
        )  # fmt: skip
        apply_grants(fn, "purge", platform, anchors=anchors)
        acknowledge_subject_objects(
            fn,
            platform.data,
            "Transcripts and exports are keyed by subject under fixed prefixes; the purge removes every version "
            "of the expired objects, which the expiry index names at run time.",
            tenants=platform.settings.multi_tenant,
        )
        scheduled = run_on_schedule(
            self,
            "Nightly",
            platform=platform,
            fn=fn,
            expression=scheduler.ScheduleExpression.cron(
                minute="15", hour=settings.purge_hours, time_zone=TimeZone.EUROPE_BERLIN
            ),
            description="callguard retention purge (Art. 5(1)(e) GDPR)",
            role_reason="The schedule target grants this role lambda:InvokeFunction on the purge function and its "
            "versions only (the ':*' suffix); the policy belongs to this one role.",
            errors_period=Duration.days(1),
            errors_description="The retention purge failed; expired personal data may be kept too long.",
            anchor="purge-failed",
            topic=alarm_topic,
        )
        self.dlq, self.schedule = scheduled.dlq, scheduled.schedule
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
