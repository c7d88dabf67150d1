"""The v1 HTTP contract as data: request model, answers and errors of every route.

One mapping so that API Gateway's body validation (the constructs), the OpenAPI document
(``infra/openapi.py``) and the tests cannot name a different model for the same route.
The response models are documentation only — the handlers build plain dicts — so the
e2e fuzz test checks every answer of the running stack against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from callguard.models import (
    CallAccepted,
    CallIn,
    ExtendIn,
    HoldIn,
    HoldLiftIn,
    LiveSegments,
    PrivacyRequestIn,
    RoutingRequest,
    VerifyIn,
)
from callguard.names import CALL_ID_PATTERN, Route, Scope

__all__ = [
    "AUTHORIZATION_CODE_SCOPES",
    "CLIENT_CREDENTIALS_SCOPES",
    "ERROR_CODES",
    "ERROR_STATUSES",
    "OPTIONAL_BODIES",
    "PATH_PARAMETERS",
    "QUERY_PARAMETERS",
    "REQUEST_MODELS",
    "ROUTE_CONTRACTS",
    "ErrorBody",
    "RouteContract",
    "request_model",
]

#: Scopes each OAuth flow hands out: machine clients (platforms) use client credentials, people
#: (agents, compliance) the authorization-code grant. ``infra/constructs/identity.py`` grants
#: the same; ``tests/infra/test_openapi_matches_apigw.py`` compares with the template's clients.
CLIENT_CREDENTIALS_SCOPES: Final = (Scope.CALLS_WRITE, Scope.ROUTING_DECIDE)
AUTHORIZATION_CODE_SCOPES: Final = (Scope.CALLS_READ, Scope.PRIVACY_MANAGE)

#: ``(method, path) -> body model``: API Gateway validates these bodies (draft 4, see
#: ``infra/api_models.py``), the functions parse them with the same models.
REQUEST_MODELS: Final[Mapping[tuple[str, str], type[BaseModel]]] = {
    ("POST", "/v1/calls"): CallIn,
    ("POST", "/v1/calls/{call_id}/segments"): LiveSegments,
    ("POST", "/v1/routing/decisions"): RoutingRequest,
    ("POST", "/v1/privacy/requests"): PrivacyRequestIn,
    ("POST", "/v1/privacy/requests/{request_id}/verify"): VerifyIn,
    ("POST", "/v1/privacy/requests/{request_id}/extend"): ExtendIn,
    ("POST", "/v1/privacy/holds"): HoldIn,
    ("DELETE", "/v1/privacy/holds/{hold_id}"): HoldLiftIn,
}

#: Routes whose body may be left out (v1 clients lift a hold without a reason).
OPTIONAL_BODIES: Final = frozenset({("DELETE", "/v1/privacy/holds/{hold_id}")})


def request_model(route: Route) -> type[BaseModel] | None:
    """The body model of ``route`` (``None``: the route takes no body)."""
    return REQUEST_MODELS.get((route.method, route.path))


# -- answers ----------------------------------------------------------------------------------


class _Answer(BaseModel):
    """Closed objects: a field the handlers add without documenting it fails the fuzz test."""

    model_config = ConfigDict(extra="forbid")


Sentiment = Literal["POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"]
Channel = Literal["voice", "chat", "email"]
Speaker = Literal["customer", "agent", "bot"]
RequestType = Literal["access", "portability", "erasure", "rectification", "restriction", "objection"]
RequestStatus = Literal[
    "received", "awaiting_verification", "awaiting_approval", "in_progress", "completed", "rejected", "failed"
]
RequestId = Annotated[str, Field(pattern=r"^pr-[0-9a-f]{20}$")]
HoldId = Annotated[str, Field(pattern=r"^hold-[0-9a-f]{20}$")]


class Health(_Answer):
    status: Literal["ok"]


class LiveAdvice(_Answer):
    sentiment: Literal["POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED", "NOT_ANALYSED"] = Field(
        description="The customer's latest analysed turn; NOT_ANALYSED without AI consent."
    )
    escalate: bool = Field(description="The mood has turned: hand over to a supervisor.")
    suggestions: list[str] = Field(description="Knowledge-base answers and resolution phrases (aggregated).")


class LiveAnswer(_Answer):
    live: LiveAdvice


class RedactedSegment(_Answer):
    speaker: Speaker
    start_ms: int
    end_ms: int
    text: str | None = Field(description="PII replaced by type labels; null without recording consent.")


class SentimentSummary(_Answer):
    overall: Sentiment | None
    by_speaker: dict[str, Sentiment]
    trajectory: list[Sentiment | None] = Field(description="The customer's sentiment per quarter of the call.")


class Intent(_Answer):
    name: str
    source: Literal["keywords", "comprehend_classifier"]
    standard: bool = Field(description="The knowledge base answers it.")
    matched: list[str] | None = Field(default=None, description="Keywords that matched (source keywords).")
    score: float | None = Field(default=None, description="Classifier confidence (source comprehend_classifier).")


class Flags(_Answer):
    escalate: bool
    followup: bool
    resolved: bool


class ProviderAnalysis(_Answer):
    """What Contact Lens or Transcribe Call Analytics found itself, kept beside callguard's analysis."""

    format: Literal["contact-lens", "transcribe"]
    output: Literal["raw", "redacted"]
    sentiment_by_role: dict[str, float] = Field(description="The provider's overall score per role (-5 … +5).")
    categories: list[str] = Field(description="Categories the provider's rules matched.")
    issues: list[int] = Field(description="Indexes of the turns in which the provider found an issue.")
    outcomes: list[int]
    action_items: list[int]


