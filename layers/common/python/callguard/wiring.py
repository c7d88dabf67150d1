"""Builds the domain services from environment variables and injected clients.

Used by the Lambda handlers and by the local stack, so both wire the same way. The domain
modules are imported inside the builders, so a handler loads only what its service needs
(cold starts: ``make bench`` measures the import time of each handler).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callguard.clients import AwsClients
from callguard.names import Env
from callguard.security.tenancy import DEFAULT_TENANT

if TYPE_CHECKING:
    from callguard.analysis.intents import IntentConfig
    from callguard.analysis.service import AnalysisService
    from callguard.calls.agent_view import AgentViewService
    from callguard.calls.importer import ImportService
    from callguard.calls.ingest import AnalysisRequests, IngestService
    from callguard.calls.live import LiveService
    from callguard.models import CallAccepted
    from callguard.privacy.desk import ComplianceDesk
    from callguard.privacy.offboarding import Offboarding
    from callguard.privacy.steps import PrivacySteps
    from callguard.privacy.subject_data import SubjectData
    from callguard.privacy.workflow import DeadlineCheck, PrivacyService
    from callguard.retention.policy import RetentionPolicy
    from callguard.retention.purge import DeploymentPurge, RetentionPurge
    from callguard.routing.rules import RoutingConfig
    from callguard.routing.service import RoutingService
    from callguard.security.audit import AuditLog
    from callguard.security.audit_anchor import AuditAnchors, DeploymentAnchors
    from callguard.security.crypto import SubjectKeyring
    from callguard.security.identity import Pseudonymizer
    from callguard.security.tenant_settings import TenantRuntimeSettings
    from callguard.storage.calls import CallsRepository
    from callguard.storage.exports import DownloadTickets, ExportMarkers
    from callguard.storage.holds import LegalHolds
    from callguard.storage.requests import PrivacyRequests
    from callguard.storage.scope import TenantScope
    from callguard.storage.subjects import SubjectsRepository
    from callguard.storage.tombstones import Tombstones
    from callguard.storage.transcripts import TranscriptStore

__all__ = [
    "IngestApi",
    "Parts",
    "PrivacyApi",
    "build_agent_view_service",
    "build_analysis_service",
    "build_audit_anchors",
    "build_audit_verifier",
    "build_compliance_desk",
    "build_deadline_check",
    "build_deployment_anchors",
    "build_deployment_purge",
    "build_import_service",
    "build_ingest_api",
    "build_ingest_service",
    "build_live_service",
    "build_offboarding",
    "build_privacy_api",
    "build_privacy_service",
    "build_privacy_steps",
    "build_retention_purge",
    "build_routing_service",
    "deployment_tenants",
    "parts",
    "require_env",
]


class MissingConfigurationError(RuntimeError):
    """A required environment variable is not set."""


def require_env(name: Env, environ: Mapping[str, str] | None = None) -> str:
    value = (environ if environ is not None else os.environ).get(name.value)
    if not value:
        raise MissingConfigurationError(f"environment variable {name.value} is not set")
    return value


@dataclass(frozen=True)
class Parts:
    """The repositories and key handling every service is built from, read from the environment,
    for one tenant: its retention, intents and routing (a listed tenant's from
    ``CALLGUARD_TENANT_SETTINGS``, the default tenant's from v1's variables), its pseudonyms and its
    subject keys."""

    clients: AwsClients
    env: Mapping[str, str]
    tenant: str = DEFAULT_TENANT

    def _own(self) -> tuple[str, str] | None:
        """(settings document, tenant) of a listed tenant; ``None`` for the default tenant (v1's
        variables). :class:`~callguard.security.tenancy.UnknownTenantError` for a tenant the deployment
        does not list."""
        if self.tenant == DEFAULT_TENANT:
            return None
        document = self.env.get(Env.TENANT_SETTINGS.value) or ""
        _tenant_settings(document, self.tenant)  # listed, or refused
        return document, self.tenant

    @property
    def scope(self) -> TenantScope:
        """Where this tenant's data lives (v1's keys for the default tenant): every store gets it."""
        from callguard.storage.scope import TenantScope

        return TenantScope(self.tenant)

    @property
    def retention(self) -> RetentionPolicy:
        own = self._own()
        return _tenant_retention(*own) if own is not None else _retention(self.env.get(Env.RETENTION.value))

    def audit_log(self) -> AuditLog:
        """The tenant's hash-chained audit log (a chain per tenant), with its audit retention: the one way
        it is built."""
        from callguard.security.audit import AuditLog

        return AuditLog(
            dynamodb=self.clients.dynamodb,
            table=require_env(Env.AUDIT_TABLE, self.env),
            retention=self.retention,
            scope=self.scope,
        )

    def calls(self) -> CallsRepository:
        from callguard.storage.calls import CallsRepository

        return CallsRepository(
            dynamodb=self.clients.dynamodb,
            table=require_env(Env.CALLS_TABLE, self.env),
            retention=self.retention,
            scope=self.scope,
        )

    def subjects(self) -> SubjectsRepository:
        from callguard.storage.subjects import SubjectsRepository

        return SubjectsRepository(
            dynamodb=self.clients.dynamodb,
            table=require_env(Env.SUBJECTS_TABLE, self.env),
            retention=self.retention,
            scope=self.scope,
        )

    def transcripts(self) -> TranscriptStore:
        from callguard.storage.transcripts import TranscriptStore

        return TranscriptStore(
            s3=self.clients.s3,
            bucket=require_env(Env.TRANSCRIPTS_BUCKET, self.env),
            kms_key_id=require_env(Env.DATA_KEY_ID, self.env),
            scope=self.scope,
        )

    def keyring(self) -> SubjectKeyring:
        from callguard.security.crypto import SubjectKeyring
        from callguard.storage.keys import SubjectKeysStore

        return SubjectKeyring(
            kms=self.clients.kms,
            keys=SubjectKeysStore(
                dynamodb=self.clients.dynamodb, table=require_env(Env.KEYS_TABLE, self.env), scope=self.scope
            ),
            cmk_id=require_env(Env.DATA_KEY_ID, self.env),
            tenant=self.tenant,
        )

    def pseudonymizer(self) -> Pseudonymizer:
        from callguard.security.identity import Pseudonymizer

        return Pseudonymizer(self.clients.kms, require_env(Env.HMAC_KEY_ID, self.env), tenant=self.tenant)

    def intents(self) -> IntentConfig:
        own = self._own()
        mine = _tenant_intents(*own) if own is not None else None
        return mine if mine is not None else _intents(self.env.get(Env.INTENTS.value))

    def routing(self) -> RoutingConfig:
        own = self._own()
        mine = _tenant_routing(*own) if own is not None else None
        return mine if mine is not None else _routing(self.env.get(Env.ROUTING.value))

    def analysis_queue(self) -> AnalysisRequests:
        """The analysis queue; a listed tenant's messages name it (:class:`TenantAnalysisQueue`)."""
        from callguard.storage.queue import AnalysisQueue

        url = require_env(Env.ANALYSIS_QUEUE_URL, self.env)
        if self.tenant == DEFAULT_TENANT:
            return AnalysisQueue(sqs=self.clients.sqs, queue_url=url)
        return TenantAnalysisQueue(sqs=self.clients.sqs, queue_url=url, tenant=self.tenant)

    @property
    def lists_tenants(self) -> bool:
        """Whether the deployment lists tenants (the tenant-aware functions then carry their settings)."""
        return bool(self.env.get(Env.TENANT_SETTINGS.value))

    def privacy_requests(self) -> PrivacyRequests:
        from callguard.storage.requests import PrivacyRequests

        return PrivacyRequests(
            dynamodb=self.clients.dynamodb,
            table=require_env(Env.PRIVACY_TABLE, self.env),
            retention=self.retention,
            scope=self.scope,
        )

    def legal_holds(self) -> LegalHolds:
        from callguard.storage.holds import LegalHolds

        return LegalHolds(
            dynamodb=self.clients.dynamodb, table=require_env(Env.PRIVACY_TABLE, self.env), scope=self.scope
        )

    def export_markers(self) -> ExportMarkers:
        from callguard.storage.exports import ExportMarkers

        return ExportMarkers(
            dynamodb=self.clients.dynamodb,
            table=require_env(Env.PRIVACY_TABLE, self.env),
            retention=self.retention,
            scope=self.scope,
        )

    def download_tickets(self) -> DownloadTickets:
        from callguard.storage.exports import DownloadTickets

        return DownloadTickets(
            dynamodb=self.clients.dynamodb, table=require_env(Env.PRIVACY_TABLE, self.env), scope=self.scope
        )

    def tombstones(self) -> Tombstones:
        from callguard.storage.tombstones import Tombstones

        return Tombstones(
            dynamodb=self.clients.dynamodb,
            table=require_env(Env.PRIVACY_TABLE, self.env),
            retention=self.retention,
            scope=self.scope,
        )

    def subject_data(self) -> SubjectData:
        from callguard.privacy.subject_data import SubjectData, SubjectStores
        from callguard.storage.exports import ExportObjects

        stores = SubjectStores(
            dynamodb=self.clients.dynamodb,
            s3=self.clients.s3,
            calls_table=require_env(Env.CALLS_TABLE, self.env),
            subjects_table=require_env(Env.SUBJECTS_TABLE, self.env),
            keys_table=require_env(Env.KEYS_TABLE, self.env),
            idempotency_table=require_env(Env.IDEMPOTENCY_TABLE, self.env),
            transcripts_bucket=require_env(Env.TRANSCRIPTS_BUCKET, self.env),
            exports_bucket=require_env(Env.EXPORTS_BUCKET, self.env),
        )
        return SubjectData(
            stores, self.calls(), self.subjects(), self.transcripts(), self.keyring(), exports=ExportObjects(self.scope)
        )

    @property
    def region(self) -> str:
        return self.env.get(Env.DEFAULT_PHONE_REGION.value, "DE")


