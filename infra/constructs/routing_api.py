"""Routing capability: ``POST /v1/routing/decisions`` → explainable, consent-aware decisions."""

from __future__ import annotations

from constructs import Construct

from callguard.names import GSI_BY_SUBJECT, ROUTES, Env
from infra.api_contract import request_model
from infra.constructs.data_access import allow_table_key
from infra.constructs.platform import Platform
from infra.nag import acknowledge

__all__ = ["RoutingApi"]


class RoutingApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        data, keys = platform.data, platform.keys
        self.handler = platform.function(
            self,
            "Route",
            name="route",
            memory_mb=1024,
            env=(
                Env.CALLS_TABLE,
                Env.SUBJECTS_TABLE,
                Env.HMAC_KEY_ID,
                Env.RETENTION,
                Env.DEFAULT_PHONE_REGION,
                Env.INTENTS,
                Env.ROUTING,
            ),
            snap_start=True,  # a caller waits in the queue for the decision: docs/benchmarks.md, SnapStart
        )
        fn = self.handler
        fn.allow(["dynamodb:GetItem", "dynamodb:PutItem"], [data.calls.table_arn])
        fn.allow(["dynamodb:Query"], [f"{data.calls.table_arn}/index/{GSI_BY_SUBJECT}"])
        fn.allow(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"], [data.subjects.table_arn])
        allow_table_key(fn, keys)  # calls and subjects are encrypted with the data key
        fn.allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
        fn.allow(["comprehend:DetectDominantLanguage", "comprehend:BatchDetectSentiment"], ["*"])
        acknowledge(
            fn.policy,
            "Comprehend's real-time detection APIs do not support resource-level permissions; the statement lists "
            "only language detection and sentiment.",
            "AwsSolutions-IAM5[Resource::*]",
        )
        route = next(r for r in ROUTES if r.function == "route")
        self.method = platform.api.add_route(route, fn.invocable, body_model=request_model(route))
