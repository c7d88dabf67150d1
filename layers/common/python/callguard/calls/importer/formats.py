"""The two documented transcript formats, parsed strictly into one neutral shape.

* Contact Lens for Amazon Connect post-contact analysis files: voice (``Version`` 1.1.0,
  ``Channel`` VOICE, offsets in milliseconds, ``ParticipantId`` resolved through
  ``Participants``) and chat (``Version`` CHAT-2022-11-30, ``Channel`` CHAT, ``AbsoluteTime``
  per message, contact summary by transcript item id).
* Amazon Transcribe Call Analytics results (``JobName``, ``ParticipantRole`` on each turn).

Unknown versions, channels and shapes are refused with a reason (never guessed at): the
caller quarantines the file. Fields the product does not use are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CONTACT_LENS",
    "FORMATS",
    "TRANSCRIBE",
    "ImportedTranscript",
    "ProviderInsights",
    "RejectedFileError",
    "Turn",
    "parse",
]

CONTACT_LENS = "contact-lens"
TRANSCRIBE = "transcribe"
FORMATS = (CONTACT_LENS, TRANSCRIBE)
#: Contact Lens versions whose documented shape this module implements, per channel.
VOICE_VERSIONS = frozenset({"1.1.0"})
CHAT_VERSIONS = frozenset({"CHAT-2022-11-30"})
#: chat items that carry what a participant wrote (events such as "joined" carry nothing)
_CHAT_TEXT_TYPES = frozenset({"text/plain", "text/markdown"})
_SENTIMENTS = frozenset({"POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class RejectedFileError(ValueError):
    """The file cannot be imported; ``reason`` is a snake_case code (never file content)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Turn:
    role: str  # the provider's participant role (AGENT, CUSTOMER, SYSTEM, …)
    start_ms: int
    end_ms: int
    text: str
    sentiment: str | None = None


@dataclass(frozen=True)
class ProviderInsights:
    """What the provider already analysed, kept beside callguard's own analysis.

    No text: issues, outcomes and action items are kept as the indexes of the turns they were
    found in (their wording is transcript text, which lives only sealed)."""

    sentiment_by_role: dict[str, float] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    issues: tuple[int, ...] = ()
    outcomes: tuple[int, ...] = ()
    action_items: tuple[int, ...] = ()


@dataclass(frozen=True)
class ImportedTranscript:
    format: str
    version: str
    channel: str  # voice | chat
    contact_id: str | None
    instance_id: str | None
    language_code: str | None
    redacted: bool
    turns: tuple[Turn, ...]
    insights: ProviderInsights
    #: the first message's instant (chat files carry absolute times; voice files offsets only)
    first_message_at: datetime | None = None
    duration_ms: int = 0
    #: Transcribe only: the job's name (the contact id is found in it)
    job_name: str | None = None


# -- pydantic models of the documented files --------------------------------------------------
class _Lenient(BaseModel):
    """Files carry many fields callguard does not use (loudness, talk time, …): ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


Text = Annotated[str, Field(max_length=100_000)]
Millis = Annotated[int, Field(ge=0, le=86_400_000)]


class _Participant(_Lenient):
    ParticipantId: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    ParticipantRole: Annotated[str, Field(min_length=1, max_length=64)]


class _ContentMetadata(_Lenient):
    Output: Literal["Raw", "Redacted"]
    RedactionTypes: list[str] = Field(default_factory=list)


class _CustomerMetadata(_Lenient):
    ContactId: Annotated[str, Field(min_length=1, max_length=256)]
    InstanceId: Annotated[str, Field(min_length=1, max_length=256)]
    InputS3Uri: str | None = None


class _Categories(_Lenient):
    MatchedCategories: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list)


class _Overall(_Lenient):
    OverallSentiment: dict[str, float] = Field(default_factory=dict)


class _Characteristics(_Lenient):
    Sentiment: _Overall | None = None


class _AnalysedTurn(_Lenient):
    """A spoken turn with the provider's per-turn findings: the same fields in both formats."""

    BeginOffsetMillis: Millis
    EndOffsetMillis: Millis
    Content: Text
    Sentiment: str | None = None
    IssuesDetected: list[dict[str, Any]] = Field(default_factory=list)
    OutcomesDetected: list[dict[str, Any]] = Field(default_factory=list)
    ActionItemsDetected: list[dict[str, Any]] = Field(default_factory=list)


