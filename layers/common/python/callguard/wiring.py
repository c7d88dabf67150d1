"""Builds the domain services from environment variables and injected clients.

Used by the Lambda handlers and by the local stack, so both wire the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .agent_view import AgentViewService
from .analysis import AnalysisService
from .audit import AuditLog
from .clients import AwsClients
from .comprehend import ComprehendGateway
from .crypto import SubjectKeyring
from .identity import Pseudonymizer
from .ingest import IngestService
from .intents import IntentConfig
from .names import Env
from .repository import AnalysisQueue, CallsRepository, SubjectsRepository, TranscriptStore
from .retention import RetentionPolicy
from .routing import RoutingConfig
from .routing_service import RoutingService

__all__ = [
    "build_agent_view_service",
    "build_analysis_service",
    "build_ingest_service",
    "build_routing_service",
    "require_env",
]


class MissingConfigurationError(RuntimeError):
    """A required environment variable is not set."""


def require_env(name: Env, environ: Mapping[str, str] | None = None) -> str:
    value = (environ if environ is not None else os.environ).get(name.value)
    if not value:
        raise MissingConfigurationError(f"environment variable {name.value} is not set")
    return value


def build_ingest_service(clients: AwsClients, environ: Mapping[str, str] | None = None) -> IngestService:
    env = environ if environ is not None else os.environ
    retention = RetentionPolicy.from_env(env.get(Env.RETENTION.value))
    data_key = require_env(Env.DATA_KEY_ID, env)
    return IngestService(
        pseudonymizer=Pseudonymizer(clients.kms, require_env(Env.HMAC_KEY_ID, env)),
        keyring=SubjectKeyring(
            kms=clients.kms, dynamodb=clients.dynamodb, keys_table=require_env(Env.KEYS_TABLE, env), cmk_id=data_key
        ),
        subjects=SubjectsRepository(
            dynamodb=clients.dynamodb, table=require_env(Env.SUBJECTS_TABLE, env), retention=retention
        ),
        calls=CallsRepository(dynamodb=clients.dynamodb, table=require_env(Env.CALLS_TABLE, env), retention=retention),
        transcripts=TranscriptStore(
            s3=clients.s3, bucket=require_env(Env.TRANSCRIPTS_BUCKET, env), kms_key_id=data_key
        ),
        queue=AnalysisQueue(sqs=clients.sqs, queue_url=require_env(Env.ANALYSIS_QUEUE_URL, env)),
    )


def build_analysis_service(clients: AwsClients, environ: Mapping[str, str] | None = None) -> AnalysisService:
    env = environ if environ is not None else os.environ
    retention = RetentionPolicy.from_env(env.get(Env.RETENTION.value))
    return AnalysisService(
        calls=CallsRepository(dynamodb=clients.dynamodb, table=require_env(Env.CALLS_TABLE, env), retention=retention),
        subjects=SubjectsRepository(
            dynamodb=clients.dynamodb, table=require_env(Env.SUBJECTS_TABLE, env), retention=retention
        ),
        transcripts=TranscriptStore(
            s3=clients.s3, bucket=require_env(Env.TRANSCRIPTS_BUCKET, env), kms_key_id=require_env(Env.DATA_KEY_ID, env)
        ),
        keyring=SubjectKeyring(
            kms=clients.kms,
            dynamodb=clients.dynamodb,
            keys_table=require_env(Env.KEYS_TABLE, env),
            cmk_id=require_env(Env.DATA_KEY_ID, env),
        ),
        comprehend=ComprehendGateway(clients.comprehend),
        intents=IntentConfig.from_env(env.get(Env.INTENTS.value)),
        default_region=env.get(Env.DEFAULT_PHONE_REGION.value, "DE"),
        classifier_endpoint=env.get(Env.INTENT_CLASSIFIER_ENDPOINT.value) or None,
        followup_due_hours=int(env.get(Env.FOLLOWUP_DUE_HOURS.value, "24")),
    )


def build_agent_view_service(clients: AwsClients, environ: Mapping[str, str] | None = None) -> AgentViewService:
    env = environ if environ is not None else os.environ
    retention = RetentionPolicy.from_env(env.get(Env.RETENTION.value))
    data_key = require_env(Env.DATA_KEY_ID, env)
    return AgentViewService(
        calls=CallsRepository(dynamodb=clients.dynamodb, table=require_env(Env.CALLS_TABLE, env), retention=retention),
        transcripts=TranscriptStore(
            s3=clients.s3, bucket=require_env(Env.TRANSCRIPTS_BUCKET, env), kms_key_id=data_key
        ),
        keyring=SubjectKeyring(
            kms=clients.kms, dynamodb=clients.dynamodb, keys_table=require_env(Env.KEYS_TABLE, env), cmk_id=data_key
        ),
        audit=AuditLog(dynamodb=clients.dynamodb, table=require_env(Env.AUDIT_TABLE, env), retention=retention),
        default_region=env.get(Env.DEFAULT_PHONE_REGION.value, "DE"),
    )


def build_routing_service(clients: AwsClients, environ: Mapping[str, str] | None = None) -> RoutingService:
    env = environ if environ is not None else os.environ
    retention = RetentionPolicy.from_env(env.get(Env.RETENTION.value))
    return RoutingService(
        pseudonymizer=Pseudonymizer(clients.kms, require_env(Env.HMAC_KEY_ID, env)),
        subjects=SubjectsRepository(
            dynamodb=clients.dynamodb, table=require_env(Env.SUBJECTS_TABLE, env), retention=retention
        ),
        calls=CallsRepository(dynamodb=clients.dynamodb, table=require_env(Env.CALLS_TABLE, env), retention=retention),
        comprehend=ComprehendGateway(clients.comprehend),
        config=RoutingConfig.from_env(env.get(Env.ROUTING.value)),
        intents=IntentConfig.from_env(env.get(Env.INTENTS.value)),
        default_region=env.get(Env.DEFAULT_PHONE_REGION.value, "DE"),
    )