# Configuration parsed once per execution environment (the values are frozen models); the services
# built from it are built per invocation (:class:`callguard.clients.Lazy`).
@functools.lru_cache(maxsize=8)
def _retention(value: str | None) -> RetentionPolicy:
    from callguard.retention.policy import RetentionPolicy

    return RetentionPolicy.from_env(value)


@functools.lru_cache(maxsize=8)
def _intents(value: str | None) -> IntentConfig:
    from callguard.analysis.intents import IntentConfig

    return IntentConfig.from_env(value)


@functools.lru_cache(maxsize=8)
def _routing(value: str | None) -> RoutingConfig:
    from callguard.routing.rules import RoutingConfig

    return RoutingConfig.from_env(value)


# A listed tenant's sections, each parsed only by the functions that use it (a function that only
# stamps retention never loads the intents or routing models).
@functools.lru_cache(maxsize=32)
def _tenant_settings(document: str, tenant: str) -> TenantRuntimeSettings:
    from callguard.security.tenant_settings import TenantSettingsDocument

    return TenantSettingsDocument.from_env(document).settings_of(tenant)


@functools.lru_cache(maxsize=32)
def _tenant_retention(document: str, tenant: str) -> RetentionPolicy:
    from callguard.retention.policy import RetentionPolicy

    return RetentionPolicy.defaults(_tenant_settings(document, tenant).retention)