class _VoiceTurn(_AnalysedTurn):
    ParticipantId: Annotated[str, Field(min_length=1, max_length=256)]


class _ContactLensVoice(_Lenient):
    Version: str
    Channel: Literal["VOICE"]
    JobStatus: Literal["COMPLETED"]
    LanguageCode: str | None = None
    Participants: list[_Participant]
    ContentMetadata: _ContentMetadata
    CustomerMetadata: _CustomerMetadata
    Transcript: list[_VoiceTurn] = Field(max_length=20_000)
    Categories: _Categories | None = None
    ConversationCharacteristics: _Characteristics | None = None


class _ChatItem(_Lenient):
    Id: Annotated[str, Field(min_length=1, max_length=256)]
    ParticipantId: str | None = None
    ParticipantRole: str | None = None
    AbsoluteTime: AwareDatetime
    Content: Text | None = None
    ContentType: str | None = None
    Type: str | None = None
    Sentiment: str | None = None


class _TranscriptItemRef(_Lenient):
    Id: str


class _SummaryPoint(_Lenient):
    TranscriptItems: list[_TranscriptItemRef] = Field(default_factory=list)


class _SummaryItems(_Lenient):
    IssuesDetected: list[_SummaryPoint] = Field(default_factory=list)
    OutcomesDetected: list[_SummaryPoint] = Field(default_factory=list)
    ActionItemsDetected: list[_SummaryPoint] = Field(default_factory=list)


class _ContactSummary(_Lenient):
    SummaryItemsDetected: list[_SummaryItems] = Field(default_factory=list)


class _ChatRoleSentiment(_Lenient):
    SentimentScore: float | None = None


class _ChatOverall(_Lenient):
    DetailsByParticipantRole: dict[str, _ChatRoleSentiment] = Field(default_factory=dict)


class _ChatSentiment(_Lenient):
    OverallSentiment: _ChatOverall | None = None


class _ChatCharacteristics(_Lenient):
    ContactSummary: _ContactSummary | None = None
    Sentiment: _ChatSentiment | None = None


class _ContactLensChat(_Lenient):
    Version: str
    Channel: Literal["CHAT"]
    JobStatus: Literal["COMPLETED"]
    LanguageCode: str | None = None
    Participants: list[_Participant]
    ContentMetadata: _ContentMetadata | None = None
    CustomerMetadata: _CustomerMetadata
    Transcript: list[_ChatItem] = Field(max_length=20_000)
    Categories: _Categories | None = None
    ConversationCharacteristics: _ChatCharacteristics | None = None


class _TcaTurn(_AnalysedTurn):
    ParticipantRole: Annotated[str, Field(min_length=1, max_length=64)]


class _TranscribeCallAnalytics(_Lenient):
    JobName: Annotated[str, Field(min_length=1, max_length=200)]
    JobStatus: Literal["COMPLETED"]
    Channel: Literal["VOICE"] = "VOICE"
    LanguageCode: str | None = None
    Participants: list[_Participant]
    ContentMetadata: _ContentMetadata
    Transcript: list[_TcaTurn] = Field(max_length=20_000)
    Categories: _Categories | None = None
    ConversationCharacteristics: _Characteristics | None = None


