"""Typed, validated deployment settings.

Read from CDK context (``cdk.json`` or ``-c key=value``) and the environment. Synth
stops with one clear sentence on any setting that would break the product's
promises (a region outside the EU, or one without Amazon Comprehend).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callguard.analysis.intents import DEFAULT_INTENTS, IntentConfig
from callguard.calls.importer.settings import ImportSettings
from callguard.names import Scope
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.routing.rules import DEFAULT_ROUTING, RoutingConfig
from callguard.security.tenancy import DEFAULT_TENANT, TENANT_ID_PATTERN, group_name
from callguard.security.tenant_settings import TenantRuntimeSettings, TenantSettingsDocument

__all__ = [
    "COMPREHEND_REGIONS",
    "EU_REGIONS",
    "ConfigError",
    "QueueSettings",
    "Settings",
    "Tenant",
    "TenantSettings",
    "load_settings",
]

#: AWS regions located in EU member states.
EU_REGIONS = frozenset({"eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2"})
#: EU regions in which Amazon Comprehend (real-time analysis APIs) is offered.
COMPREHEND_REGIONS = frozenset({"eu-central-1", "eu-west-1"})
DEFAULT_REGION = "eu-central-1"
#: what ``CALLGUARD_TENANT_SETTINGS`` may take: Lambda allows 4 KB of environment per function, and the
#: API functions carry v1's variables (intents, routing: about 1.5 KB) beside it
TENANT_SETTINGS_MAX_BYTES = 2048


class ConfigError(ValueError):
    """A deployment setting is invalid; the message is one sentence for the operator."""


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_receive_count: Annotated[int, Field(ge=1, le=20)] = 5
    batch_size: Annotated[int, Field(ge=1, le=10)] = 5
    #: at least six times the analysis function's timeout (AWS's guidance for SQS sources)
    visibility_timeout_seconds: Annotated[int, Field(ge=30, le=43200)] = 180
    dlq_retention_days: Annotated[int, Field(ge=1, le=14)] = 14


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    throttle_rate_limit: Annotated[float, Field(gt=0, le=10000)] = 100.0
    throttle_burst_limit: Annotated[int, Field(ge=1, le=5000)] = 200
    #: the stage is the contract's version prefix: the invoke URL ends in ``/v1/`` and the routes
    #: below it are ``/calls``, …, so the deployed paths are exactly the contract's (``/v1/calls``)
    stage_name: Literal["v1"] = "v1"


#: what a platform (machine) client may be granted; each tenant's client gets these unless narrowed
PLATFORM_SCOPES: tuple[Scope, ...] = (Scope.CALLS_WRITE, Scope.ROUTING_DECIDE)

_DEFAULT_GROUP_SCOPES: dict[str, tuple[Scope, ...]] = {
    "agent": (Scope.CALLS_READ,),
    "compliance": (Scope.PRIVACY_MANAGE,),
}


class IdentitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Cognito hosted-domain prefix; ``None`` derives ``callguard-<account>``.
    domain_prefix: str | None = None
    #: Redirect URLs for people signing in (the compliance CLI listens on localhost).
    callback_urls: tuple[str, ...] = ("http://localhost:8765/callback",)
    access_token_minutes: Annotated[int, Field(ge=5, le=60)] = 15
    #: Cognito group → scopes that members' access tokens may carry.
    group_scopes: dict[str, tuple[Scope, ...]] = Field(default_factory=lambda: dict(_DEFAULT_GROUP_SCOPES))

    @field_validator("group_scopes")
    @classmethod
    def _bare_group_names(cls, value: dict[str, tuple[Scope, ...]]) -> dict[str, tuple[Scope, ...]]:
        for group in value:
            if not re.match(r"^[a-z][a-z0-9_-]{1,30}$", group):
                raise ConfigError(
                    f"Group {group[:40]!r} in 'identity.group_scopes' is invalid: use a-z, 0-9, '_' and '-' "
                    "(a tenant's groups are named '<tenant>:<group>')."
                )
        return value


class ConsoleSettings(BaseModel):
    """The compliance console behind CloudFront (``infra/constructs/compliance_console.py``).

    CloudFront accepts only a web ACL of scope CLOUDFRONT, and those exist only in us-east-1, while
    this stack stays in its EU region: the web ACL is made once in us-east-1 (docs/console.md) and
    named here. Without it the console is not deployed (the API and ``make local``'s console are
    unaffected); a distribution without a web ACL is never synthesized.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    web_acl_arn: (
        Annotated[str, Field(pattern=r"^arn:aws:wafv2:us-east-1:\d{12}:global/webacl/[\w-]{1,128}/[0-9a-f-]{36}$")]
        | None
    ) = None
    #: optional custom domain of the console and its ACM certificate (also us-east-1, as CloudFront needs):
    #: with them viewers must use TLS 1.2 (CloudFront's default certificate allows TLSv1)
    domain_name: (
        Annotated[str, Field(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")] | None
    ) = None
    certificate_arn: (
        Annotated[str, Field(pattern=r"^arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")] | None
    ) = None

    @model_validator(mode="after")
    def _domain_with_certificate(self) -> ConsoleSettings:
        if (self.domain_name is None) != (self.certificate_arn is None):
            raise ConfigError("Settings 'console.domain_name' and 'console.certificate_arn' go together.")
        return self

    @property
    def enabled(self) -> bool:
        return self.web_acl_arn is not None


class ControllerSettings(BaseModel):
    """Who is responsible (Art. 4(7), 13(1)(a,b) GDPR): printed in the records of processing
    and the caller-facing notice. Set these in ``cdk.json`` before going live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=2, max_length=200)] = "<controller: the contact center's legal entity>"
    address: Annotated[str, Field(min_length=2, max_length=300)] = "<postal address>"
    privacy_contact: Annotated[str, Field(min_length=3, max_length=200)] = "<privacy@example.com>"
    dpo_contact: Annotated[str, Field(min_length=3, max_length=200)] = "<dpo@example.com>"
    #: the competent supervisory authority (Art. 13(2)(d))
    supervisory_authority: Annotated[str, Field(min_length=3, max_length=200)] = (
        "<the supervisory authority of your federal state>"
    )


_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class TenantController(ControllerSettings):
    """A listed tenant's controller block: name and contacts have no placeholder default (a
    controller the records of processing cannot name is not one to serve)."""

    name: Annotated[str, Field(min_length=2, max_length=200)]
    privacy_contact: Annotated[str, Field(min_length=3, max_length=200)]
    dpo_contact: Annotated[str, Field(min_length=3, max_length=200)]


class TenantSettings(BaseModel):
    """One listed tenant (a controller this deployment processes for) as written in ``cdk.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: becomes a key prefix and a Cognito group prefix, so only ``[a-z][a-z0-9-]{1,30}``
    id: str
    controller: TenantController
    #: per data category, days that replace the deployment's period for this tenant
    retention: dict[str, Annotated[int, Field(ge=1, le=3650)]] = Field(default_factory=dict)
    #: this tenant's intents / routing instead of the deployment's (``None``: the deployment's)
    intents: IntentConfig | None = None
    routing: RoutingConfig | None = None
    #: who hears of this tenant's operational alarms
    alarm_emails: tuple[Annotated[str, Field(pattern=_EMAIL)], ...] = ()
    #: the scopes of this tenant's platform client (a subset of ``calls:write``, ``routing:decide``)
    platform_scopes: tuple[Scope, ...] = PLATFORM_SCOPES

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not re.match(TENANT_ID_PATTERN, value):
            raise ConfigError(
                f"Tenant id {value[:40]!r} is invalid: use 2 to 31 characters of a-z, 0-9 and '-', starting with a "
                "letter (tenant ids become key and group prefixes)."
            )
        if value == DEFAULT_TENANT:
            raise ConfigError(
                f"Tenant id {DEFAULT_TENANT!r} is reserved: the default tenant always exists and takes the "
                "top-level settings (controller, retention, intents, routing, alarm_emails); set them there."
            )
        return value

    @field_validator("platform_scopes")
    @classmethod
    def _platform_scopes(cls, value: tuple[Scope, ...]) -> tuple[Scope, ...]:
        if not value or not set(value) <= set(PLATFORM_SCOPES) or len(set(value)) != len(value):
            raise ConfigError(
                "A tenant's 'platform_scopes' must be one or more distinct of: "
                + ", ".join(s.value for s in PLATFORM_SCOPES)
                + "."
            )
        return value


class Tenant(BaseModel):
    """A tenant with every value resolved (the default tenant: the top-level values)."""

    model_config = ConfigDict(frozen=True)

    id: str
    controller: ControllerSettings
    retention: RetentionPolicy
    intents: IntentConfig
    routing: RoutingConfig
    alarm_emails: tuple[str, ...]
    platform_scopes: tuple[Scope, ...]
    #: Cognito group name → scopes its members' tokens may carry
    group_scopes: dict[str, tuple[Scope, ...]]

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_TENANT


def _compact(config: BaseModel) -> dict[str, Any]:
    """The fields of ``config`` that differ from its model's defaults (they parse back to ``config``)."""
    return config.model_dump(mode="json", exclude_defaults=True)


def _overridden(base: RetentionPolicy, tenant: str, overrides: Mapping[str, int]) -> RetentionPolicy:
    rules = dict(base.rules)
    for name, days in overrides.items():
        try:
            category = DataCategory(name)
        except ValueError:
            raise ConfigError(
                f"Tenant {tenant!r}: unknown data category {name[:40]!r} in retention overrides "
                f"(known: {', '.join(c.value for c in DataCategory)})."
            ) from None
        rules[category] = rules[category].model_copy(update={"days": days})
    try:
        return RetentionPolicy.model_validate({"rules": {k: v.model_dump() for k, v in rules.items()}})
    except ValidationError as exc:
        cause = (exc.errors(include_url=False)[0].get("ctx") or {}).get("error")
        raise ConfigError(f"Tenant {tenant!r}: {cause if cause else 'invalid retention overrides'}") from None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str | None = None
    region: str = DEFAULT_REGION
    stack_name: str = "Callguard"
    #: ``retain`` keeps stores on stack deletion (production); ``destroy`` for test accounts.
    removal: str = "retain"
    retention: RetentionPolicy = Field(default_factory=RetentionPolicy.defaults)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    default_phone_region: str = "DE"
    #: keywords per intent for the explainable classifier (analysis and routing)
    intents: IntentConfig = DEFAULT_INTENTS
    #: optional Comprehend custom classifier endpoint for intents (keywords remain the fallback)
    intent_classifier_endpoint_arn: (
        Annotated[str, Field(pattern=r"^arn:aws:comprehend:[a-z0-9-]+:\d{12}:document-classifier-endpoint/[\w-]+$")]
        | None
    ) = None
    #: queues, business hours, priorities and the knowledge base (see callguard.routing.rules)
    routing: RoutingConfig = DEFAULT_ROUTING
    #: how long a privacy request waits for identity verification before it is rejected
    verification_timeout_days: Annotated[int, Field(ge=1, le=30)] = 14
    #: four-eyes: releasing an export and executing an erasure need a second compliance person's approval
    four_eyes: bool = True
    #: hours until a follow-up created by the analysis is due
    followup_due_hours: Annotated[int, Field(ge=1, le=24 * 14)] = 24
    #: concurrent analysis invocations (bounds Comprehend throughput and cost)
    analysis_max_concurrency: Annotated[int, Field(ge=2, le=100)] = 5
    log_retention_days: int = 365
    idempotency_ttl_seconds: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600
    #: Point-in-time recovery window of the subject-keys table: a shredded key must age
    #: out of every backup well inside the one-month deadline of Art. 12(3).
    keys_pitr_days: Annotated[int, Field(ge=1, le=14)] = 7
    #: hours (Europe/Berlin) at which the retention purge runs each night; later runs carry on
    #: where an earlier one stopped
    purge_hours: Annotated[str, Field(pattern=r"^([0-9]|1[0-9]|2[0-3])(-([0-9]|1[0-9]|2[0-3]))?$")] = "1-4"
    trail_object_lock_days: Annotated[int, Field(ge=1, le=3650)] = 365
    #: ``True`` when an AWS Organizations trail already records management and data events in every
    #: region of this account: the stack then creates no trail of its own (otherwise: a multi-region trail)
    organization_trail: bool = False
    #: minutes between signed checkpoints of the audit chain (entries newer than the last checkpoint
    #: of the current day are protected by the hash chain only)
    audit_checkpoint_minutes: Annotated[int, Field(ge=5, le=1440)] = 15
    #: Object Lock (compliance mode) retention of signed audit anchors; no one can delete them before
    audit_anchor_lock_days: Annotated[int, Field(ge=1, le=3650)] = 6 * 365
    #: reserved concurrency of each privacy workflow step function (``None``: unreserved), so a flood
    #: of analyses cannot starve erasures; needs account concurrency beyond the 100 kept unreserved
    privacy_step_reserved_concurrency: Annotated[int, Field(ge=1, le=100)] | None = 2
    #: reserved concurrency of the analysis function (``None``: unreserved)
    analysis_reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] | None = 5
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    #: who operates this deployment for the tenants (Art. 30(2) GDPR): printed in the processor's
    #: record of processing when ``tenants`` are listed
    processor: ControllerSettings = Field(
        default_factory=lambda: ControllerSettings(name="<processor: the service provider's legal entity>")
    )
    #: the compliance console (S3 + CloudFront); deployed when its CLOUDFRONT web ACL is named
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    #: e-mail addresses subscribed to the operations alarm topic (each confirms once)
    alarm_emails: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = ()
    #: calls per page of an access/portability export (one workflow step each); bounds the
    #: memory and time of one invocation however many calls a subject has
    export_page_calls: Annotated[int, Field(ge=1, le=500)] = 25
    #: import of Contact Lens / Transcribe Call Analytics files (bucket, prefixes, Connect
    #: instance, contact attribute names, redacted-only mode): see README "Amazon Connect users"
    imports: ImportSettings = Field(default_factory=ImportSettings)
    #: further controllers served by this deployment (README "Tenants"); the ``default`` tenant always
    #: exists and takes the top-level values. Without a list, v1's single-tenant deployment.
    tenants: tuple[TenantSettings, ...] = ()

    @model_validator(mode="after")
    def _tenants_are_distinct(self) -> Settings:
        seen: set[str] = set()
        for tenant in self.tenants:
            if tenant.id in seen:
                raise ConfigError(f"Tenant id {tenant.id!r} is listed twice; each tenant needs its own id.")
            seen.add(tenant.id)
        self.tenant_list()  # per-tenant retention errors surface at synth, in one sentence
        self.tenant_settings_env()  # and so does a settings document too large for the functions
        return self

    def tenant_list(self) -> tuple[Tenant, ...]:
        """Every tenant with its resolved values, ``default`` first."""
        groups = self.identity.group_scopes
        default = Tenant(
            id=DEFAULT_TENANT,
            controller=self.controller,
            retention=self.retention,
            intents=self.intents,
            routing=self.routing,
            alarm_emails=self.alarm_emails,
            platform_scopes=PLATFORM_SCOPES,
            group_scopes=dict(groups),
        )
        listed = tuple(
            Tenant(
                id=t.id,
                controller=t.controller,
                retention=_overridden(self.retention, t.id, t.retention),
                intents=t.intents or self.intents,
                routing=t.routing or self.routing,
                alarm_emails=t.alarm_emails,
                platform_scopes=t.platform_scopes,
                group_scopes={group_name(t.id, role): scopes for role, scopes in groups.items()},
            )
            for t in self.tenants
        )
        return (default, *listed)

    @property
    def multi_tenant(self) -> bool:
        return bool(self.tenants)

    def tenant_settings_env(self) -> str | None:
        """``CALLGUARD_TENANT_SETTINGS``: each listed tenant's runtime settings, ``None`` without a list.

        One entry per listed tenant (:class:`callguard.security.tenant_settings.TenantSettingsDocument`): its
        resolved ``retention`` (days per data category) and, only where it overrides the deployment's,
        its ``intents`` and ``routing``. The default tenant
        is not in it: it keeps v1's ``CALLGUARD_RETENTION`` / ``CALLGUARD_INTENTS`` / ``CALLGUARD_ROUTING``,
        so a single-tenant deployment's environment is v1's. Alarm contacts stay out of the functions
        (they are SNS subscriptions, ``Operations``): no function needs an e-mail address.
        """
        if not self.tenants:
            return None
        document = TenantSettingsDocument(
            tenants={
                # intents and routing as the fields that differ from their models' defaults: they parse back
                # to the same configuration, and the document stays well inside Lambda's 4 KB of environment
                tenant.id: TenantRuntimeSettings(
                    retention=json.loads(tenant.retention.to_env()),
                    intents=None if listed.intents is None else _compact(listed.intents),
                    routing=None if listed.routing is None else _compact(listed.routing),
                )
                for listed, tenant in zip(self.tenants, self.tenant_list()[1:], strict=True)
            }
        )
        text = document.to_env()
        if len(text.encode()) > TENANT_SETTINGS_MAX_BYTES:
            raise ConfigError(
                f"The tenants' runtime settings take {len(text.encode())} bytes, more than the "
                f"{TENANT_SETTINGS_MAX_BYTES} a Lambda environment can carry beside the rest; override fewer "
                "intents or routing rules per tenant, or give the tenant a deployment of its own."
            )
        return text

    @field_validator("region")
    @classmethod
    def _eu_with_comprehend(cls, region: str) -> str:
        if region not in EU_REGIONS:
            raise ConfigError(
                f"Region {region!r} is not in the EU; callguard deploys only to "
                f"{', '.join(sorted(COMPREHEND_REGIONS))}."
            )
        if region not in COMPREHEND_REGIONS:
            raise ConfigError(
                f"Region {region!r} is in the EU but has no Amazon Comprehend; choose "
                f"{' or '.join(sorted(COMPREHEND_REGIONS))}."
            )
        return region

    @field_validator("removal")
    @classmethod
    def _removal(cls, value: str) -> str:
        if value not in {"retain", "destroy"}:
            raise ConfigError("Setting 'removal' must be 'retain' or 'destroy'.")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _log_retention(cls, value: int) -> int:
        allowed = {
            1,
            3,
            5,
            7,
            14,
            30,
            60,
            90,
            120,
            150,
            180,
            365,
            400,
            545,
            731,
            1096,
            1827,
            2192,
            2557,
            2922,
            3288,
            3653,
        }
        if value not in allowed:
            raise ConfigError(f"Setting 'log_retention_days' must be one of CloudWatch's periods: {sorted(allowed)}.")
        return value