@functools.lru_cache(maxsize=32)
def _tenant_intents(document: str, tenant: str) -> IntentConfig | None:
    from callguard.analysis.intents import IntentConfig

    raw = _tenant_settings(document, tenant).intents
    return None if raw is None else IntentConfig.model_validate(raw)


@functools.lru_cache(maxsize=32)
def _tenant_routing(document: str, tenant: str) -> RoutingConfig | None:
    from callguard.routing.rules import RoutingConfig

    raw = _tenant_settings(document, tenant).routing
    return None if raw is None else RoutingConfig.model_validate(raw)


class TenantAnalysisQueue:
    """The analysis queue of a listed tenant's calls: the message names the tenant (``{"call_id",
    "tenant"}``), so the analysis acts for it. The tenant comes from the verified token of the ingest
    request, never from its body; the default tenant's messages stay v1's (``{"call_id"}``, sent by
    ``callguard.storage.queue.AnalysisQueue``)."""

    def __init__(self, *, sqs: Any, queue_url: str, tenant: str) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._tenant = tenant

    def enqueue(self, call_id: str) -> None:
        body = json.dumps({"call_id": call_id, "tenant": self._tenant})
        self._sqs.send_message(QueueUrl=self._url, MessageBody=body)


def parts(clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT) -> Parts:
    """The repositories and key handling services are built from (the bench builds single ones), for
    ``tenant``: :class:`~callguard.security.tenancy.UnknownTenantError` for one the deployment does not list."""
    built = Parts(clients, environ if environ is not None else os.environ, tenant)
    built._own()  # an unknown tenant fails here, before anything is built for it
    return built


