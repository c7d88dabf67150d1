"""Resource names shared by the infrastructure (``infra/``) and the functions.

One module so that a table, an environment variable or a scope cannot be spelt
two ways. ``infra`` reads the logical ids and attribute names from here, sets the
environment variables, and the functions read the same variables back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "AGENT_ID_PATTERN",
    "API_PREFIX",
    "ATTR_IDEMPOTENCY_TTL",
    "ATTR_TTL",
    "CALL_ID_PATTERN",
    "EXPIRY_INDEX_INCLUDES",
    "EXPIRY_SHARDS",
    "GSI_BY_DEADLINE",
    "GSI_BY_DUE",
    "GSI_BY_EXPIRY",
    "GSI_BY_SUBJECT",
    "MAX_BODY_BYTES",
    "METRICS_NAMESPACE",
    "REQUEST_LIST_INCLUDES",
    "REQUEST_LIST_KEY",
    "RESOURCE_SERVER_ID",
    "ROUTES",
    "SERVICE_NAME",
    "TENANT_DIMENSION",
    "TTL_GRACE_SECONDS",
    "Env",
    "Route",
    "Scope",
    "full_scope",
]

SERVICE_NAME: Final = "callguard"
METRICS_NAMESPACE: Final = "Callguard"
#: the metric dimension a listed tenant's metrics carry (its scorecard); the default tenant's keep v1's
TENANT_DIMENSION: Final = "tenant"
API_PREFIX: Final = "/v1"
MAX_BODY_BYTES: Final = 256 * 1024
#: The privacy workflow's state machine is ``<stack name>-<this>``: a fixed name, because the
#: execution role's KMS statements name the machine's ARN in their encryption-context condition.
PRIVACY_WORKFLOW_NAME: Final = "privacy-requests"
#: The tenant offboarding workflow's state machine is ``<stack name>-<this>`` (only with tenants listed).
OFFBOARDING_WORKFLOW_NAME: Final = "tenant-offboarding"

#: Cognito resource server identifier; full scope strings are ``callguard/<scope>``.
RESOURCE_SERVER_ID: Final = "callguard"

#: Attribute DynamoDB TTL reads on every table (the retention backstop).
#: DynamoDB TTL attribute: a backstop a week after ``expires_at``, the instant the retention
#: purge works from (the purge pushes it out for items it keeps under a legal hold).
ATTR_TTL: Final = "ttl_backstop"
TTL_GRACE_SECONDS: Final = 7 * 86400
#: Powertools Idempotency uses its own attribute names on the idempotency table.
ATTR_IDEMPOTENCY_TTL: Final = "expiration"

GSI_BY_SUBJECT: Final = "by_subject"
GSI_BY_EXPIRY: Final = "by_expiry"
GSI_BY_DUE: Final = "by_due"
#: The privacy table's request list: every request under one fixed partition (``request_list``)
#: ordered by its current deadline (``deadline_at``, fixed-width UTC). One partition, because the
#: list is read in deadline order across all requests (a desk files thousands a month at most,
#: far below a partition's 1,000 writes/s); the projection carries the list's columns only.
GSI_BY_DEADLINE: Final = "by_deadline"
REQUEST_LIST_KEY: Final = "REQUESTS"
REQUEST_LIST_INCLUDES: Final = ("request_id", "type", "status", "received_at", "completed_at")
#: Shards of the expiry index per data category (``<category>#<n>``): spreads writes of one
#: category over partitions; the purge reads every shard.
EXPIRY_SHARDS: Final = 8
#: Attributes the expiry index carries besides keys, so the purge needs no read per item.
EXPIRY_INDEX_INCLUDES: Final = ("subject_id", "object_bucket", "object_key", "request_id")


class Env(StrEnum):
    """Environment variables the functions read (set by ``infra``)."""

    CALLS_TABLE = "CALLGUARD_CALLS_TABLE"
    SUBJECTS_TABLE = "CALLGUARD_SUBJECTS_TABLE"
    KEYS_TABLE = "CALLGUARD_KEYS_TABLE"
    IDEMPOTENCY_TABLE = "CALLGUARD_IDEMPOTENCY_TABLE"
    TRANSCRIPTS_BUCKET = "CALLGUARD_TRANSCRIPTS_BUCKET"
    ANALYSIS_QUEUE_URL = "CALLGUARD_ANALYSIS_QUEUE_URL"
    DATA_KEY_ID = "CALLGUARD_DATA_KEY_ID"
    HMAC_KEY_ID = "CALLGUARD_HMAC_KEY_ID"
    RETENTION = "CALLGUARD_RETENTION"
    DEFAULT_PHONE_REGION = "CALLGUARD_DEFAULT_PHONE_REGION"
    IDEMPOTENCY_TTL_SECONDS = "CALLGUARD_IDEMPOTENCY_TTL_SECONDS"
    GROUP_SCOPES = "CALLGUARD_GROUP_SCOPES"
    INTENTS = "CALLGUARD_INTENTS"
    INTENT_CLASSIFIER_ENDPOINT = "CALLGUARD_INTENT_CLASSIFIER_ENDPOINT"
    ROUTING = "CALLGUARD_ROUTING"
    PRIVACY_TABLE = "CALLGUARD_PRIVACY_TABLE"
    EXPORTS_BUCKET = "CALLGUARD_EXPORTS_BUCKET"
    PRIVACY_STATE_MACHINE = "CALLGUARD_PRIVACY_STATE_MACHINE"
    VERIFICATION_TIMEOUT_SECONDS = "CALLGUARD_VERIFICATION_TIMEOUT_SECONDS"
    FOLLOWUP_DUE_HOURS = "CALLGUARD_FOLLOWUP_DUE_HOURS"
    AUDIT_TABLE = "CALLGUARD_AUDIT_TABLE"
    EXPORT_PAGE_CALLS = "CALLGUARD_EXPORT_PAGE_CALLS"
    #: the key of the exports bucket (exports are readable only by the roles that write or hand them out)
    EXPORTS_KEY_ID = "CALLGUARD_EXPORTS_KEY_ID"
    #: the Object Lock (compliance mode) bucket of signed audit anchors
    AUDIT_ANCHORS_BUCKET = "CALLGUARD_AUDIT_ANCHORS_BUCKET"
    #: the asymmetric (SIGN_VERIFY) KMS key that signs audit anchors; only the anchoring function may sign
    AUDIT_ANCHOR_KEY_ID = "CALLGUARD_AUDIT_ANCHOR_KEY_ID"
    #: "true" (default) or "false": exports and erasures wait for a second person's approval
    FOUR_EYES = "CALLGUARD_FOUR_EYES"
    #: Contact Lens / Transcribe Call Analytics import (see callguard.calls.importer)
    IMPORT_SETTINGS = "CALLGUARD_IMPORT_SETTINGS"
    IMPORT_BUCKET = "CALLGUARD_IMPORT_BUCKET"
    #: analysis reuses the sentiment an imported file already carries (no second Comprehend bill)
    IMPORT_REUSE_SENTIMENT = "CALLGUARD_IMPORT_REUSE_SENTIMENT"
    #: tenants and the machine client id → tenant map (JSON); set only when the config lists tenants
    TENANTS = "CALLGUARD_TENANTS"
    #: each listed tenant's runtime settings (JSON, ``callguard.security.tenant_settings.TenantSettingsDocument``);
    #: set only on the functions that act for a tenant, and only when the config lists tenants
    TENANT_SETTINGS = "CALLGUARD_TENANT_SETTINGS"
    #: the listed tenants (JSON list of ids, never ``default``) the offboarding workflow may offboard;
    #: set only on its steps, and only when the config lists tenants
    OFFBOARDABLE_TENANTS = "CALLGUARD_OFFBOARDABLE_TENANTS"
    #: set only by the embedded stack: lets ``make purge AS_OF=…`` purge as of a future instant
    PURGE_ALLOW_FUTURE = "CALLGUARD_PURGE_ALLOW_FUTURE"


class Scope(StrEnum):
    """OAuth scopes of the contract (short names; see :func:`full_scope`)."""

    CALLS_WRITE = "calls:write"
    ROUTING_DECIDE = "routing:decide"
    CALLS_READ = "calls:read"
    PRIVACY_MANAGE = "privacy:manage"

    @property
    def description(self) -> str:
        return _SCOPE_DESCRIPTIONS[self]


_SCOPE_DESCRIPTIONS: Final = {
    Scope.CALLS_WRITE: "Hand over calls and live segments",
    Scope.ROUTING_DECIDE: "Ask for routing decisions",
    Scope.CALLS_READ: "Read redacted calls and follow-ups",
    Scope.PRIVACY_MANAGE: "Manage data-subject requests and legal holds",
}


def full_scope(scope: Scope) -> str:
    """The scope string as Cognito puts it into access tokens."""
    return f"{RESOURCE_SERVER_ID}/{scope.value}"


class Route:
    """One HTTP route of the contract with the scope it needs (``None``: public).

    ``function`` names the directory under ``functions/`` that serves the route;
    ``None`` means API Gateway answers by itself (a mock integration).
    """

    __slots__ = ("function", "method", "path", "scope")

    def __init__(self, method: str, path: str, scope: Scope | None, function: str | None) -> None:
        self.method = method
        self.path = path
        self.scope = scope
        self.function = function

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Route({self.method} {self.path} -> {self.function}, scope={self.scope})"


#: The routes deployed so far. Later capabilities append theirs here, and both the
#: API Gateway construct and the local API emulator read this one list.
ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/v1/health", None, None),
    Route("POST", "/v1/calls", Scope.CALLS_WRITE, "ingest"),
    Route("POST", "/v1/calls/{call_id}/segments", Scope.CALLS_WRITE, "ingest"),
    Route("GET", "/v1/calls/{call_id}", Scope.CALLS_READ, "agent_view"),
    Route("GET", "/v1/followups", Scope.CALLS_READ, "agent_view"),
    Route("POST", "/v1/routing/decisions", Scope.ROUTING_DECIDE, "route"),
    Route("POST", "/v1/privacy/requests", Scope.PRIVACY_MANAGE, "privacy"),
    Route("GET", "/v1/privacy/requests/{request_id}", Scope.PRIVACY_MANAGE, "privacy"),
    Route("GET", "/v1/privacy/requests/{request_id}/download", Scope.PRIVACY_MANAGE, "privacy"),
    Route("POST", "/v1/privacy/requests/{request_id}/verify", Scope.PRIVACY_MANAGE, "privacy"),
    Route("POST", "/v1/privacy/requests/{request_id}/extend", Scope.PRIVACY_MANAGE, "privacy"),
    Route("POST", "/v1/privacy/requests/{request_id}/approve", Scope.PRIVACY_MANAGE, "privacy"),
    Route("POST", "/v1/privacy/holds", Scope.PRIVACY_MANAGE, "privacy"),
    Route("DELETE", "/v1/privacy/holds/{hold_id}", Scope.PRIVACY_MANAGE, "privacy"),
    Route("GET", "/v1/privacy/requests", Scope.PRIVACY_MANAGE, "privacy"),
    Route("GET", "/v1/privacy/holds", Scope.PRIVACY_MANAGE, "privacy"),
    Route("GET", "/v1/audit/days/{day}", Scope.PRIVACY_MANAGE, "privacy"),
)

#: a call id (the platform's, or a Connect contact id): 1 to 128 of ``[A-Za-z0-9._:-]`` (the contract)
CALL_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
#: an agent id: 1 to 64 of the same characters
AGENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
