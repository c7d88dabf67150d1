"""The records of the calls table and their item shapes (v1's, byte for byte): what
:mod:`callguard.storage.calls` writes and what it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callguard.storage.dynamo import ItemKey, from_item

__all__ = [
    "CallPartition",
    "CallRecord",
    "Decision",
    "Followup",
    "ImportedOrigin",
    "NewCall",
    "SegmentMeta",
    "new_call_item",
    "pointer_wire",
    "segments_wire",
]


@dataclass(frozen=True)
class SegmentMeta:
    """Speaker and timing of one turn (never its text)."""

    speaker: str
    start_ms: int
    end_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "start_ms": self.start_ms, "end_ms": self.end_ms}


@dataclass(frozen=True)
class ImportedOrigin:
    """Where an imported call came from and what its provider (Contact Lens, Transcribe) already
    analysed — derived values only, no text."""

    format: str
    version: str
    #: ``"redacted"`` or ``"raw"``: which of the provider's outputs was read
    output: str
    sentiment_by_role: Mapping[str, float] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    issues: tuple[int, ...] = ()
    outcomes: tuple[int, ...] = ()
    action_items: tuple[int, ...] = ()
    #: the provider's sentiment label of every turn, when it labelled them all
    turn_sentiment: tuple[str, ...] | None = None

    def wire(self) -> dict[str, Any]:
        provider: dict[str, Any] = {
            "sentiment_by_role": {"M": {role: {"N": str(score)} for role, score in self.sentiment_by_role.items()}},
            "categories": {"L": [{"S": c} for c in self.categories]},
            "issues": {"L": [{"N": str(i)} for i in self.issues]},
            "outcomes": {"L": [{"N": str(i)} for i in self.outcomes]},
            "action_items": {"L": [{"N": str(i)} for i in self.action_items]},
        }
        if self.turn_sentiment is not None:
            provider["turn_sentiment"] = {"L": [{"S": label} for label in self.turn_sentiment]}
        return {
            "M": {
                "format": {"S": self.format},
                "version": {"S": self.version},
                "output": {"S": self.output},
                "provider": {"M": provider},
            }
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> ImportedOrigin:
        provider = data.get("provider", {})
        turns = provider.get("turn_sentiment")
        return cls(
            format=data["format"],
            version=data["version"],
            output=data["output"],
            sentiment_by_role={k: float(v) for k, v in provider.get("sentiment_by_role", {}).items()},
            categories=tuple(provider.get("categories", ())),
            issues=tuple(int(i) for i in provider.get("issues", ())),
            outcomes=tuple(int(i) for i in provider.get("outcomes", ())),
            action_items=tuple(int(i) for i in provider.get("action_items", ())),
            turn_sentiment=None if turns is None else tuple(turns),
        )


@dataclass(frozen=True)
class NewCall:
    """A call as ingestion stores it (the call item's own attributes)."""

    call_id: str
    subject_id: str
    fingerprint: str
    started_at: str
    channel: str
    live: bool
    consent: Mapping[str, bool]
    segments: tuple[SegmentMeta, ...]
    analysis_status: str
    ended_at: str | None = None
    language: str | None = None
    agent_id: str | None = None
    caller_region: str | None = None
    analysis_skip_reason: str | None = None
    transcript: Mapping[str, str] | None = None
    sealed_metadata: bytes | None = None
    #: unproven identifiers (MACs) on the call: an erasure of the call takes them off
    seen_macs: tuple[str, ...] = ()
    authenticated_by: str | None = None
    imported: ImportedOrigin | None = None


@dataclass(frozen=True)
class CallRecord:
    """The ``CALL`` item of a call."""

    call_id: str
    subject_id: str
    fingerprint: str
    #: the call's analysis status (``queued``, ``skipped``, ``done``, …)
    analysis: str
    enqueued: bool
    started_at: str
    channel: str
    live: bool = False
    consent: Mapping[str, bool] = field(default_factory=dict)
    segments: tuple[SegmentMeta, ...] = ()
    ended_at: str | None = None
    language: str | None = None
    agent_id: str | None = None
    caller_region: str | None = None
    analysis_skip_reason: str | None = None
    transcript: Mapping[str, str] | None = None
    sealed_metadata: bytes | None = None
    seen_macs: tuple[str, ...] = ()
    authenticated_by: str | None = None
    imported: ImportedOrigin | None = None
    live_intent: str | None = None
    live_sentiments: tuple[str, ...] = ()
    transcript_purged: bool = False

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> CallRecord:
        data = from_item(item)
        imported = data.get("imported")
        return cls(
            call_id=data["call_id"],
            subject_id=data["subject_id"],
            fingerprint=data["fingerprint"],
            analysis=data["analysis_status"],
            enqueued="enqueued_at" in data,
            started_at=data["started_at"],
            channel=data["channel"],
            live=bool(data.get("live", False)),
            consent={k: bool(v) for k, v in data.get("consent", {}).items()},
            segments=tuple(
                SegmentMeta(s["speaker"], int(s["start_ms"]), int(s["end_ms"])) for s in data.get("segments", [])
            ),
            ended_at=data.get("ended_at"),
            language=data.get("language"),
            agent_id=data.get("agent_id"),
            caller_region=data.get("caller_region"),
            analysis_skip_reason=data.get("analysis_skip_reason"),
            transcript=data.get("transcript"),
            sealed_metadata=data.get("sealed_metadata"),
            seen_macs=tuple(sorted(data.get("seen_macs", ()))),
            authenticated_by=data.get("authenticated_by"),
            imported=None if imported is None else ImportedOrigin.of(imported),
            live_intent=data.get("live_intent"),
            live_sentiments=tuple(data.get("live_sentiments", ())),
            transcript_purged=bool(data.get("transcript_purged", False)),
        )


@dataclass(frozen=True)
class Followup:
    followup_id: str
    call_id: str
    due_at: str
    reason: str
    status: str

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Followup:
        data = from_item(item)
        return cls(data["followup_id"], data["call_id"], data["due_at"], data["reason"], data["followup_status"])

    def as_dict(self) -> dict[str, str]:
        return {
            "followup_id": self.followup_id,
            "call_id": self.call_id,
            "due_at": self.due_at,
            "reason": self.reason,
            "status": self.status,
        }


@dataclass(frozen=True)
class Decision:
    decided_at: str
    body: dict[str, Any]


@dataclass(frozen=True)
class CallPartition:
    """Everything under one partition of the calls table that belongs to a subject: a call's items
    (the call may be gone at the end of its retention while its analysis is kept) or a decision."""

    partition: str
    #: the call the partition belongs to (``None`` for a decision's partition)
    call_id: str | None
    keys: tuple[ItemKey, ...]
    call: CallRecord | None = None
    analysis: dict[str, Any] | None = None
    followup: Followup | None = None
    decision: Decision | None = None


def segments_wire(segments: tuple[SegmentMeta, ...] | list[SegmentMeta]) -> dict[str, Any]:
    """Speaker and timing of segments as a DynamoDB list (never their text)."""
    return {
        "L": [
            {"M": {"speaker": {"S": s.speaker}, "start_ms": {"N": str(s.start_ms)}, "end_ms": {"N": str(s.end_ms)}}}
            for s in segments
        ]
    }


def pointer_wire(pointer: Mapping[str, str]) -> dict[str, Any]:
    return {"M": {k: {"S": v} for k, v in pointer.items()}}


def new_call_item(call: NewCall) -> dict[str, Any]:
    item: dict[str, Any] = {
        "call_id": {"S": call.call_id},
        "subject_id": {"S": call.subject_id},
        "fingerprint": {"S": call.fingerprint},
        "started_at": {"S": call.started_at},
        "channel": {"S": call.channel},
        "live": {"BOOL": call.live},
        "consent": {"M": {k: {"BOOL": v} for k, v in call.consent.items()}},
        "segments": segments_wire(call.segments),
        "analysis_status": {"S": call.analysis_status},
    }
    optional = {
        "ended_at": call.ended_at,
        "language": call.language,
        "agent_id": call.agent_id,
        "caller_region": call.caller_region,
        "analysis_skip_reason": call.analysis_skip_reason,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value})
    if call.transcript is not None:
        item["transcript"] = pointer_wire(call.transcript)
    if call.sealed_metadata is not None:
        item["sealed_metadata"] = {"B": call.sealed_metadata}
    if call.seen_macs:
        item["seen_macs"] = {"SS": list(call.seen_macs)}
    if call.authenticated_by is not None:
        item["authenticated_by"] = {"S": call.authenticated_by}
    return item