class ImportedFrom(_Answer):
    format: Literal["contact-lens", "transcribe"]
    version: str
    redacted_input: bool = Field(description="Only the provider's redacted file could be read.")


class AnalysisSummary(_Answer):
    """Fields beyond ``status`` appear once the analysis is done (``reason``: why it was skipped)."""

    status: Literal["pending", "done", "skipped"]
    reason: str | None = None
    language: str | None = None
    sentiment: SentimentSummary | None = None
    key_phrases: list[str] | None = None
    pii_types: list[str] | None = None
    intent: Intent | None = None
    flags: Flags | None = None
    provider: ProviderAnalysis | None = Field(default=None, description="Imported calls: the provider's own findings.")
    sentiment_source: Literal["comprehend", "contact-lens", "transcribe"] | None = Field(
        default=None, description="Imported calls: whose per-turn sentiment the summary is built from."
    )


class CallView(_Answer):
    """The agent's view: redacted segments only; the unredacted transcript is never served."""

    call_id: str
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    channel: Channel
    language: str | None
    agent_id: str | None
    live: bool
    segments: list[RedactedSegment]
    analysis: AnalysisSummary
    routing: None = Field(description="Reserved for the call's routing decision; null in v1.")
    imported: ImportedFrom | None = Field(
        default=None, description="Calls imported from a Contact Lens or Transcribe Call Analytics file."
    )


class Followup(_Answer):
    followup_id: str
    call_id: str
    due_at: AwareDatetime
    reason: Literal["negative_sentiment", "unresolved"]
    status: Literal["open", "closed"]


class Followups(_Answer):
    items: list[Followup]


class DecisionReason(_Answer):
    factor: str
    value: str | int | bool | None
    effect: str


class RoutingDecision(_Answer):
    queue: str
    priority: Annotated[int, Field(ge=1, le=5, description="1 is the most urgent.")]
    handled_by: Literal["ai", "human"]
    reasons: list[DecisionReason] = Field(description="Every factor that moved the decision.")
    suggestions: list[str]


class PrivacyRequestReceived(_Answer):
    request_id: RequestId
    type: RequestType
    status: Literal["received"]
    due_at: AwareDatetime = Field(description="Received + one month (Art. 12(3)).")


class HistoryEntry(_Answer):
    at: AwareDatetime
    status: RequestStatus


class PrivacyResult(BaseModel):
    """The outcome so far. Its fields depend on the request type, hence open: access/portability
    a download link (``download: expired`` after the exports period), erasure a deletion
    certificate (stores, counts, timestamps), the others a short confirmation; ``reason`` when
    rejected or failed. Never personal data."""

    model_config = ConfigDict(extra="allow")

    download_url: str | None = None
    download_expires_in_seconds: int | None = None
    download: Literal["expired"] | None = None
    calls: int | None = None
    bytes: int | None = None
    certificate: str | None = None
    stores_checked: list[str] | None = None
    restricted: bool | None = None
    objection_recorded: bool | None = None
    rectified: list[str] | None = None
    reason: str | None = None


class Verification(_Answer):
    method: str = Field(description="How the requester's identity was verified (a fixed list).")
    by: str = Field(description="The verifying person, from their token.")
    at: AwareDatetime


class Approval(_Answer):
    by: str = Field(description="The approving person, from their token (not_required when four-eyes is off).")
    at: AwareDatetime | None = None


class PrivacyRequestView(_Answer):
    request_id: RequestId
    type: RequestType
    status: RequestStatus
    due_at: AwareDatetime = Field(description="The deadline, extended if an extension was recorded.")
    completed_at: AwareDatetime | None
    history: list[HistoryEntry]
    result: PrivacyResult | None
    verification: Verification | None = Field(default=None, description="Present once verified.")
    approval: Approval | None = Field(default=None, description="Present once a second person approved.")


