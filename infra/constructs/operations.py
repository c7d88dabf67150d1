"""Operations: one alarm topic and the alarms an on-call engineer acts on, each with its runbook.

Every alarm's description names its section in ``docs/runbooks.md`` (a test checks that each
section exists). Capability constructs that own a metric (the purge, the deadline check) raise
their alarms on :attr:`Operations.topic` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.function import CallguardFunction
from infra.constructs.keys import ProjectKeys
from infra.constructs.secure_storage import SecureTable

__all__ = ["RUNBOOK", "Operations", "alarm_topic", "runbook_alarm"]

RUNBOOK = "docs/runbooks.md"

_GTE = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
_FIVE_MINUTES = Duration.minutes(5)


def alarm_topic(scope: Construct, construct_id: str, *, key: kms.IKey, display_name: str) -> sns.Topic:
    """A KMS-encrypted, TLS-only topic that this account's CloudWatch alarms may publish to.

    A topic policy replaces SNS's default policy, so the TLS-deny statement alone would leave
    ``cloudwatch.amazonaws.com`` with no ``sns:Publish`` at all: the statement below allows it,
    for alarms of this account only (the confused-deputy conditions AWS recommends).
    """
    topic = sns.Topic(scope, construct_id, master_key=key, enforce_ssl=True, display_name=display_name)
    stack = Stack.of(scope)
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchAlarmsOfThisAccountPublish",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{stack.region}:{Aws.ACCOUNT_ID}:alarm:*"},
            },
        )
    )
    return topic


def runbook_alarm(
    scope: Construct,
    construct_id: str,
    *,
    metric: cw.IMetric,
    description: str,
    anchor: str,
    topic: sns.ITopic,
    threshold: float = 1,
    comparison: cw.ComparisonOperator = _GTE,
    evaluation_periods: int = 1,
    datapoints_to_alarm: int | None = None,
    missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
) -> cw.Alarm:
    """An alarm that notifies ``topic`` and names its section ``anchor`` of the runbooks."""
    alarm = cw.Alarm(
        scope,
        construct_id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        comparison_operator=comparison,
        treat_missing_data=missing,
        alarm_description=f"{description} Runbook: {RUNBOOK}#{anchor}",
    )
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    return alarm


def _sum(metrics: dict[str, cw.IMetric]) -> cw.MathExpression:
    return cw.MathExpression(expression=" + ".join(metrics), using_metrics=metrics, period=_FIVE_MINUTES)


class Operations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        keys: ProjectKeys,
        emails: Sequence[str] = (),
        tenant_emails: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        #: on-call subscribes here (e-mail from settings; chat or ticketing integrations alike)
        self.topic = alarm_topic(self, "Alarms", key=keys.audit, display_name="callguard operations alarms")
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        #: each listed tenant's own alarm topic with its ``alarm_emails`` (the default tenant's contacts
        #: are v1's, on :attr:`topic`); :meth:`notify_tenants` puts every alarm of the stack on them
        self.tenant_topics: dict[str, sns.Topic] = {}
        for tenant, addresses in (tenant_emails or {}).items():
            topic = alarm_topic(
                Construct(self, f"Tenant-{tenant}"),
                "Alarms",
                key=keys.audit,
                display_name=f"callguard operations alarms for tenant {tenant}",
            )
            for email in addresses:
                topic.add_subscription(subscriptions.EmailSubscription(email))
            self.tenant_topics[tenant] = topic

    def notify_tenants(self) -> None:
        """Once every alarm exists: each also notifies every listed tenant's topic, in alarm and when
        it clears. The alarms watch what all controllers share (queues, API, functions, tables, the
        workflow), so each controller hears of an incident of its processor (Art. 28(3)(f), 33(2)
        GDPR); alarm descriptions name a runbook, never personal data."""
        if not self.tenant_topics:
            return
        alarms = sorted(
            (c for c in Stack.of(self).node.find_all() if isinstance(c, cw.Alarm)), key=lambda c: c.node.path
        )
        for alarm in alarms:
            for topic in self.tenant_topics.values():
                alarm.add_alarm_action(cw_actions.SnsAction(topic))
                alarm.add_ok_action(cw_actions.SnsAction(topic))

    def alarm(self, construct_id: str, **kwargs: Any) -> cw.Alarm:
        """A :func:`runbook_alarm` on the operations topic that also reports when it clears."""
        alarm = runbook_alarm(self, construct_id, topic=self.topic, **kwargs)
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        return alarm

    def watch_queue(self, dlq: sqs.IQueue) -> None:
        self.alarm(
            "AnalysisDlqNotEmpty",
            metric=dlq.metric_approximate_number_of_messages_visible(period=_FIVE_MINUTES, statistic="Maximum"),
            description="Calls failed analysis after every retry and wait in the DLQ.",
            anchor="analysis-dlq-not-empty",
        )

    def watch_failures(self, name: str, dlq: sqs.IQueue) -> None:
        """A scheduled function's dead-letter queue: any failed asynchronous invocation alarms."""
        self.alarm(
            f"{name}FailuresNotEmpty",
            metric=dlq.metric_approximate_number_of_messages_visible(period=_FIVE_MINUTES, statistic="Maximum"),
            description=f"A scheduled run of {name} failed after every retry; its event waits in the DLQ.",
            anchor="scheduled-failures",
        )

    def watch_api(self, api_name: str, stage: str) -> None:
        def metric(name: str, statistic: str) -> cw.Metric:
            return cw.Metric(
                namespace="AWS/ApiGateway",
                metric_name=name,
                dimensions_map={"ApiName": api_name, "Stage": stage},
                statistic=statistic,
                period=_FIVE_MINUTES,
            )

        self.alarm(
            "Api5xxRate",
            # the Average of 5XXError is the share of requests answered with a 5xx
            metric=metric("5XXError", "Average"),
            threshold=0.01,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description="More than 1% of API requests failed with a 5xx.",
            anchor="api-5xx-rate",
        )
        self.alarm(
            "ApiLatencyP99",
            metric=metric("Latency", "p99"),
            threshold=3000,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            description="API p99 latency above 3 s for 15 minutes.",
            anchor="api-latency",
        )

    def watch_throttles(self, functions: Sequence[CallguardFunction], tables: Sequence[SecureTable]) -> None:
        self.alarm(
            "LambdaThrottles",
            metric=_sum(
                {
                    f"f{i}": fn.function.metric_throttles(period=_FIVE_MINUTES, statistic="Sum")
                    for i, fn in enumerate(functions)
                }
            ),
            description="Request-path functions were throttled (callers saw 429/5xx or retries).",
            anchor="throttles",
        )
        self.alarm(
            "DynamoDbThrottles",
            metric=_sum(
                {
                    f"t{i}{kind[0].lower()}": cw.Metric(
                        namespace="AWS/DynamoDB",
                        metric_name=kind,
                        dimensions_map={"TableName": table.table_name},
                        statistic="Sum",
                        period=_FIVE_MINUTES,
                    )
                    for i, table in enumerate(tables)
                    for kind in ("ReadThrottleEvents", "WriteThrottleEvents")
                }
            ),
            description="DynamoDB throttled reads or writes of the request path.",
            anchor="throttles",
        )

    def watch_workflow(self, machine: sfn.IStateMachine) -> None:
        self.alarm(
            "PrivacyWorkflowFailed",
            metric=machine.metric_failed(period=_FIVE_MINUTES, statistic="Sum"),
            description="A privacy request ended `failed`; the one-month deadline keeps running.",
            anchor="privacy-workflow-failed",
        )