# -- parsing ------------------------------------------------------------------------------------
def _document(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RejectedFileError("not_json", "The file is not complete, valid UTF-8 JSON.") from None
    if not isinstance(document, dict):
        raise RejectedFileError("unsupported_format", "The file is not a JSON object.")
    return document


def detect(document: dict[str, Any]) -> str:
    if "CustomerMetadata" in document or "Version" in document:
        return CONTACT_LENS
    if "JobName" in document:
        return TRANSCRIBE
    raise RejectedFileError("unsupported_format", "The file is neither Contact Lens nor Transcribe Call Analytics.")


def parse(raw: bytes, *, expected: str | None = None, key_says_redacted: bool = False) -> ImportedTranscript:
    """The neutral transcript of one file, or :class:`RejectedFileError` with its reason."""
    document = _document(raw)
    kind = detect(document)
    if expected is not None and expected != kind:
        raise RejectedFileError("format_mismatch", f"The file is not in the {expected} format it was dropped as.")
    try:
        if kind == TRANSCRIBE:
            return _transcribe(document)
        return _contact_lens(document, key_says_redacted)
    except ValidationError as exc:
        raise RejectedFileError("invalid_file", _where(exc)) from None


def _where(exc: ValidationError) -> str:
    # field paths and pydantic's reason only: never the rejected value
    first = exc.errors(include_url=False, include_input=False)[0]
    path = ".".join(str(p) for p in first["loc"]) or "file"
    return f"{path}: {first['msg']} ({exc.error_count()} problem(s))."


def _participants(participants: list[_Participant]) -> dict[str, str]:
    if not participants:
        raise RejectedFileError("missing_participants", "The file names no participants.")
    return {p.ParticipantId or p.ParticipantRole: p.ParticipantRole.upper() for p in participants}


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text)


def _sentiment(value: str | None) -> str | None:
    return value if value in _SENTIMENTS else None


def _contact_lens(document: dict[str, Any], key_says_redacted: bool) -> ImportedTranscript:
    version = str(document.get("Version", ""))
    channel = document.get("Channel")
    if channel == "VOICE" and version in VOICE_VERSIONS:
        return _voice(_ContactLensVoice.model_validate(document))
    if channel == "CHAT" and version in CHAT_VERSIONS:
        return _chat(_ContactLensChat.model_validate(document), key_says_redacted)
    if channel not in {"VOICE", "CHAT"}:
        raise RejectedFileError("unsupported_channel", "Only VOICE and CHAT Contact Lens files are imported.")
    raise RejectedFileError("unsupported_version", "This Contact Lens file version is not supported.")


def _overall(characteristics: _Characteristics | None) -> dict[str, float]:
    if characteristics is None or characteristics.Sentiment is None:
        return {}
    return {role.upper(): float(score) for role, score in characteristics.Sentiment.OverallSentiment.items()}


def _categories(categories: _Categories | None) -> tuple[str, ...]:
    return tuple(categories.MatchedCategories) if categories else ()


def _marked(turns: Sequence[_AnalysedTurn], attribute: str) -> tuple[int, ...]:
    return tuple(i for i, t in enumerate(turns) if getattr(t, attribute))


_Spoken = TypeVar("_Spoken", bound=_AnalysedTurn)


def _analysed_turns(
    transcript: Sequence[_Spoken],
    role_of: Callable[[_Spoken], str],
    characteristics: _Characteristics | None,
    categories: _Categories | None,
) -> tuple[tuple[Turn, ...], ProviderInsights]:
    """The turns of a voice transcript (Contact Lens or Transcribe Call Analytics: the same per-turn
    fields) and the provider's findings on them. Turns without words are left out, and the findings'
    turn indexes count the spoken turns only."""
    spoken = [t for t in transcript if t.Content.strip()]
    turns = tuple(_turn(role_of(t), t.BeginOffsetMillis, t.EndOffsetMillis, t.Content, t.Sentiment) for t in spoken)
    insights = ProviderInsights(
        sentiment_by_role=_overall(characteristics),
        categories=_categories(categories),
        issues=_marked(spoken, "IssuesDetected"),
        outcomes=_marked(spoken, "OutcomesDetected"),
        action_items=_marked(spoken, "ActionItemsDetected"),
    )
    return turns, insights


def _voice(file: _ContactLensVoice) -> ImportedTranscript:
    roles = _participants(file.Participants)

    def role_of(turn: _VoiceTurn) -> str:
        if turn.ParticipantId not in roles:
            raise RejectedFileError("missing_participants", "A turn names a participant the file does not list.")
        return roles[turn.ParticipantId]

    turns, insights = _analysed_turns(file.Transcript, role_of, file.ConversationCharacteristics, file.Categories)
    return ImportedTranscript(
        format=CONTACT_LENS,
        version=file.Version,
        channel="voice",
        contact_id=file.CustomerMetadata.ContactId,
        instance_id=file.CustomerMetadata.InstanceId,
        language_code=file.LanguageCode,
        redacted=file.ContentMetadata.Output == "Redacted",
        turns=turns,
        insights=insights,
        duration_ms=max((t.end_ms for t in turns), default=0),
    )


