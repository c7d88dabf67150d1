"""Analysis capability: analysis queue → analyze function → Comprehend → analysis items."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from callguard.names import GSI_BY_SUBJECT, Env
from infra.constructs.data_access import allow_read_transcripts, allow_table_key, allow_unseal
from infra.constructs.platform import Platform
from infra.grants import Cond, conditions
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
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        settings, data, keys = platform.settings, platform.data, platform.keys
        endpoint = settings.intent_classifier_endpoint_arn
        self.handler = platform.function(
            self,
            "Analyze",
            name="analyze",
            memory_mb=1024,
            # the queue's visibility timeout is six times the function's, as AWS advises for SQS sources
            timeout_seconds=max(10, settings.queue.visibility_timeout_seconds // 6),
            synchronous=False,
            reserved_concurrency=settings.analysis_reserved_concurrency,
            env=(
                Env.CALLS_TABLE,
                Env.SUBJECTS_TABLE,
                Env.KEYS_TABLE,
                Env.TRANSCRIPTS_BUCKET,
                Env.DATA_KEY_ID,
                Env.RETENTION,
                Env.DEFAULT_PHONE_REGION,
                Env.INTENTS,
                Env.FOLLOWUP_DUE_HOURS,
                Env.IMPORT_REUSE_SENTIMENT,
            ),
            extra_env={Env.INTENT_CLASSIFIER_ENDPOINT.value: endpoint} if endpoint else None,
        )
        fn = self.handler
        fn.allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [data.calls.table_arn])
        # a resolved call closes the subject's open follow-ups, found through the by-subject index
        fn.allow(["dynamodb:Query"], [f"{data.calls.table_arn}/index/{GSI_BY_SUBJECT}"])
        fn.allow(["dynamodb:GetItem"], [data.subjects.table_arn])
        allow_unseal(fn, data, keys)
        allow_table_key(fn, keys)  # calls, subjects and subject keys are encrypted with the data key
        allow_read_transcripts(fn, data, keys, tenants=platform.settings.multi_tenant)
        queue = data.analysis_queue
        fn.allow(["kms:Decrypt"], [keys.data.key_arn], conditions(Cond.VIA_SQS, Stack.of(self).region))
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
        fn.add_event_source(
            sources.SqsEventSource(
                queue,
                batch_size=settings.queue.batch_size,
                report_batch_item_failures=True,
                max_concurrency=settings.analysis_max_concurrency,
            )
        )
