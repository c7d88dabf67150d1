"""Analysis capability: analysis queue → analyze function → Comprehend → analysis items."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from callguard.names import Env
from infra.config import Settings
from infra.constructs.data_access import allow_read_transcripts, allow_unseal
from infra.constructs.data_plane import DataPlane
from infra.constructs.function import CallguardFunction, SharedLayers
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge

__all__ = ["COMPREHEND_ACTIONS", "CallAnalysis"]

COMPREHEND_ACTIONS = [
    "comprehend:DetectDominantLanguage",
    "comprehend:BatchDetectSentiment",
    "comprehend:BatchDetectKeyPhrases",
    "comprehend:BatchDetectEntities",
    "comprehend:DetectPiiEntities",
]


class CallAnalysis(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        keys: ProjectKeys,
        data: DataPlane,
        layers: SharedLayers,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        timeout = max(10, settings.queue.visibility_timeout_seconds // 6)
        self.handler = CallguardFunction(
            self,
            "Analyze",
            name="analyze",
            layers=layers,
            log_key=keys.audit,
            log_retention_days=settings.log_retention_days,
            memory_mb=1024,
            timeout_seconds=timeout,
            synchronous=False,
            environment={
                Env.CALLS_TABLE.value: data.calls.table_name,
                Env.SUBJECTS_TABLE.value: data.subjects.table_name,
                Env.KEYS_TABLE.value: data.subject_keys.table_name,
                Env.TRANSCRIPTS_BUCKET.value: data.transcripts.bucket_name,
                Env.DATA_KEY_ID.value: keys.data.key_arn,
                Env.RETENTION.value: settings.retention.to_env(),
                Env.DEFAULT_PHONE_REGION.value: settings.default_phone_region,
                Env.INTENTS.value: settings.intents.to_env(),
                Env.FOLLOWUP_DUE_HOURS.value: str(settings.followup_due_hours),
                **(
                    {Env.INTENT_CLASSIFIER_ENDPOINT.value: settings.intent_classifier_endpoint_arn}
                    if settings.intent_classifier_endpoint_arn
                    else {}
                ),
            },
            removal=removal,
        )
        fn = self.handler
        fn.allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [data.calls.table_arn])
        fn.allow(["dynamodb:GetItem"], [data.subjects.table_arn])
        allow_unseal(fn, data, keys)
        allow_read_transcripts(fn, data)
        queue = data.analysis_queue
        fn.allow(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            [queue.queue_arn],
        )
        fn.allow(COMPREHEND_ACTIONS, ["*"])
        if settings.intent_classifier_endpoint_arn:
            fn.allow(["comprehend:ClassifyDocument"], [settings.intent_classifier_endpoint_arn])
        acknowledge(
            fn.policy,
            "Comprehend's real-time detection APIs (DetectDominantLanguage, Batch*, DetectPiiEntities) do not "
            "support resource-level permissions; the statement lists exactly those five actions.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        acknowledge(
            fn,
            "Invoked by the SQS event source mapping: failed messages return to the queue and move to its DLQ "
            "after maxReceiveCount, so a function-level DLQ would never receive them.",
            "NIST.800.53.R5-LambdaDLQ",
            "HIPAA.Security-LambdaDLQ",
        )
        fn.function.add_event_source(
            sources.SqsEventSource(
                queue,
                batch_size=settings.queue.batch_size,
                report_batch_item_failures=True,
                max_concurrency=settings.analysis_max_concurrency,
            )
        )
