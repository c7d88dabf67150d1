"""Agent view capability: ``GET /v1/calls/{call_id}`` → redacted call, analysis, audit entry."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from constructs import Construct

from callguard.names import GSI_BY_DUE, ROUTES, Env
from infra.config import Settings
from infra.constructs.api import PublicApi
from infra.constructs.data_access import allow_read_transcripts, allow_unseal
from infra.constructs.data_plane import DataPlane
from infra.constructs.function import CallguardFunction, SharedLayers
from infra.constructs.keys import ProjectKeys

__all__ = ["AgentViewApi"]


class AgentViewApi(Construct):
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
            "AgentView",
            name="agent_view",
            layers=layers,
            log_key=keys.audit,
            log_retention_days=settings.log_retention_days,
            memory_mb=512,
            timeout_seconds=10,
            environment={
                Env.CALLS_TABLE.value: data.calls.table_name,
                Env.KEYS_TABLE.value: data.subject_keys.table_name,
                Env.TRANSCRIPTS_BUCKET.value: data.transcripts.bucket_name,
                Env.AUDIT_TABLE.value: data.audit.table_name,
                Env.DATA_KEY_ID.value: keys.data.key_arn,
                Env.RETENTION.value: settings.retention.to_env(),
                Env.DEFAULT_PHONE_REGION.value: settings.default_phone_region,
            },
            removal=removal,
        )
        fn = self.handler
        fn.allow(["dynamodb:GetItem"], [data.calls.table_arn])
        fn.allow(["dynamodb:Query"], [f"{data.calls.table_arn}/index/{GSI_BY_DUE}"])
        fn.allow(["dynamodb:Query", "dynamodb:PutItem"], [data.audit.table_arn])
        allow_unseal(fn, data, keys)
        allow_read_transcripts(fn, data)
        self.methods = [api.add_route(route, fn.function) for route in ROUTES if route.function == "agent_view"]
