"""Ingestion capability: ``POST /v1/calls`` → ingest function → tables, bucket, queue."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from callguard.names import ROUTES, Env
from infra.api_contract import request_model
from infra.constructs.data_access import allow_table_key, transcript_prefixes
from infra.constructs.platform import STORE_CALL_ENV, Platform
from infra.grants import Cond, conditions
from infra.nag import acknowledge, objects_wildcard

__all__ = ["IngestApi"]


class IngestApi(Construct):
    """Owns the ingest function (calls and live segments), its least-privilege grants and routes."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        data, keys = platform.data, platform.keys
        self.handler = platform.function(
            self,
            "Ingest",
            name="ingest",
            memory_mb=1024,
            timeout_seconds=15,
            env=(*STORE_CALL_ENV, Env.IDEMPOTENCY_TABLE, Env.IDEMPOTENCY_TTL_SECONDS, Env.INTENTS, Env.ROUTING),
            snap_start=True,  # latency-sensitive API (calls and live segments): docs/benchmarks.md, SnapStart
        )
        fn = self.handler.invocable
        allow = self.handler.allow
        # Least privilege: exactly the calls the ingest path makes, on exactly its resources.
        # live segments also read the resolution statistics (Query) and the subject's profile (GetItem)
        # DeleteItem: the transcript marker is removed again when storing the call fails (nothing half-written)
        # BatchGetItem on calls, subjects and keys: an ingest reads the call, the identifiers' links and
        # rights, the subject's profile and its wrapped key in one consistent BatchGetItem
        allow(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
                "dynamodb:DeleteItem",
            ],
            [data.calls.table_arn],
        )
        allow(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [data.subjects.table_arn],
        )
        allow(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"], [data.subject_keys.table_arn])
        allow(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            [data.idempotency.table_arn],
        )
        prefixes = transcript_prefixes(tenants=platform.settings.multi_tenant)  # a listed tenant's: tenants/<id>/
        transcripts = [data.transcripts.arn_for_objects(f"{prefix}*") for prefix in prefixes]
        allow(["s3:PutObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion"], transcripts)
        allow(["sqs:SendMessage"], [data.analysis_queue.queue_arn])
        region = Stack.of(self).region
        allow_table_key(self.handler, keys)  # every table it writes is encrypted with the data key
        for condition in (Cond.SUBJECT_CONTEXT, Cond.VIA_S3, Cond.VIA_SQS):  # subject keys, transcripts, the queue
            allow(["kms:GenerateDataKey", "kms:Decrypt"], [keys.data.key_arn], conditions(condition, region))
        allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
        allow(["comprehend:DetectDominantLanguage", "comprehend:BatchDetectSentiment"], ["*"])
        acknowledge(
            self.handler.policy,
            "Transcript objects are keyed transcripts/<subject>/<call>; the function writes new ones and may "
            "only remove the version it just wrote when the call item write fails.",
            *(objects_wildcard(data.transcripts, prefix) for prefix in prefixes),
        )
        acknowledge(
            self.handler.policy,
            "Comprehend's real-time detection APIs do not support resource-level permissions; only language "
            "detection and sentiment of live customer turns are allowed.",
            "AwsSolutions-IAM5[Resource::*]",
        )

        self.methods = [
            platform.api.add_route(route, fn, body_model=request_model(route))
            for route in ROUTES
            if route.function == "ingest"
        ]