class Redirect(_Answer):
    """Empty; the ``Location`` header holds the export's short-lived storage URL."""


class HoldCreated(_Answer):
    hold_id: HoldId


class HoldLifted(_Answer):
    hold_id: HoldId
    status: Literal["lifted"]


class PrivacyRequestListItem(_Answer):
    """A request in the list: ids, type, status and dates only — what the request itself shows."""

    request_id: RequestId
    type: RequestType
    status: RequestStatus
    due_at: AwareDatetime = Field(description="The current deadline (extended if an extension was recorded).")
    received_at: AwareDatetime
    completed_at: AwareDatetime | None
    days_left: int | None = Field(
        description="Calendar days (UTC) until the deadline; negative when overdue, null once closed."
    )


class PrivacyRequestList(_Answer):
    items: list[PrivacyRequestListItem] = Field(description="Newest deadline first.")
    next_cursor: str | None = Field(
        description="Pass as cursor with the same filters for the next page; null on the last page."
    )


class HoldListItem(_Answer):
    hold_id: HoldId
    created_at: AwareDatetime
    placed_by: str | None = Field(description="The person who placed it, from their token (null: not recorded).")
    reason: str | None = Field(description="The reason as the person placing the hold wrote it.")
    identifier_kinds: list[Literal["customer_id", "phone", "email"]] = Field(
        description="Which kinds of identifier the hold covers; never the identifiers."
    )


class HoldList(_Answer):
    items: list[HoldListItem] = Field(description="Every legal hold in force, newest first.")


class AuditDay(_Answer):
    """One UTC day of the audit chain: counts and its verification, never an entry's content."""

    day: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    entries: Annotated[int, Field(ge=0)]
    first_at: AwareDatetime | None
    last_at: AwareDatetime | None
    intact: bool = Field(description="The day's hash chain verifies from its first entry to its last.")
    first_broken_position: int | None = Field(description="Sequence number where the chain first breaks.")
    problem: str | None = Field(description="What is wrong there (missing entry, entry altered, ...).")


# -- errors -----------------------------------------------------------------------------------


class ErrorDetail(_Answer):
    field: str = Field(description="Path of the offending field; invented keys are masked as *.")
    issue: str
    message: str


class ErrorInfo(_Answer):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    message: str = Field(description="A human sentence; never echoes personal data.")
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(_Answer):
    """Every error, from the gateway or a function, has this shape."""

    error: ErrorInfo
    request_id: str | None


#: status -> the error codes the gateway responses (``infra/constructs/api.py``) and the
#: functions (``callguard.errors`` and its subclasses) answer with.
ERROR_CODES: Final[Mapping[int, tuple[str, ...]]] = {
    400: ("invalid_request", "malformed_json", "invalid_cursor"),
    401: ("unauthorized",),
    403: ("forbidden", "four_eyes_violation", "restricted", "unknown_tenant"),
    404: ("not_found",),
    409: (
        "call_conflict",
        "call_in_progress",
        "call_not_live",
        "concurrent_update",
        "identifier_belongs_to_another_subject",
        "request_state",
    ),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
    422: ("validation_failed",),
    429: ("throttled", "quota_exceeded"),
}
ERROR_STATUSES: Final[Mapping[int, str]] = {
    400: "The body is not JSON (or not UTF-8, or empty); invalid_cursor: a list cursor that this API did not "
    "issue, was altered, or belongs to other filters.",
    401: "No valid bearer token.",
    403: "The token lacks the route's scope (or the firewall blocked the request); four_eyes_violation: the "
    "person who filed or verified a request cannot approve it; restricted: the data subject's processing is "
    "restricted (Art. 18), agents see no content; unknown_tenant: the token belongs to no tenant of this "
    "deployment.",
    404: "No such call, request or hold (also: an unknown route).",
    409: "The request conflicts with the stored state.",
    413: "The body is larger than 256 KiB.",
    415: "The body is not sent as application/json.",
    422: "The input does not match the schema; details name field and rule, never the value.",
    429: "Throttled; retry with backoff.",
}


@dataclass(frozen=True)
class RouteContract:
    """What a route answers: its success status and model, the error statuses it can produce."""

    summary: str
    status: int
    answer: type[BaseModel]
    errors: tuple[int, ...] = ()


