"""A function run on an EventBridge Scheduler schedule: its dead-letter queue, the schedule and its role,
and the alarm on its errors — the same for every scheduled capability (the nightly purge, audit anchoring).

The helper builds into the capability's own scope with fixed construct ids (``Failures``,
``ScheduleRole``, ``Errors`` and the schedule's id), so the resources keep the logical ids they had
when each construct built them itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.function import CallguardFunction
from infra.constructs.operations import runbook_alarm
from infra.constructs.platform import Platform
from infra.nag import acknowledge, logical_id

__all__ = ["Scheduled", "run_on_schedule"]


@dataclass(frozen=True)
class Scheduled:
    #: failed asynchronous invocations and undeliverable schedule events
    dlq: sqs.Queue
    schedule: scheduler.Schedule


def run_on_schedule(
    scope: Construct,
    schedule_id: str,
    *,
    platform: Platform,
    fn: CallguardFunction,
    expression: scheduler.ScheduleExpression,
    description: str,
    role_reason: str,
    errors_period: Duration,
    errors_description: str,
    anchor: str,
    topic: sns.ITopic,
) -> Scheduled:
    """Invoke ``fn`` on ``expression`` (two retries within an hour, then the dead-letter queue), send its
    failed asynchronous invocations to the same queue and alarm on any error within ``errors_period``.

    ``role_reason`` says why the schedule role's one inline policy (invoke on the function and its
    versions, send to the queue) is acceptable; it is acknowledged on that role only.
    """
    dlq = platform.failure_queue(scope, "Failures")
    fn.on_failure(dlq)
    role = iam.Role(scope, "ScheduleRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
    schedule = scheduler.Schedule(
        scope,
        schedule_id,
        description=description,
        schedule=expression,
        target=scheduler_targets.LambdaInvoke(
            fn.function,
            role=role,
            input=scheduler.ScheduleTargetInput.from_object({}),
            retry_attempts=2,
            max_event_age=Duration.hours(1),
            dead_letter_queue=dlq,
        ),
    )
    schedule.node.add_dependency(role)  # the role's policy (lambda:InvokeFunction) exists first
    acknowledge(
        role,
        role_reason,
        f"AwsSolutions-IAM5[Resource::<{logical_id(fn.function)}.Arn>:*]",
        "HIPAA.Security-IAMNoInlinePolicy",
        "NIST.800.53.R5-IAMNoInlinePolicy",
    )
    runbook_alarm(
        scope,
        "Errors",
        metric=fn.function.metric_errors(period=errors_period, statistic="Sum"),
        description=errors_description,
        anchor=anchor,
        topic=topic,
    )
    return Scheduled(dlq=dlq, schedule=schedule)