def _first_message(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, Exception):
        return str(ctx_error)
    where = ".".join(str(p) for p in error["loc"]) or "settings"
    return f"Setting {where!r} is invalid: {error['msg']}."


def _context_getter(context: Callable[[str], Any] | Mapping[str, Any] | None) -> Callable[[str], Any]:
    if context is None:
        return lambda _key: None
    if callable(context):
        return context
    return context.get


def load_settings(
    context: Callable[[str], Any] | Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from CDK context (``callguard`` object or single keys) and the environment.

    Region precedence: context ``region`` > ``CALLGUARD_REGION`` > ``eu-central-1``.
    The AWS profile's default region (``AWS_REGION``, ``CDK_DEFAULT_REGION``) is
    deliberately ignored, so a developer's shell default cannot move personal data
    out of the EU by accident; the account comes from context, ``CALLGUARD_ACCOUNT``
    or the CLI's ``CDK_DEFAULT_ACCOUNT``.
    """
    env = environ if environ is not None else os.environ
    get = _context_getter(context)
    raw: dict[str, Any] = {}
    block = get("callguard")
    if isinstance(block, str):
        block = json.loads(block)
    if isinstance(block, dict):
        raw.update(block)
    for key in ("region", "account", "removal", "stack_name"):
        value = get(key)
        if value is not None:
            raw[key] = value
    raw.setdefault("region", env.get("CALLGUARD_REGION") or DEFAULT_REGION)
    account = raw.get("account") or env.get("CALLGUARD_ACCOUNT") or env.get("CDK_DEFAULT_ACCOUNT")
    if account:
        raw["account"] = str(account)
    retention = raw.pop("retention", None)
    try:
        if retention is not None:
            raw["retention"] = RetentionPolicy.defaults(retention)
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_first_message(exc)) from None
    except ValueError as exc:  # RetentionPolicyError and friends carry one sentence
        raise ConfigError(str(exc)) from None
