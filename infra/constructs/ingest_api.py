"""Ingestion capability: ``POST /v1/calls`` → ingest function → tables, bucket, queue."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from constructs import Construct
from pydantic import BaseModel

from callguard.models import CallIn, LiveSegments
from callguard.names import ROUTES, Env
from infra.config import Settings
from infra.constructs.api import PublicApi
from infra.constructs.data_plane import DataPlane
from infra.constructs.function import CallguardFunction, SharedLayers
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge

__all__ = ["IngestApi"]


class IngestApi(Construct):
    """Owns the ingest function, its least-privilege grants and its route."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        keys: ProjectKeys,
        data: DataPlane,
        layers: SharedLayers,
        api: PublicApi,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = CallguardFunction(
            self,
            "Ingest",
            name="ingest",
            layers=layers,
            log_key=keys.audit,
            log_retention_days=settings.log_retention_days,
            memory_mb=1024,
            timeout_seconds=15,
            environment={
                Env.CALLS_TABLE.value: data.calls.table_name,
                Env.SUBJECTS_TABLE.value: data.subjects.table_name,
                Env.KEYS_TABLE.value: data.subject_keys.table_name,
                Env.IDEMPOTENCY_TABLE.value: data.idempotency.table_name,
                Env.TRANSCRIPTS_BUCKET.value: data.transcripts.bucket_name,
                Env.ANALYSIS_QUEUE_URL.value: data.analysis_queue.queue_url,
                Env.DATA_KEY_ID.value: keys.data.key_arn,
                Env.HMAC_KEY_ID.value: keys.subject_ids.key_arn,
                Env.RETENTION.value: settings.retention.to_env(),
                Env.DEFAULT_PHONE_REGION.value: settings.default_phone_region,
                Env.IDEMPOTENCY_TTL_SECONDS.value: str(settings.idempotency_ttl_seconds),
                Env.INTENTS.value: settings.intents.to_env(),
                Env.ROUTING.value: settings.routing.to_env(),
            },
            removal=removal,
        )
        fn = self.handler.function
        allow = self.handler.allow
        # Least privilege: exactly the calls the ingest path makes, on exactly its resources.
        # live segments also read the resolution statistics (Query) and the subject's profile (GetItem)
        allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"], [data.calls.table_arn])
        allow(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [data.subjects.table_arn],
        )
        allow(["dynamodb:GetItem", "dynamodb:PutItem"], [data.subject_keys.table_arn])
        allow(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            [data.idempotency.table_arn],
        )
        transcripts = data.transcripts.arn_for_objects("transcripts/*")
        allow(["s3:PutObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:GetObjectVersion"], [transcripts])
        allow(["sqs:SendMessage"], [data.analysis_queue.queue_arn])
        allow(["kms:GenerateDataKey", "kms:Decrypt"], [keys.data.key_arn])
        allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
        allow(["comprehend:DetectDominantLanguage", "comprehend:BatchDetectSentiment"], ["*"])
        acknowledge(
            self.handler.policy,
            "Transcript objects are keyed transcripts/<subject>/<call>; the function writes new ones and may "
            "only remove the version it just wrote when the call item write fails.",
            "AwsSolutions-IAM5[Resource::<DataTranscripts35735C80.Arn>/transcripts/*]",
        )
        acknowledge(
            self.handler.policy,
            "Comprehend's real-time detection APIs do not support resource-level permissions; only language "
            "detection and sentiment of live customer turns are allowed.",
            "AwsSolutions-IAM5[Resource::*]",
        )

        models: dict[str, type[BaseModel]] = {"/v1/calls": CallIn, "/v1/calls/{call_id}/segments": LiveSegments}
        self.methods = [
            api.add_route(route, fn, body_model=models[route.path]) for route in ROUTES if route.function == "ingest"
        ]
