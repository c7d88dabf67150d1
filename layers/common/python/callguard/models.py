"""Pydantic v2 models of the HTTP contract (v1).

Validation messages are written so that they never repeat the rejected value:
the API answers with field paths and reasons only.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from callguard.names import AGENT_ID_PATTERN, CALL_ID_PATTERN, Env

__all__ = [
    "VERIFICATION_METHODS",
    "CallAccepted",
    "CallIn",
    "Caller",
    "CallerIn",
    "CallerVerification",
    "Consent",
    "RequestListQuery",
    "RequestStatus",
    "RoutingRequest",
    "Segment",
    "caller_region",
    "is_call_id",
    "normalise_email",
    "normalise_phone",
]

DEFAULT_PHONE_REGION = "DE"

# C0/C1 control characters except TAB, LF and CR (allowed in transcript text only).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CALL_ID = re.compile(CALL_ID_PATTERN)


def _no_controls(value: str) -> str:
    if _CONTROL_STRICT.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_controls_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _utc_representable(value: datetime) -> datetime:
    # an offset can push year 1 or year 9999 outside what datetime holds in UTC (OverflowError,
    # not a validation error): reject it here instead of failing where the instant is stored
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    return value


PlainStr = Annotated[str, AfterValidator(_no_controls)]
#: An instant with a time zone that can be expressed in UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_utc_representable)]
Identifier = Annotated[str, Field(pattern=CALL_ID_PATTERN)]


def is_call_id(value: str) -> bool:
    """Whether ``value`` has the form of a call id (anything else names no call)."""
    return _CALL_ID.match(value) is not None


def caller_region(phone: str | None) -> str | None:
    """The region (ISO country) of a caller's E.164 number, or None: a country, not the number."""
    if not phone:
        return None
    import phonenumbers  # deferred: only routes that handle identifiers pay for its import (cold start, #17)

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None)) or None
    except phonenumbers.NumberParseException:
        return None


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 form of a phone number; national numbers are read in ``default_region``.

    The default region comes from ``CALLGUARD_DEFAULT_PHONE_REGION`` (set from the
    deployment settings), else ``DE``.
    """
    import phonenumbers  # deferred: only routes that handle identifiers pay for its import (cold start, #17)

    region = default_region or os.environ.get(Env.DEFAULT_PHONE_REGION.value) or DEFAULT_PHONE_REGION
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    # Valid numbers pass; so do numbers of a plausible length that the metadata does not
    # know yet (new ranges, test ranges): a caller must never be lost to a stale table.
    plausible = (
        phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE
        and len(phonenumbers.national_significant_number(number)) >= 7
    )
    if not (phonenumbers.is_valid_number(number) or plausible):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    """Lower-cased, syntax-checked e-mail address (no DNS lookup)."""
    from email_validator import EmailNotValidError, validate_email  # deferred, as phonenumbers above

    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise ValueError("is not a valid e-mail address") from None
    return result.normalized.lower()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


class Caller(_Model):
    phone: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    customer_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:/-]{1,64}$")] | None = None
    email: Annotated[str, Field(min_length=3, max_length=254)] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_phone(_no_controls(value))

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalise_email(_no_controls(value))

    @model_validator(mode="after")
    def _at_least_one(self) -> Caller:
        if not (self.phone or self.customer_id or self.email):
            raise ValueError("needs at least one identifier: phone, customer_id or email")
        return self

    def identifiers(self) -> list[tuple[str, str]]:
        """(kind, normalised value) pairs, most stable identifier first."""
        pairs = [("customer_id", self.customer_id), ("phone", self.phone), ("email", self.email)]
        return [(kind, value) for kind, value in pairs if value]


IdentifierKind = Literal["customer_id", "phone", "email"]
#: how a platform may have authenticated a caller (``caller.verification.method``)
AuthenticationMethod = Literal["ivr_pin", "app_login", "agent_kba", "sso"]


class CallerVerification(_Model):
    """Which of the caller's identifiers the platform authenticated, and how.

    Only an identifier listed here can join the call to an existing data subject's history.
    Caller ID shown on a call or an e-mail the caller typed or spoke is evidence on that
    call only: without it here, the call never reaches anyone else's calls.
    """

    identifiers: Annotated[list[IdentifierKind], Field(min_length=1, max_length=3)]
    method: AuthenticationMethod

    @field_validator("identifiers")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("must not repeat an identifier kind")
        return value


class CallerIn(Caller):
    """The caller of an ingested call or a routing request: identifiers with their provenance."""

    verification: CallerVerification | None = None

    @model_validator(mode="after")
    def _verified_identifiers_present(self) -> CallerIn:
        if self.verification is not None:
            present = {kind for kind, _ in self.identifiers()}
            if not set(self.verification.identifiers) <= present:
                raise ValueError("verification names an identifier the caller does not carry")
        return self

    def authenticated_kinds(self) -> frozenset[str]:
        return frozenset(self.verification.identifiers) if self.verification else frozenset()


class Consent(_Model):
    recording: StrictBool
    ai_analysis: StrictBool
    ai_disclosure_given: StrictBool


class Segment(_Model):
    speaker: Literal["customer", "agent", "bot"]
    start_ms: Annotated[int, Field(ge=0, le=86_400_000)]
    end_ms: Annotated[int, Field(ge=0, le=86_400_000)]
    text: Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(_no_controls_text)]

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.end_ms < self.start_ms:
            raise ValueError("end_ms must not be before start_ms")
        return self


MetadataKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
MetadataValue = Annotated[str, Field(max_length=256), AfterValidator(_no_controls)]


class CallIn(_Model):
    """Body of ``POST /v1/calls``."""

    call_id: Identifier
    started_at: Instant
    ended_at: Instant | None = None
    channel: Literal["voice", "chat", "email"]
    language: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] | None = None
    caller: CallerIn
    agent_id: Annotated[str, Field(pattern=AGENT_ID_PATTERN)] | None = None
    consent: Consent
    segments: Annotated[list[Segment], Field(max_length=5000)] = Field(default_factory=list)
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=20)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _timestamps(self) -> CallIn:
        now = datetime.now(UTC)
        if self.started_at > now + timedelta(minutes=5):
            raise ValueError("started_at must not be in the future")
        if self.ended_at is not None:
            if self.ended_at < self.started_at:
                raise ValueError("ended_at must not be before started_at")
            if self.ended_at - self.started_at > timedelta(hours=24):
                raise ValueError("a call must not last longer than 24 hours")
        return self

    @property
    def live(self) -> bool:
        return self.ended_at is None


class CallAccepted(BaseModel):
    """Answer of ``POST /v1/calls`` (202). Holds ids only, never personal data."""

    call_id: str
    subject_id: str
    status: Literal["accepted"] = "accepted"
    analysis: Literal["queued", "skipped"]


class RoutingRequest(_Model):
    """Body of ``POST /v1/routing/decisions``."""

    call_id: Identifier | None = None
    caller: CallerIn
    channel: Literal["voice", "chat", "email"]
    language: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] | None = None
    utterance: Annotated[str, Field(min_length=1, max_length=5000), AfterValidator(_no_controls_text)] | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=20)] = Field(default_factory=dict)


class LiveSegments(_Model):
    """Body of ``POST /v1/calls/{call_id}/segments``."""

    segments: Annotated[list[Segment], Field(min_length=1, max_length=200)]


class PrivacyRequestIn(_Model):
    """Body of ``POST /v1/privacy/requests``."""

    type: Literal["access", "portability", "erasure", "rectification", "restriction", "objection"]
    subject: Caller
    received_at: Instant | None = None
    #: rectification only: the identifiers as they should be
    changes: Caller | None = None
    note: Annotated[str, Field(max_length=1000), AfterValidator(_no_controls_text)] | None = None

    @model_validator(mode="after")
    def _changes_only_for_rectification(self) -> PrivacyRequestIn:
        if (self.type == "rectification") != (self.changes is not None):
            raise ValueError("changes are required for rectification and allowed only there")
        return self

    @model_validator(mode="after")
    def _received_not_in_future(self) -> PrivacyRequestIn:
        # the deadline is counted from receipt (Art. 12(3)): a request cannot arrive in the future
        if self.received_at is not None and self.received_at > datetime.now(UTC) + timedelta(minutes=5):
            raise ValueError("received_at must not be in the future")
        return self


#: how a compliance person verified a requester's identity (``POST …/verify``)
VERIFICATION_METHODS = ("id_document", "callback", "account_login", "in_person", "signed_letter")


class VerifyIn(_Model):
    """Body of ``POST /v1/privacy/requests/{id}/verify``. The verifying person comes from the
    token, never from the body; ``reference`` points at the evidence (a ticket, a case number)."""

    method: Literal["id_document", "callback", "account_login", "in_person", "signed_letter"]
    reference: Annotated[str, Field(min_length=3, max_length=128), AfterValidator(_no_controls)]


class HoldIn(_Model):
    """Body of ``POST /v1/privacy/holds``."""

    subject: Caller
    reason: Annotated[str, Field(min_length=3, max_length=500), AfterValidator(_no_controls_text)]


class HoldLiftIn(_Model):
    """Optional body of ``DELETE /v1/privacy/holds/{hold_id}``: why the hold ends (sealed with the hold)."""

    reason: Annotated[str, Field(min_length=3, max_length=500), AfterValidator(_no_controls_text)]


class ExtendIn(_Model):
    """Body of ``POST /v1/privacy/requests/{id}/extend`` (Art. 12(3): up to two further months)."""

    months: Annotated[int, Field(ge=1, le=2)]
    reason: Annotated[str, Field(min_length=3, max_length=500), AfterValidator(_no_controls_text)]


class RequestStatus(StrEnum):
    """Where a privacy request stands (the contract's ``status``; the values are wire values)."""

    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    AWAITING_APPROVAL = "awaiting_approval"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def closed(self) -> bool:
        return self in {RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.FAILED}


class RequestListQuery(BaseModel):
    """Query of ``GET /v1/privacy/requests``. Query strings are text: numbers and instants are
    parsed from it (lax mode); unknown parameters are refused, so a misspelt filter never silently
    widens the list."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[
        "received", "awaiting_verification", "awaiting_approval", "in_progress", "completed", "rejected", "failed"
    ] | None = None  # fmt: skip
    type: Literal["access", "portability", "erasure", "rectification", "restriction", "objection"] | None = None
    due_before: Instant | None = None
    cursor: Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 25

    def filters(self) -> dict[str, str | None]:
        """What a cursor is bound to: a page of one filter cannot continue another's list."""
        return {
            "status": self.status,
            "type": self.type,
            "due_before": None if self.due_before is None else self.due_before.astimezone(UTC).isoformat(),
            "limit": str(self.limit),
        }


class PurgeRequestError(ValueError):
    """The purge was asked for an instant it must not purge as of."""


class PurgeRequest(BaseModel):
    """The purge's event: ``{}`` from the schedule (now), or ``{"as_of": ISO-8601}``."""

    model_config = ConfigDict(extra="ignore")  # EventBridge Scheduler may add fields of its own

    as_of: datetime | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _a_date_is_midnight_utc(cls, value: object) -> object:
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return f"{value}T00:00:00Z"
        return value

    def instant(self, now: datetime, *, allow_future: bool) -> datetime:
        if self.as_of is None:
            return now
        if self.as_of.tzinfo is None:
            raise PurgeRequestError("as_of needs a time zone, e.g. 2027-03-01T02:00:00+01:00 or ...Z.")
        as_of = self.as_of.astimezone(UTC)
        if as_of > now + timedelta(minutes=5) and not allow_future:
            raise PurgeRequestError("as_of lies in the future; only the embedded stack may purge ahead of time.")
        return as_of
