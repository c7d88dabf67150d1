"""What every capability construct builds on, handed over as one value.

``Platform.function`` creates a capability's function with the project defaults and
exactly the environment variables it names — their values come from one mapping here,
so a table or key is wired the same way for every function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from callguard.names import ROUTES, Env
from infra.config import ConfigError, Settings
from infra.constructs.api import PublicApi
from infra.constructs.data_plane import DataPlane
from infra.constructs.function import CallguardFunction, SharedLayers
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge

__all__ = ["STORE_CALL_ENV", "TENANT_AWARE_FUNCTIONS", "Platform"]

#: the functions behind API routes: the edge in each resolves the caller's tenant
_API_FUNCTIONS = frozenset(r.function for r in ROUTES if r.function)
#: the functions that act for a tenant at runtime, so read its settings: the API functions (tenant from
#: the token), the analysis (from the queue message ingest wrote for the token's tenant), the privacy
#: workflow's steps (from the execution input the privacy API wrote for the filer's tenant), the importer
#: (from the prefix a file was dropped under); and the daily deadline check, the scheduled purge and the
#: audit anchoring, which act for every tenant of the deployment in turn (the tenants this document lists)
TENANT_AWARE_FUNCTIONS = _API_FUNCTIONS | {
    "analyze",
    "privacy_steps",
    "deadline_check",
    "importer",
    "purge",
    "audit_anchor",
}


#: what a function that stores calls needs (the ingest API and the importer): the call, subject and key
#: tables, the transcripts bucket, the analysis queue, the data and subject-id keys, retention, phone region
STORE_CALL_ENV = (
    Env.CALLS_TABLE,
    Env.SUBJECTS_TABLE,
    Env.KEYS_TABLE,
    Env.TRANSCRIPTS_BUCKET,
    Env.ANALYSIS_QUEUE_URL,
    Env.DATA_KEY_ID,
    Env.HMAC_KEY_ID,
    Env.RETENTION,
    Env.DEFAULT_PHONE_REGION,
)


#: Lambda's limit on a function's environment (names and values together)
LAMBDA_ENVIRONMENT_BYTES = 4096
#: what a CDK token (a table name, an ARN, a queue URL, a client id) resolves to at most, about
_TOKEN_BYTES = 128
#: the project's own variables beside these (POWERTOOLS_*, set by ``CallguardFunction``)
_FUNCTION_DEFAULTS_BYTES = 320
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")


def environment_bytes(environment: Mapping[str, str]) -> int:
    """An upper estimate of ``environment``'s size once deployed (tokens at their resolved length)."""
    return sum(len(k) + len(_TOKEN.sub("x" * _TOKEN_BYTES, v).encode()) for k, v in environment.items())


def _fits_lambda(name: str, environment: Mapping[str, str]) -> None:
    """Synth stops, in one sentence, before a deployment Lambda would refuse (tenants make it grow)."""
    size = environment_bytes(environment) + _FUNCTION_DEFAULTS_BYTES
    if size > LAMBDA_ENVIRONMENT_BYTES:
        raise ConfigError(
            f"Function {name!r} would carry about {size} bytes of environment, more than Lambda's "
            f"{LAMBDA_ENVIRONMENT_BYTES}: list fewer tenants, or override fewer intents or routing rules per tenant."
        )


@dataclass(frozen=True)
class Platform:
    settings: Settings
    keys: ProjectKeys
    data: DataPlane
    layers: SharedLayers
    api: PublicApi
    removal: RemovalPolicy
    #: ``CALLGUARD_TENANTS`` for the API functions (``None``: single tenant, the variable is not set)
    tenant_directory: str | None = None

    def env_value(self, name: Env) -> str:
        s, d, k = self.settings, self.data, self.keys
        values: dict[Env, str] = {
            Env.CALLS_TABLE: d.calls.table_name,
            Env.SUBJECTS_TABLE: d.subjects.table_name,
            Env.KEYS_TABLE: d.subject_keys.table_name,
            Env.IDEMPOTENCY_TABLE: d.idempotency.table_name,
            Env.AUDIT_TABLE: d.audit.table_name,
            Env.TRANSCRIPTS_BUCKET: d.transcripts.bucket_name,
            Env.ANALYSIS_QUEUE_URL: d.analysis_queue.queue_url,
            Env.DATA_KEY_ID: k.data.key_arn,
            Env.HMAC_KEY_ID: k.subject_ids.key_arn,
            Env.RETENTION: s.retention.to_env(),
            Env.DEFAULT_PHONE_REGION: s.default_phone_region,
            Env.IDEMPOTENCY_TTL_SECONDS: str(s.idempotency_ttl_seconds),
            Env.INTENTS: s.intents.to_env(),
            Env.ROUTING: s.routing.to_env(),
            Env.FOLLOWUP_DUE_HOURS: str(s.followup_due_hours),
            Env.PRIVACY_TABLE: d.privacy.table_name,
            Env.EXPORTS_BUCKET: d.exports.bucket_name,
            Env.EXPORTS_KEY_ID: k.exports.key_arn,
            Env.VERIFICATION_TIMEOUT_SECONDS: str(s.verification_timeout_days * 86400),
            Env.EXPORT_PAGE_CALLS: str(s.export_page_calls),
            Env.FOUR_EYES: "true" if s.four_eyes else "false",
            Env.IMPORT_SETTINGS: s.imports.to_env(),
            Env.IMPORT_REUSE_SENTIMENT: "1" if s.imports.reuse_provider_sentiment else "0",
        }
        return values[name]

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        env: Iterable[Env],
        memory_mb: int = 512,
        timeout_seconds: int = 10,
        synchronous: bool = True,
        extra_env: Mapping[str, str] | None = None,
        module: str = "handler",
        reserved_concurrency: int | None = None,
        snap_start: bool = False,
    ) -> CallguardFunction:
        environment = {
            **{e.value: self.env_value(e) for e in env},
            **(extra_env or {}),
            **({Env.TENANTS.value: self.tenant_directory} if self.tenant_directory and name in _API_FUNCTIONS else {}),
            **self._tenant_settings(name),
        }
        _fits_lambda(name, environment)
        return CallguardFunction(
            scope,
            construct_id,
            name=name,
            layers=self.layers,
            log_key=self.keys.audit,
            log_retention_days=self.settings.log_retention_days,
            memory_mb=memory_mb,
            timeout_seconds=timeout_seconds,
            synchronous=synchronous,
            environment=environment,
            removal=self.removal,
            module=module,
            reserved_concurrency=reserved_concurrency,
            snap_start=snap_start,
        )

    def _tenant_settings(self, name: str) -> dict[str, str]:
        """``CALLGUARD_TENANT_SETTINGS`` for a tenant-aware function of a deployment with tenants (v1: none)."""
        document = self.settings.tenant_settings_env()
        return {Env.TENANT_SETTINGS.value: document} if document and name in TENANT_AWARE_FUNCTIONS else {}

    def failure_queue(self, scope: Construct, construct_id: str) -> sqs.Queue:
        """A dead-letter queue for a scheduled function's failed asynchronous invocations."""
        queue = sqs.Queue(
            scope,
            construct_id,
            # the failed events of schedules carry no personal data ({} or an instant)
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=self.removal,
        )
        acknowledge(
            queue,
            "This queue is itself the dead-letter queue of a scheduled function (its DeadLetterConfig and the "
            "schedule target's); a DLQ of a DLQ would only move the same events again.",
            "AwsSolutions-SQS3",
        )
        return queue