#: Error statuses beyond those every route of its kind has (auth, body, path parameters).
ROUTE_CONTRACTS: Final[Mapping[tuple[str, str], RouteContract]] = {
    ("GET", "/v1/health"): RouteContract("Liveness; no auth", 200, Health),
    ("POST", "/v1/calls"): RouteContract("Ingest a call (idempotent on call_id)", 202, CallAccepted, (409,)),
    ("POST", "/v1/calls/{call_id}/segments"): RouteContract(
        "Add segments to a live call; live assistance", 200, LiveAnswer, (409,)
    ),
    ("GET", "/v1/calls/{call_id}"): RouteContract(
        "Agent view of a call (redacted, audited); 403 restricted while processing is restricted (Art. 18)",
        200,
        CallView,
        (403,),
    ),
    ("GET", "/v1/followups"): RouteContract("Open follow-ups due before an instant", 200, Followups, (422,)),
    ("POST", "/v1/routing/decisions"): RouteContract("An explainable routing decision", 200, RoutingDecision),
    ("POST", "/v1/privacy/requests"): RouteContract(
        "File a GDPR data-subject request", 202, PrivacyRequestReceived, (409,)
    ),
    ("GET", "/v1/privacy/requests/{request_id}"): RouteContract(
        "Status, deadline, history and result of a request", 200, PrivacyRequestView
    ),
    ("GET", "/v1/privacy/requests/{request_id}/download"): RouteContract(
        "Download the export once: the single-use ticket of download_url (valid 300 s) is redeemed, the download "
        "audited with the person, and the answer redirects (303) to the export for 60 s",
        303,
        Redirect,
    ),
    ("POST", "/v1/privacy/requests/{request_id}/verify"): RouteContract(
        "Record that the requester's identity was verified (method, reference; the person from the token)",
        200,
        PrivacyRequestView,
        (409,),
    ),
    ("POST", "/v1/privacy/requests/{request_id}/approve"): RouteContract(
        "Four-eyes: a second compliance person approves releasing the export or executing the erasure",
        200,
        PrivacyRequestView,
        (403, 409),
    ),
    ("POST", "/v1/privacy/requests/{request_id}/extend"): RouteContract(
        "Extend the deadline by up to two further months (Art. 12(3))", 200, PrivacyRequestView, (409,)
    ),
    ("POST", "/v1/privacy/holds"): RouteContract("Place a legal hold on a subject", 201, HoldCreated),
    ("DELETE", "/v1/privacy/holds/{hold_id}"): RouteContract("Lift a legal hold", 200, HoldLifted, (409,)),
    ("GET", "/v1/privacy/requests"): RouteContract(
        "List requests, newest deadline first, paged by an opaque cursor (audited)",
        200,
        PrivacyRequestList,
        (400, 422),
    ),
    ("GET", "/v1/privacy/holds"): RouteContract("The legal holds in force (audited)", 200, HoldList),
    ("GET", "/v1/audit/days/{day}"): RouteContract(
        "Verification and counts of one UTC day of the audit chain (audited; no entry content)", 200, AuditDay
    ),
}

#: Query parameters per route (``name -> (schema, description)``).
QUERY_PARAMETERS: Final[Mapping[tuple[str, str], Mapping[str, tuple[dict[str, Any], str]]]] = {
    ("GET", "/v1/privacy/requests/{request_id}/download"): {
        "ticket": ({"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"}, "The single-use ticket from download_url.")
    },
    ("GET", "/v1/privacy/requests"): {
        "status": (
            {"type": "string", "enum": list(get_args(RequestStatus))},
            "Only requests in this status.",
        ),
        "type": (
            {"type": "string", "enum": list(get_args(RequestType))},
            "Only requests of this type.",
        ),
        "due_before": (
            {"type": "string", "format": "date-time"},
            "ISO-8601 instant with a time zone; only requests whose current deadline lies before it.",
        ),
        "cursor": (
            {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$", "maxLength": 2048},
            "next_cursor of the previous page, with the same filters.",
        ),
        "limit": ({"type": "integer", "minimum": 1, "maximum": 100, "default": 25}, "Page size."),
    },
    ("GET", "/v1/followups"): {
        "due_before": (
            {"type": "string", "format": "date-time"},
            "ISO-8601 instant with a time zone; follow-ups due before it (default: now). A follow-up is due "
            "`followup_due_hours` (default 24) after the call that opened it.",
        )
    },
}

#: Path parameters as the functions accept them; anything else is answered 404.
PATH_PARAMETERS: Final[Mapping[str, dict[str, Any]]] = {
    "call_id": {"type": "string", "pattern": CALL_ID_PATTERN},
    "request_id": {"type": "string", "pattern": r"^pr-[0-9a-f]{20}$"},
    "hold_id": {"type": "string", "pattern": r"^hold-[0-9a-f]{20}$"},
    "day": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
}
