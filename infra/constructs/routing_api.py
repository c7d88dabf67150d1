"""Routing capability: ``POST /v1/routing/decisions`` → explainable, consent-aware decisions."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from constructs import Construct

from callguard.models import RoutingRequest
from callguard.names import GSI_BY_SUBJECT, ROUTES, Env
from infra.config import Settings
from infra.constructs.api import PublicApi
from infra.constructs.data_plane import DataPlane
from infra.constructs.function import CallguardFunction, SharedLayers
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge

__all__ = ["RoutingApi"]


class RoutingApi(Construct):
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
            "Route",
            name="route",
            layers=layers,
            log_key=keys.audit,
            log_retention_days=settings.log_retention_days,
            memory_mb=1024,
            timeout_seconds=10,
            environment={
                Env.CALLS_TABLE.value: data.calls.table_name,
                Env.SUBJECTS_TABLE.value: data.subjects.table_name,
                Env.HMAC_KEY_ID.value: keys.subject_ids.key_arn,
                Env.RETENTION.value: settings.retention.to_env(),
                Env.DEFAULT_PHONE_REGION.value: settings.default_phone_region,
                Env.INTENTS.value: settings.intents.to_env(),
                Env.ROUTING.value: settings.routing.to_env(),
            },
            removal=removal,
        )
        fn = self.handler
        fn.allow(["dynamodb:GetItem", "dynamodb:PutItem"], [data.calls.table_arn])
        fn.allow(["dynamodb:Query"], [f"{data.calls.table_arn}/index/{GSI_BY_SUBJECT}"])
        fn.allow(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"], [data.subjects.table_arn])
        fn.allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
        fn.allow(["comprehend:DetectDominantLanguage", "comprehend:BatchDetectSentiment"], ["*"])
        acknowledge(
            fn.policy,
            "Comprehend's real-time detection APIs do not support resource-level permissions; the statement lists "
            "only language detection and sentiment.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        route = next(r for r in ROUTES if r.function == "route")
        self.method = api.add_route(route, fn.function, body_model=RoutingRequest)
