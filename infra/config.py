"""Typed, validated deployment settings.

Read from CDK context (``cdk.json`` or ``-c key=value``) and the environment. Synth
stops with one clear sentence on any setting that would break the product's
promises (a region outside the EU, or one without Amazon Comprehend).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callguard.importer.settings import ImportSettings
from callguard.intents import DEFAULT_INTENTS, IntentConfig
from callguard.names import Scope
from callguard.retention import RetentionPolicy
from callguard.routing import DEFAULT_ROUTING, RoutingConfig

__all__ = [
    "COMPREHEND_REGIONS",
    "EU_REGIONS",
    "ConfigError",
    "QueueSettings",
    "Settings",
    "load_settings",
]

#: AWS regions located in EU member states.
EU_REGIONS = frozenset({"eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2"})
#: EU regions in which Amazon Comprehend (real-time analysis APIs) is offered.
COMPREHEND_REGIONS = frozenset({"eu-central-1", "eu-west-1"})
DEFAULT_REGION = "eu-central-1"


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
    #: queues, business hours, priorities and the knowledge base (see callguard.routing)
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
    #: e-mail addresses subscribed to the operations alarm topic (each confirms once)
    alarm_emails: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = ()
    #: calls per page of an access/portability export (one workflow step each); bounds the
    #: memory and time of one invocation however many calls a subject has
    export_page_calls: Annotated[int, Field(ge=1, le=500)] = 25
    #: import of Contact Lens / Transcribe Call Analytics files (bucket, prefixes, Connect
    #: instance, contact attribute names, redacted-only mode): see README "Amazon Connect users"
    imports: ImportSettings = Field(default_factory=ImportSettings)

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