def _turn(role: str, start: int, end: int, text: str, sentiment: str | None) -> Turn:
    if end < start:
        raise RejectedFileError("invalid_file", "A turn ends before it begins.")
    return Turn(role=role, start_ms=start, end_ms=end, text=_clean(text), sentiment=_sentiment(sentiment))


def _chat(file: _ContactLensChat, key_says_redacted: bool) -> ImportedTranscript:
    roles = _participants(file.Participants)
    messages = [
        item
        for item in file.Transcript
        if (item.ContentType in _CHAT_TEXT_TYPES) and item.Content and item.Content.strip()
    ]
    start = min((m.AbsoluteTime for m in file.Transcript), default=None)
    turns: list[Turn] = []
    index_of: dict[str, int] = {}
    for item in messages:
        role = (item.ParticipantRole or roles.get(item.ParticipantId or "", "")).upper()
        if not role:
            raise RejectedFileError("missing_participants", "A message names a participant the file does not list.")
        offset = int((item.AbsoluteTime - (start or item.AbsoluteTime)).total_seconds() * 1000)
        index_of[item.Id] = len(turns)
        turns.append(_turn(role, offset, offset, item.Content or "", item.Sentiment))
    summary = file.ConversationCharacteristics.ContactSummary if file.ConversationCharacteristics else None
    found = summary.SummaryItemsDetected[0] if summary and summary.SummaryItemsDetected else _SummaryItems()

    def indexes(points: list[_SummaryPoint]) -> tuple[int, ...]:
        return tuple(sorted({index_of[r.Id] for p in points for r in p.TranscriptItems if r.Id in index_of}))

    chat_sentiment = file.ConversationCharacteristics.Sentiment if file.ConversationCharacteristics else None
    by_role = (
        {
            role.upper(): float(detail.SentimentScore)
            for role, detail in chat_sentiment.OverallSentiment.DetailsByParticipantRole.items()
            if detail.SentimentScore is not None
        }
        if chat_sentiment and chat_sentiment.OverallSentiment
        else {}
    )
    redacted = file.ContentMetadata.Output == "Redacted" if file.ContentMetadata else key_says_redacted
    return ImportedTranscript(
        format=CONTACT_LENS,
        version=file.Version,
        channel="chat",
        contact_id=file.CustomerMetadata.ContactId,
        instance_id=file.CustomerMetadata.InstanceId,
        language_code=file.LanguageCode,
        redacted=redacted,
        turns=tuple(turns),
        insights=ProviderInsights(
            sentiment_by_role=by_role,
            categories=_categories(file.Categories),
            issues=indexes(found.IssuesDetected),
            outcomes=indexes(found.OutcomesDetected),
            action_items=indexes(found.ActionItemsDetected),
        ),
        first_message_at=start,
        duration_ms=max((t.end_ms for t in turns), default=0),
    )


def _transcribe(document: dict[str, Any]) -> ImportedTranscript:
    if "Version" in document:  # Call Analytics results carry no version; one that does is a shape we do not know
        raise RejectedFileError("unsupported_version", "This Transcribe result version is not supported.")
    file = _TranscribeCallAnalytics.model_validate(document)
    _participants(file.Participants)
    turns, insights = _analysed_turns(
        file.Transcript, lambda t: t.ParticipantRole.upper(), file.ConversationCharacteristics, file.Categories
    )
    return ImportedTranscript(
        format=TRANSCRIBE,
        version="call-analytics",
        channel="voice",
        contact_id=None,
        instance_id=None,
        language_code=file.LanguageCode,
        redacted=file.ContentMetadata.Output == "Redacted",
        turns=turns,
        insights=insights,
        duration_ms=max((t.end_ms for t in turns), default=0),
        job_name=file.JobName,
    )
