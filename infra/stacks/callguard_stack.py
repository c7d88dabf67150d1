"""The callguard stack: one EU region, every capability as one construct."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Environment, RemovalPolicy, Stack, Tags
from constructs import Construct

from infra.config import Settings
from infra.constructs.agent_view_api import AgentViewApi
from infra.constructs.api import PublicApi
from infra.constructs.audit_anchoring import AuditAnchoring
from infra.constructs.audit_trail import AuditTrail
from infra.constructs.call_analysis import CallAnalysis
from infra.constructs.call_import import CallImport
from infra.constructs.compliance_console import ComplianceConsole
from infra.constructs.data_plane import DataPlane
from infra.constructs.function import SharedLayers
from infra.constructs.identity import Identity
from infra.constructs.ingest_api import IngestApi
from infra.constructs.keys import ProjectKeys
from infra.constructs.nightly_purge import NightlyPurge
from infra.constructs.operations import Operations
from infra.constructs.platform import Platform
from infra.constructs.privacy_api import DeadlineCheck, PrivacyApi
from infra.constructs.routing_api import RoutingApi
from infra.constructs.scorecard import Scorecard
from infra.constructs.tenant_offboarding import TenantOffboarding

__all__ = ["CallguardStack"]


class CallguardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description="callguard: GDPR-first backend for AI-assisted call centers",
            **kwargs,
        )
        removal = RemovalPolicy.RETAIN if settings.removal == "retain" else RemovalPolicy.DESTROY
        Tags.of(self).add("project", "callguard")
        Tags.of(self).add("data-classification", "personal")

        self.keys = ProjectKeys(self, "Keys", removal=removal, tenants=[t.id for t in settings.tenants])
        self.data = DataPlane(self, "Data", keys=self.keys, settings=settings, removal=removal)
        self.layers = SharedLayers(self, "Layers")
        self.identity = Identity(
            self, "Identity", settings=settings, layers=self.layers, keys=self.keys, removal=removal
        )
        self.api = PublicApi(self, "Api", settings=settings, identity=self.identity, keys=self.keys, removal=removal)
        platform = Platform(
            settings, self.keys, self.data, self.layers, self.api, removal, self.identity.tenant_directory
        )
        self.ingest = IngestApi(self, "IngestApi", platform=platform)
        self.analysis = CallAnalysis(self, "Analysis", platform=platform)
        self.imports = CallImport(self, "Import", platform=platform) if settings.imports.enabled else None
        self.agent_view = AgentViewApi(self, "AgentViewApi", platform=platform)
        self.routing = RoutingApi(self, "RoutingApi", platform=platform)
        self.privacy = PrivacyApi(self, "PrivacyApi", platform=platform)
        self.deadlines = DeadlineCheck(self, "Deadlines", platform=platform)
        #: an operator offboards a listed tenant (a deployment without a tenant list has none to offboard)
        self.offboarding = TenantOffboarding(self, "Offboarding", platform=platform) if settings.multi_tenant else None
        self.operations = Operations(
            self,
            "Operations",
            keys=self.keys,
            emails=settings.alarm_emails,
            tenant_emails={t.id: t.alarm_emails for t in settings.tenants},
        )
        self.anchoring = AuditAnchoring(self, "AuditAnchoring", platform=platform, alarm_topic=self.operations.topic)
        self.retention = NightlyPurge(
            self, "Retention", platform=platform, alarm_topic=self.operations.topic, anchors=self.anchoring.bucket
        )
        self.operations.watch_queue(self.data.analysis_dlq)
        for name, dlq in (("AuditAnchoring", self.anchoring.dlq), ("RetentionPurge", self.retention.dlq),
                          ("DeadlineCheck", self.deadlines.dlq)):  # fmt: skip
            self.operations.watch_failures(name, dlq)
        if self.imports is not None:
            self.operations.alarm(
                "ImportDlqNotEmpty",
                metric=self.imports.dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                description="Dropped transcript files failed import after every retry and wait in the DLQ.",
                anchor="import-dlq-not-empty",
            )
        self.operations.watch_api(self.api.rest_api.rest_api_name, settings.api.stage_name)
        self.operations.watch_throttles(
            [self.ingest.handler, self.routing.handler, self.agent_view.handler, self.privacy.handler],
            [self.data.calls, self.data.subjects, self.data.subject_keys, self.data.idempotency],
        )
        self.operations.watch_workflow(self.privacy.workflow.state_machine)
        self.scorecard = Scorecard(self, "Scorecard")
        #: each listed tenant's scorecard: the same widgets over the metrics its requests emit
        self.tenant_scorecards = {t.id: Scorecard(self, f"Scorecard-{t.id}", tenant=t.id) for t in settings.tenants}
        #: ``organization_trail``: an AWS Organizations trail records every region of the account already
        self.audit = (
            None
            if settings.organization_trail
            else AuditTrail(
                self,
                "Audit",
                keys=self.keys,
                settings=settings,
                access_logs=self.data.access_logs,
                # the import bucket's files are personal data too (read by the importer, then deleted)
                buckets=[self.data.transcripts, self.data.exports, self.anchoring.bucket]
                + ([self.imports.bucket] if self.imports is not None and self.imports.owned else []),
                tables=self.data.tables,
                removal=removal,
            )
        )

        #: the compliance console (S3 + CloudFront), when its us-east-1 web ACL is configured
        self.console = (
            ComplianceConsole(
                self,
                "Console",
                settings=settings.console,
                api=self.api,
                identity=self.identity,
                exports=self.data.exports,
                access_logs=self.data.access_logs,
                keys=self.keys,
                log_retention_days=settings.log_retention_days,
                removal=removal,
            )
            if settings.console.enabled
            else None
        )

        self.operations.notify_tenants()
        self.keys.finalize()

        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url)
        CfnOutput(self, "UserPoolId", value=self.identity.user_pool.user_pool_id)
        CfnOutput(self, "PlatformClientId", value=self.identity.platform_client.user_pool_client_id)
        CfnOutput(self, "PeopleClientId", value=self.identity.people_client.user_pool_client_id)
        for tenant in self.identity.tenants[1:]:  # listed tenants' platform clients (default: PlatformClientId)
            CfnOutput(
                self.identity.tenant_scope(tenant),
                "PlatformClientId",
                value=self.identity.platform_clients[tenant.id].user_pool_client_id,
                description=f"platform client of tenant {tenant.id}",
            )
        if self.imports is not None:  # the Connect account grants this role its bucket (README)
            CfnOutput(self, "ImporterRoleArn", value=self.imports.handler.role.role_arn)
        if self.console is not None:
            CfnOutput(self, "ConsoleUrl", value=self.console.url)
        CfnOutput(self, "TokenEndpoint", value=f"{self.identity.domain.base_url()}/oauth2/token")
