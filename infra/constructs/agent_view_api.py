"""Agent view capability: ``GET /v1/calls/{call_id}`` → redacted call, analysis, audit entry."""

from __future__ import annotations

from constructs import Construct

from callguard.names import GSI_BY_DUE, ROUTES, Env
from infra.constructs.data_access import allow_read_transcripts, allow_table_key, allow_unseal
from infra.constructs.platform import Platform

__all__ = ["AgentViewApi"]


class AgentViewApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        data, keys = platform.data, platform.keys
        self.handler = platform.function(
            self,
            "AgentView",
            name="agent_view",
            env=(
                Env.CALLS_TABLE,
                Env.SUBJECTS_TABLE,
                Env.KEYS_TABLE,
                Env.TRANSCRIPTS_BUCKET,
                Env.AUDIT_TABLE,
                Env.DATA_KEY_ID,
                Env.RETENTION,
                Env.DEFAULT_PHONE_REGION,
            ),
            snap_start=True,  # an agent waits for it: docs/benchmarks.md, SnapStart
        )
        fn = self.handler
        fn.allow(["dynamodb:GetItem"], [data.calls.table_arn])
        # restriction (Art. 18): the subject's profile and the rights recorded against the call's identifiers
        fn.allow(["dynamodb:GetItem", "dynamodb:BatchGetItem"], [data.subjects.table_arn])
        fn.allow(["dynamodb:Query"], [f"{data.calls.table_arn}/index/{GSI_BY_DUE}"])
        fn.allow(["dynamodb:Query", "dynamodb:PutItem"], [data.audit.table_arn])
        allow_unseal(fn, data, keys)
        allow_table_key(fn, keys)  # calls, subject keys and the audit log are encrypted with the data key
        allow_read_transcripts(fn, data, keys, tenants=platform.settings.multi_tenant)
        self.methods = [
            platform.api.add_route(route, fn.invocable) for route in ROUTES if route.function == "agent_view"
        ]