def build_ingest_service(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> IngestService:
    from callguard.calls.ingest import IngestService

    p = parts(clients, environ, tenant=tenant)
    return IngestService(
        pseudonymizer=p.pseudonymizer(),
        keyring=p.keyring(),
        subjects=p.subjects(),
        calls=p.calls(),
        transcripts=p.transcripts(),
        queue=p.analysis_queue(),
    )


def build_import_service(clients: AwsClients, environ: Mapping[str, str] | None = None) -> ImportService:
    """The importer: the ingest service of ``POST /v1/calls`` behind a file reader and the
    Connect contact look-up. A file's tenant is where it was dropped (``tenants/<tenant>/…``); each
    listed tenant's calls go through that tenant's own ingest service, built when its first file comes."""
    from callguard.calls.importer import ImportService, ImportSettings
    from callguard.calls.importer.contacts import ContactDirectory

    p = parts(clients, environ)
    settings = ImportSettings.from_env(p.env.get(Env.IMPORT_SETTINGS.value))
    tenants = deployment_tenants(p.env)
    ingest_of = functools.cache(lambda tenant: build_ingest_service(clients, p.env, tenant=tenant))
    return ImportService(
        s3=clients.s3,
        ingest=build_ingest_service(clients, p.env),
        settings=settings,
        contacts=ContactDirectory(clients.connect, settings.attributes),
        owned_bucket=settings.bucket_name is None,
        tenants=frozenset(tenants),
        ingest_of=ingest_of if len(tenants) > 1 else None,
    )


def build_analysis_service(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> AnalysisService:
    from callguard.analysis.comprehend import ComprehendGateway
    from callguard.analysis.service import AnalysisService

    p = parts(clients, environ, tenant=tenant)
    return AnalysisService(
        calls=p.calls(),
        subjects=p.subjects(),
        transcripts=p.transcripts(),
        keyring=p.keyring(),
        comprehend=ComprehendGateway(clients.comprehend),
        intents=p.intents(),
        default_region=p.region,
        classifier_endpoint=p.env.get(Env.INTENT_CLASSIFIER_ENDPOINT.value) or None,
        followup_due_hours=int(p.env.get(Env.FOLLOWUP_DUE_HOURS.value, "24")),
        reuse_provider_sentiment=p.env.get(Env.IMPORT_REUSE_SENTIMENT.value, "1") == "1",
    )


def build_agent_view_service(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> AgentViewService:
    from callguard.calls.agent_view import AgentViewService

    p = parts(clients, environ, tenant=tenant)
    return AgentViewService(
        calls=p.calls(),
        transcripts=p.transcripts(),
        keyring=p.keyring(),
        audit=p.audit_log(),
        default_region=p.region,
        subjects=p.subjects(),
    )


def build_routing_service(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> RoutingService:
    from callguard.analysis.comprehend import ComprehendGateway
    from callguard.routing.service import RoutingService

    p = parts(clients, environ, tenant=tenant)
    return RoutingService(
        pseudonymizer=p.pseudonymizer(),
        subjects=p.subjects(),
        calls=p.calls(),
        comprehend=ComprehendGateway(clients.comprehend),
        config=p.routing(),
        intents=p.intents(),
        default_region=p.region,
    )


def build_live_service(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> LiveService:
    from callguard.analysis.comprehend import ComprehendGateway
    from callguard.calls.live import LiveService

    p = parts(clients, environ, tenant=tenant)
    return LiveService(
        calls=p.calls(),
        subjects=p.subjects(),
        transcripts=p.transcripts(),
        keyring=p.keyring(),
        comprehend=ComprehendGateway(clients.comprehend),
        routing=p.routing(),
        intents=p.intents(),
        default_region=p.region,
    )


def build_privacy_service(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> PrivacyService:
    from callguard.privacy.workflow import PrivacyService

    p = parts(clients, environ, tenant=tenant)
    return PrivacyService(
        requests=p.privacy_requests(),
        holds=p.legal_holds(),
        downloads=p.download_tickets(),
        subjects=p.subjects(),
        pseudonymizer=p.pseudonymizer(),
        kms=clients.kms,
        sfn=clients.stepfunctions,
        data_key_id=require_env(Env.DATA_KEY_ID, p.env),
        state_machine_arn=p.env.get(Env.PRIVACY_STATE_MACHINE.value, ""),
        verification_timeout_seconds=int(p.env.get(Env.VERIFICATION_TIMEOUT_SECONDS.value, str(30 * 86400))),
        workflow_tenant=p.tenant if p.lists_tenants else None,
    )


def build_compliance_desk(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> ComplianceDesk:
    from callguard.privacy.desk import ComplianceDesk

    p = parts(clients, environ, tenant=tenant)
    return ComplianceDesk(
        requests=p.privacy_requests(),
        holds=p.legal_holds(),
        audit=p.audit_log(),
        kms=clients.kms,
        data_key_id=require_env(Env.DATA_KEY_ID, p.env),
        mac_key_id=require_env(Env.HMAC_KEY_ID, p.env),
    )


def build_privacy_steps(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> PrivacySteps:
    from callguard.privacy.steps import PrivacySteps

    p = parts(clients, environ, tenant=tenant)
    return PrivacySteps(
        requests=p.privacy_requests(),
        holds=p.legal_holds(),
        exports=p.export_markers(),
        tombstones=p.tombstones(),
        subjects=p.subjects(),
        service=build_privacy_service(clients, p.env, tenant=tenant),
        data=p.subject_data(),
        s3=clients.s3,
        exports_bucket=require_env(Env.EXPORTS_BUCKET, p.env),
        data_key_id=require_env(Env.DATA_KEY_ID, p.env),
        retention=p.retention,
        export_page_calls=int(p.env.get(Env.EXPORT_PAGE_CALLS.value, "25")),
        audit=p.audit_log() if p.env.get(Env.AUDIT_TABLE.value) else None,
        exports_key_id=p.env.get(Env.EXPORTS_KEY_ID.value) or None,
        four_eyes=p.env.get(Env.FOUR_EYES.value, "true").lower() != "false",
    )


def build_offboarding(clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: object) -> Offboarding:
    """The offboarding of ``tenant``, acting for the processor: refused (before anything is built)
    for the default tenant and for a tenant the deployment does not list (``CALLGUARD_OFFBOARDABLE_TENANTS``).
    The audit log is the processor's (the default tenant's, v1's keys), so its entries outlive the tenant."""
    from callguard.privacy.offboarding import Offboarding, offboardable
    from callguard.storage.scope import TenantScope
    from callguard.storage.tenant_data import OffboardingRuns, Store, TenantData

    env = environ if environ is not None else os.environ
    listed = [str(t) for t in json.loads(env.get(Env.OFFBOARDABLE_TENANTS.value) or "[]")]
    tenant_id = offboardable(tenant, listed)
    p = parts(clients, env)  # the processor's parts: its audit log and retention, not the tenant's

    def table(name: str, variable: Env, *keys: str) -> Store:
        return Store(name, "table", require_env(variable, env), keys[0], keys)

    return Offboarding(
        tenant=tenant_id,
        data=TenantData(dynamodb=clients.dynamodb, s3=clients.s3, scope=TenantScope(tenant_id)),
        runs=OffboardingRuns(dynamodb=clients.dynamodb, table=require_env(Env.PRIVACY_TABLE, env)),
        audit=p.audit_log(),
        keys=table("subject_keys", Env.KEYS_TABLE, "subject_id"),
        stores=[
            table("calls", Env.CALLS_TABLE, "pk", "sk"),
            table("subjects", Env.SUBJECTS_TABLE, "pk", "sk"),
            table("idempotency", Env.IDEMPOTENCY_TABLE, "id"),
            table("privacy", Env.PRIVACY_TABLE, "pk", "sk"),
            table("audit", Env.AUDIT_TABLE, "pk", "sk"),
            Store("transcripts", "bucket", require_env(Env.TRANSCRIPTS_BUCKET, env)),
            Store("exports", "bucket", require_env(Env.EXPORTS_BUCKET, env)),
        ],
    )


def build_audit_anchors(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> AuditAnchors:
    """The anchors of one tenant's audit chain (the default tenant's: v1's)."""
    from callguard.security.audit_anchor import AuditAnchors

    p = parts(clients, environ, tenant=tenant)
    return AuditAnchors(
        log=p.audit_log(),
        s3=clients.s3,
        kms=clients.kms,
        bucket=require_env(Env.AUDIT_ANCHORS_BUCKET, p.env),
        key_id=require_env(Env.AUDIT_ANCHOR_KEY_ID, p.env),
    )


def build_audit_verifier(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> AuditAnchors:
    """What ``callguard audit verify [--tenant]`` checks one tenant's chain with: its entries and its
    anchors (verification reads no retention, so a listed tenant needs no settings document here)."""
    if tenant == DEFAULT_TENANT:
        return build_audit_anchors(clients, environ)
    from callguard.retention.policy import RetentionPolicy
    from callguard.security.audit import AuditLog
    from callguard.security.audit_anchor import AuditAnchors
    from callguard.storage.scope import TenantScope

    env = environ if environ is not None else os.environ
    log = AuditLog(
        dynamodb=clients.dynamodb,
        table=require_env(Env.AUDIT_TABLE, env),
        retention=RetentionPolicy.defaults(),
        scope=TenantScope(tenant),
    )
    return AuditAnchors(
        log=log,
        s3=clients.s3,
        kms=clients.kms,
        bucket=require_env(Env.AUDIT_ANCHORS_BUCKET, env),
        key_id=require_env(Env.AUDIT_ANCHOR_KEY_ID, env),
    )


def build_deployment_anchors(clients: AwsClients, environ: Mapping[str, str] | None = None) -> DeploymentAnchors:
    """The scheduled anchoring: every tenant's chain in turn."""
    from callguard.security.audit_anchor import DeploymentAnchors

    env = environ if environ is not None else os.environ
    return DeploymentAnchors(
        tenants=deployment_tenants(env), build=lambda tenant: build_audit_anchors(clients, env, tenant=tenant)
    )


def build_retention_purge(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> RetentionPurge:
    """The retention purge of one tenant: its expiry partitions, its holds and restrictions, its
    stores, its report (the default tenant's: v1's)."""
    from callguard.retention.purge import PurgeTables, RetentionPurge
    from callguard.storage.expiry import ExpiryIndex, PurgeReports

    p = parts(clients, environ, tenant=tenant)
    return RetentionPurge(
        index=ExpiryIndex(dynamodb=clients.dynamodb, scope=p.scope),
        reports=PurgeReports(
            dynamodb=clients.dynamodb,
            table=require_env(Env.PRIVACY_TABLE, p.env),
            retention=p.retention,
            scope=p.scope,
        ),
        tables=PurgeTables(
            calls=require_env(Env.CALLS_TABLE, p.env),
            subjects=require_env(Env.SUBJECTS_TABLE, p.env),
            privacy=require_env(Env.PRIVACY_TABLE, p.env),
            audit=require_env(Env.AUDIT_TABLE, p.env),
        ),
        data=p.subject_data(),
        calls=p.calls(),
        subjects=p.subjects(),
        requests=p.privacy_requests(),
        holds=p.legal_holds(),
        retention=p.retention,
        anchored=_AnchorCheck(clients.s3, require_env(Env.AUDIT_ANCHORS_BUCKET, p.env), p.scope),
    )


def build_deployment_purge(clients: AwsClients, environ: Mapping[str, str] | None = None) -> DeploymentPurge:
    """The scheduled purge: every tenant of the deployment in turn, each with its own
    :func:`build_retention_purge`."""
    from callguard.retention.purge import DeploymentPurge

    env = environ if environ is not None else os.environ
    return DeploymentPurge(
        tenants=deployment_tenants(env), build=lambda tenant: build_retention_purge(clients, env, tenant=tenant)
    )


@dataclass(frozen=True)
class _AnchorCheck:
    """Whether an audit day has its signed day anchor (the purge's only read of the anchors bucket)."""

    s3: object
    bucket: str
    #: whose anchors (each tenant's chain has its own)
    scope: TenantScope

    def __call__(self, day: str) -> bool:
        """A listing under ``days/`` only: the purge never reads an object of the anchors bucket."""
        from callguard.security.audit_anchor import day_key

        key = day_key(day, self.scope)
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)  # type: ignore[attr-defined]
        return bool(listed.get("KeyCount"))


@dataclass
class IngestApi:
    """``POST /v1/calls`` (idempotent on ``call_id``) and ``POST /v1/calls/{id}/segments``."""

    service: IngestService
    live: LiveService
    idempotency_config: Any
    #: ``ingest(call=...)``: the ingest service behind Powertools Idempotency
    ingest: Callable[..., CallAccepted]


def build_ingest_api(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> IngestApi:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

    from callguard.models import CallAccepted, CallIn
    from callguard.storage.idempotency import record_prefix

    p = parts(clients, environ, tenant=tenant)
    service = build_ingest_service(clients, p.env, tenant=tenant)
    config = IdempotencyConfig(
        event_key_jmespath="call_id",
        payload_validation_jmespath="@",
        expires_after_seconds=int(p.env.get(Env.IDEMPOTENCY_TTL_SECONDS.value, "3600")),
        raise_on_no_idempotency_key=True,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=require_env(Env.IDEMPOTENCY_TABLE, p.env), boto3_client=clients.dynamodb
    )

    @idempotent_function(
        data_keyword_argument="call",
        config=config,
        persistence_store=persistence,
        output_serializer=PydanticSerializer(model=CallAccepted),
        # a listed tenant's records are its own: another tenant posting the same call id and body must never
        # get this tenant's stored answer (its subject id); the default tenant keeps v1's record keys
        key_prefix=record_prefix(p.env.get("AWS_LAMBDA_FUNCTION_NAME", "ingest"), p.scope),
    )
    def ingest(call: CallIn) -> CallAccepted:
        return service.ingest(call)

    return IngestApi(
        service=service,
        live=build_live_service(clients, p.env, tenant=tenant),
        idempotency_config=config,
        ingest=ingest,
    )


@dataclass
class PrivacyApi:
    """The compliance team's API: privacy requests, holds, lists and the audit log they are read under."""

    service: PrivacyService
    desk: ComplianceDesk
    audit: AuditLog
    s3: Any

    def presign(self, bucket: str, key: str) -> str:
        from callguard.privacy.workflow import REDIRECT_SECONDS

        url: str = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=REDIRECT_SECONDS
        )
        return url


def build_privacy_api(
    clients: AwsClients, environ: Mapping[str, str] | None = None, *, tenant: str = DEFAULT_TENANT
) -> PrivacyApi:
    p = parts(clients, environ, tenant=tenant)
    return PrivacyApi(
        service=build_privacy_service(clients, p.env, tenant=tenant),
        desk=build_compliance_desk(clients, p.env, tenant=tenant),
        audit=p.audit_log(),
        s3=clients.s3,
    )


def deployment_tenants(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every tenant of the deployment: the default tenant, then each tenant ``CALLGUARD_TENANT_SETTINGS``
    lists (set by ``infra`` on the functions that act for tenants, only when tenants are listed)."""
    from callguard.security.tenant_settings import TenantSettingsDocument

    env = environ if environ is not None else os.environ
    listed = TenantSettingsDocument.from_env(env.get(Env.TENANT_SETTINGS.value)).tenants
    return (DEFAULT_TENANT, *sorted(listed))


def build_deadline_check(clients: AwsClients, environ: Mapping[str, str] | None = None) -> DeadlineCheck:
    """The daily deadline check of every tenant of the deployment (scheduled: it acts for each in turn)."""
    from callguard.privacy.workflow import DeadlineCheck

    env = environ if environ is not None else os.environ
    stores = [parts(clients, env, tenant=tenant).privacy_requests() for tenant in deployment_tenants(env)]
    return DeadlineCheck(requests=stores)
