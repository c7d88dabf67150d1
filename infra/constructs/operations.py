"""Operations: one alarm topic and the alarms an on-call engineer acts on, each with its runbook.

Every alarm's description names its section in ``docs/runbooks.md`` (a test checks that each
section exists). Capability constructs that own a metric (the purge, the deadline check) raise
their alarms on :attr:`Operations.topic` too.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.function import CallguardFunction
from infra.constructs.keys import ProjectKeys
from infra.constructs.secure_storage import SecureTable

__all__ = ["RUNBOOK", "Operations"]

RUNBOOK = "docs/runbooks.md"


def runbook(anchor: str) -> str:
    return f"Runbook: {RUNBOOK}#{anchor}"


class Operations(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, keys: ProjectKeys, emails: Sequence[str] = ()) -> None:
        super().__init__(scope, construct_id)
        #: on-call subscribes here (e-mail from settings; chat or ticketing integrations alike)
        self.topic = sns.Topic(
            self, "Alarms", master_key=keys.audit, enforce_ssl=True, display_name="callguard operations alarms"
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.alarms: dict[str, cw.Alarm] = {}

    def alarm(self, name: str, anchor: str, alarm: cw.Alarm) -> cw.Alarm:
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm
        return alarm

    def watch_queue(self, dlq: sqs.IQueue) -> None:
        self.alarm(
            "AnalysisDlqNotEmpty",
            "analysis-dlq-not-empty",
            cw.Alarm(
                self,
                "AnalysisDlqNotEmpty",
                metric=dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="Calls failed analysis after every retry and wait in the DLQ. "
                + runbook("analysis-dlq-not-empty"),
            ),
        )

    def watch_api(self, api_name: str, stage: str) -> None:
        def metric(name: str, statistic: str) -> cw.Metric:
            return cw.Metric(
                namespace="AWS/ApiGateway",
                metric_name=name,
                dimensions_map={"ApiName": api_name, "Stage": stage},
                statistic=statistic,
                period=Duration.minutes(5),
            )

        self.alarm(
            "Api5xxRate",
            "api-5xx-rate",
            cw.Alarm(
                self,
                "Api5xxRate",
                # the Average of 5XXError is the share of requests answered with a 5xx
                metric=metric("5XXError", "Average"),
                threshold=0.01,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="More than 1% of API requests failed with a 5xx. " + runbook("api-5xx-rate"),
            ),
        )
        self.alarm(
            "ApiLatencyP99",
            "api-latency",
            cw.Alarm(
                self,
                "ApiLatencyP99",
                metric=metric("Latency", "p99"),
                threshold=3000,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="API p99 latency above 3 s for 15 minutes. " + runbook("api-latency"),
            ),
        )

    def watch_throttles(self, functions: Sequence[CallguardFunction], tables: Sequence[SecureTable]) -> None:
        lambda_metrics = {
            f"f{i}": fn.function.metric_throttles(period=Duration.minutes(5), statistic="Sum")
            for i, fn in enumerate(functions)
        }
        self.alarm(
            "LambdaThrottles",
            "throttles",
            cw.Alarm(
                self,
                "LambdaThrottles",
                metric=cw.MathExpression(
                    expression=" + ".join(lambda_metrics), using_metrics=lambda_metrics, period=Duration.minutes(5)
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="Request-path functions were throttled (callers saw 429/5xx or retries). "
                + runbook("throttles"),
            ),
        )
        table_metrics: dict[str, cw.IMetric] = {}
        for i, table in enumerate(tables):
            for kind in ("ReadThrottleEvents", "WriteThrottleEvents"):
                table_metrics[f"t{i}{kind[0].lower()}"] = cw.Metric(
                    namespace="AWS/DynamoDB",
                    metric_name=kind,
                    dimensions_map={"TableName": table.table_name},
                    statistic="Sum",
                    period=Duration.minutes(5),
                )
        self.alarm(
            "DynamoDbThrottles",
            "throttles",
            cw.Alarm(
                self,
                "DynamoDbThrottles",
                metric=cw.MathExpression(
                    expression=" + ".join(table_metrics), using_metrics=table_metrics, period=Duration.minutes(5)
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="DynamoDB throttled reads or writes of the request path. " + runbook("throttles"),
            ),
        )

    def watch_workflow(self, machine: sfn.IStateMachine) -> None:
        self.alarm(
            "PrivacyWorkflowFailed",
            "privacy-workflow-failed",
            cw.Alarm(
                self,
                "PrivacyWorkflowFailed",
                metric=machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description="A privacy request ended `failed`; the one-month deadline keeps running. "
                + runbook("privacy-workflow-failed"),
            ),
        )
