"""Analysis of one ingested call: consent check, redaction, Comprehend, intent, flags.

Data minimisation: the local detectors redact first; Comprehend only ever sees text
that is already redacted, and its PERSON/LOCATION (all languages) and PII (en/es)
findings redact what the local detectors missed. Only redacted text and derived
values are stored, in the analysis item (its own retention category).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from callguard.analysis.comprehend import LANGUAGES, PII_LANGUAGES, ComprehendGateway
from callguard.analysis.intents import DEFAULT_INTENTS, IntentConfig, classify, without_labels
from callguard.analysis.pii import LABELS, PiiSpan, comprehend_spans, detect_turns, redact
from callguard.analysis.regions import phone_regions
from callguard.policy.consent import CallConsent, decide
from callguard.security.crypto import SubjectKeyring, SubjectKeyShreddedError
from callguard.storage.calls import CallRecord, CallsRepository
from callguard.storage.subjects import SubjectsRepository
from callguard.storage.transcripts import TranscriptStore

__all__ = [
    "AnalysisOutcome",
    "AnalysisService",
    "RedactedTurn",
    "phone_regions",
    "sentiment_documents",
    "sentiment_summary",
]

_LABEL_TOKEN = re.compile(r"\[[A-Z_]+\]")
_RESOLVED = re.compile(r"(?i)\b(danke|vielen dank|gelöst|erledigt|perfekt|thanks|thank you|solved|resolved|great)\b")


@dataclass(frozen=True)
class RedactedTurn:
    """One turn of the call as the analysis keeps it: redacted text and the labels found in it
    (the API shows it as the contract's ``RedactedSegment``, without the labels)."""

    speaker: str
    start_ms: int
    end_ms: int
    text: str
    pii: tuple[str, ...]


@dataclass(frozen=True)
class AnalysisOutcome:
    call_id: str
    status: str  # done | skipped | gone
    reason: str | None = None
    units: dict[str, int] = field(default_factory=dict)
    followup: bool = False
    #: customer mood from the first to the last quarter with speech (-2 … +2), for the scorecard
    sentiment_shift: float | None = None
    followups_closed: int = 0


@dataclass
class AnalysisService:
    calls: CallsRepository
    subjects: SubjectsRepository
    transcripts: TranscriptStore
    keyring: SubjectKeyring
    comprehend: ComprehendGateway
    intents: IntentConfig = DEFAULT_INTENTS
    default_region: str = "DE"
    #: optional Comprehend custom classifier endpoint; the keyword classifier is the fallback
    classifier_endpoint: str | None = None
    classifier_threshold: float = 0.6
    followup_due_hours: int = 24
    #: an imported call whose provider (Contact Lens, Transcribe) already labelled each turn's
    #: sentiment is not sent to Comprehend for sentiment again
    reuse_provider_sentiment: bool = True
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def analyze(self, call_id: str) -> AnalysisOutcome:
        self.comprehend.units = {}
        call = self.calls.get(call_id)
        if call is None:
            return AnalysisOutcome(call_id, "gone", "call_not_found")  # erased or purged meanwhile
        if self.calls.get_analysis(call_id) is not None:
            return AnalysisOutcome(call_id, "done", "already_analysed")
        reason = self._skip_reason(call)
        if reason is None and call.transcript is None:
            reason = "no_transcript"
        segments: list[dict[str, Any]] = []
        if reason is None and call.transcript is not None:
            try:
                raw = self.keyring.open(call.subject_id, self.transcripts.get(dict(call.transcript)), aad=call_id)
            except SubjectKeyShreddedError:
                return AnalysisOutcome(call_id, "gone", "subject_erased")
            segments = json.loads(raw)
        if reason is not None:
            self.calls.put_analysis(
                call_id, {"status": "skipped", "reason": reason}, self.clock(), subject_id=call.subject_id
            )
            return AnalysisOutcome(call_id, "skipped", reason)
        result = self._analyse(call, segments)
        now = self.clock()
        followup = None
        if result["flags"]["followup"]:  # only reached with AI consent: follow-ups need it too
            negative = result["sentiment"]["by_speaker"].get("customer") == "NEGATIVE"
            followup = {
                "followup_id": str(uuid.uuid4()),
                "subject_id": call.subject_id,
                "due_at": (now + timedelta(hours=self.followup_due_hours)).isoformat(),
                "reason": "negative_sentiment" if negative else "unresolved",
            }
        closed = 0
        if (
            self.calls.put_analysis(call_id, result, now, followup, subject_id=call.subject_id)
            and result["flags"]["resolved"]
        ):
            self._learn_resolution(result)
            # a later call that resolved the caller's concern closes their open follow-ups
            closed = self.calls.close_followups(call.subject_id, except_call=call_id, now=now)
        return AnalysisOutcome(
            call_id,
            "done",
            None,
            dict(self.comprehend.units),
            followup=followup is not None,
            sentiment_shift=_shift(result["sentiment"]["trajectory"]),
            followups_closed=closed,
        )

    def _skip_reason(self, call: CallRecord) -> str | None:
        """Why the consent policy refuses the analysis (the subject's state now, the call's consent)."""
        state = self.subjects.state(call.subject_id, call.seen_macs)
        return decide(state, CallConsent.of(dict(call.consent))).analyse.refusal

    # -- the analysis itself ------------------------------------------------------
    def _analyse(self, call: CallRecord, segments: list[dict[str, Any]]) -> dict[str, Any]:
        language, segs = self._redacted(call, segments)
        provider = _provider(call)
        groups, results, reused = self._sentiments(segs, provider, language)
        customer = [s.text for s in segs if s.speaker == "customer"]
        phrases = self._key_phrases(customer, language)
        sentiment = sentiment_summary(list(groups), results)
        extra: dict[str, Any] = {}
        if provider is not None:  # the provider's own findings, kept beside callguard's
            extra["provider"] = {k: v for k, v in provider.items() if k != "turn_sentiment"}
            extra["sentiment_source"] = provider["format"] if reused else "comprehend"
        pii_counts = Counter(label.strip("[]") for s in segs for label in s.pii)
        return extra | {
            "status": "done",
            "language": language,
            "language_source": "call" if call.language else "detected",
            "segments": [s.__dict__ | {"pii": list(s.pii)} for s in segs],
            "sentiment": sentiment,
            "key_phrases": phrases,
            "pii_types": sorted(pii_counts),
            "intent": self._intent(customer, phrases),
            "flags": _flags(segs, sentiment),
            "comprehend_units": dict(self.comprehend.units),
        }

    def _redacted(self, call: CallRecord, segments: list[dict[str, Any]]) -> tuple[str, list[RedactedTurn]]:
        """The call's language and its turns, redacted locally first, then with Comprehend's help
        (which only ever sees locally redacted text)."""
        language = call.language
        regions = phone_regions(language, self.default_region, call.caller_region)
        texts = [s["text"] for s in segments]
        local = [redact(t, spans) for t, spans in zip(texts, detect_turns(texts, regions=regions), strict=True)]
        if not language:
            # the language is needed before Comprehend sees anything: detect it on locally redacted text
            customer_text = " ".join(s["text"] for s in segments if s["speaker"] == "customer") or " ".join(texts)
            language = self.comprehend.detect_language(" ".join(local) or customer_text[:1])
        redacted = self._comprehend_redaction(local, language)
        return language, [
            RedactedTurn(
                s["speaker"], int(s["start_ms"]), int(s["end_ms"]), text, tuple(sorted(set(_LABEL_TOKEN.findall(text))))
            )
            for s, text in zip(segments, redacted, strict=True)
        ]

    def _sentiments(
        self, segs: list[RedactedTurn], provider: dict[str, Any] | None, language: str
    ) -> tuple[dict[tuple[str, tuple[int, ...]], str], list[dict[str, Any]], bool]:
        """(speaker, quarters) groups and their sentiment results; ``True`` when the provider's own
        per-turn labels were reused (they cost nothing: every quarter is kept)."""
        reused = _provider_sentiments(segs, provider) if self.reuse_provider_sentiment else None
        if reused is not None:
            return {(speaker, (quarter,)): "" for speaker, quarter in _speaker_quarters(segs)}, reused, True
        groups = sentiment_documents(segs)
        texts = list(groups.values())
        results = self.comprehend.sentiments(texts, language) if language in LANGUAGES and texts else []
        return groups, results, False

    def _key_phrases(self, customer: list[str], language: str) -> list[str]:
        phrases = self.comprehend.key_phrases(customer, language) if language in LANGUAGES and customer else []
        # a phrase that is or holds a redaction label says nothing about the call
        return [p for p in dict.fromkeys(phrases) if not _LABEL_TOKEN.search(p) and p.strip("[]") not in LABELS][:20]

    def _learn_resolution(self, result: dict[str, Any]) -> None:
        """Key phrases of the agent's last turn in a resolved call, counted per intent."""
        agent_turns = [s["text"] for s in result["segments"] if s["speaker"] == "agent"]
        if not agent_turns or result["language"] not in LANGUAGES:
            return
        phrases = self.comprehend.key_phrases(agent_turns[-1:], result["language"])
        clean = [p for p in dict.fromkeys(phrases) if not _LABEL_TOKEN.search(p) and p.strip("[]") not in LABELS]
        self.calls.record_resolution(result["intent"]["name"], clean[:5], self.clock())

    def _intent(self, customer: list[str], phrases: list[str]) -> dict[str, Any]:
        """Custom classifier when configured and confident; else the keyword classifier.
        Either way the result says where it came from and why."""
        keywords = classify([*customer, *phrases], self.intents)
        if self.classifier_endpoint and customer:
            # redaction labels are ours, not the caller's: the classifier sees only what was said
            said = " ".join(" ".join(without_labels(t).split()) for t in customer)
            top = self.comprehend.classify(said, self.classifier_endpoint) if said else None
            if top is not None and top[1] >= self.classifier_threshold:
                standard = any(r.name == top[0] and r.standard for r in self.intents.rules)
                return {
                    "name": top[0],
                    "source": "comprehend_classifier",
                    "score": round(top[1], 3),
                    "standard": standard,
                }
        return {
            "name": keywords.name,
            "source": "keywords",
            "matched": list(keywords.matched),
            "standard": keywords.standard,
        }

    def _comprehend_redaction(self, texts: Sequence[str], language: str) -> list[str]:
        """Redact what Comprehend finds in already locally-redacted texts."""
        if language not in LANGUAGES:
            return list(texts)
        out = list(texts)
        for index, found in enumerate(self.comprehend.entities(texts, language)):
            spans = [s for s in comprehend_spans(found) if s.label in {"NAME", "LOCATION"}]
            out[index] = _redact_outside_labels(out[index], spans)
        if language in PII_LANGUAGES:
            for index, found in enumerate(self.comprehend.pii_entities_of(out, language)):
                out[index] = _redact_outside_labels(out[index], comprehend_spans(found))
        return out


def _flags(segs: Sequence[RedactedTurn], sentiment: dict[str, Any]) -> dict[str, bool]:
    """Escalate when the customer's mood ends negative; follow up what is unresolved or negative."""
    last_customer = next((s.text for s in reversed(segs) if s.speaker == "customer"), "")
    resolved = bool(_RESOLVED.search(last_customer))
    negative = sentiment["by_speaker"].get("customer") == "NEGATIVE"
    trajectory = [t for t in sentiment["trajectory"] if t]
    escalate = bool(trajectory) and trajectory[-1] == "NEGATIVE"
    return {"escalate": escalate, "followup": (not resolved) or negative, "resolved": resolved}


def _provider(call: CallRecord) -> dict[str, Any] | None:
    """What the provider of a call imported from a Contact Lens/Transcribe file already analysed."""
    imported = call.imported
    if imported is None:
        return None
    return {
        "format": imported.format,
        "output": imported.output,
        "sentiment_by_role": dict(imported.sentiment_by_role),
        "categories": list(imported.categories),
        "issues": list(imported.issues),
        "outcomes": list(imported.outcomes),
        "action_items": list(imported.action_items),
        "turn_sentiment": list(imported.turn_sentiment or ()),
    }


def _provider_sentiments(
    segments: Sequence[RedactedTurn], provider: dict[str, Any] | None
) -> list[dict[str, Any]] | None:
    """Sentiment results per (speaker, quarter) group from the provider's per-turn labels, in the
    order :func:`_speaker_quarters` groups them; ``None`` when the labels do not cover every turn."""
    labels = (provider or {}).get("turn_sentiment") or []
    if len(labels) != len(segments):
        return None
    end = max((s.end_ms for s in segments), default=0) or 1
    groups: dict[tuple[str, int], list[str]] = {}
    for segment, label in zip(segments, labels, strict=True):
        if segment.text.strip():
            groups.setdefault((segment.speaker, min(3, int(4 * segment.start_ms / end))), []).append(label)
    return [{"Sentiment": _label(turns)} for turns in groups.values()]


def _redact_outside_labels(text: str, spans: Sequence[PiiSpan]) -> str:
    labels = [(m.start(), m.end()) for m in _LABEL_TOKEN.finditer(text)]
    keep = [s for s in spans if not any(s.start < end and start < s.end for start, end in labels)]
    return redact(text, keep)


def _label(turns: Sequence[str]) -> str:
    """A summary label from turn labels: the more frequent polarity wins, a tie is MIXED,
    no polar turn is NEUTRAL. (Neutral turns such as greetings do not dilute a complaint.)"""
    counts = Counter(turns)
    negative = counts["NEGATIVE"] + counts["MIXED"] / 2
    positive = counts["POSITIVE"] + counts["MIXED"] / 2
    if negative > positive:
        return "NEGATIVE"
    if positive > negative:
        return "POSITIVE"
    return "MIXED" if positive else "NEUTRAL"


_POLARITY = {"POSITIVE": 1.0, "NEUTRAL": 0.0, "MIXED": 0.0, "NEGATIVE": -1.0}


def _shift(trajectory: Sequence[str | None]) -> float | None:
    known = [_POLARITY[t] for t in trajectory if t]
    return known[-1] - known[0] if len(known) >= 2 else None


#: Comprehend bills every document as at least 300 characters (3 units of 100).
MIN_BILLED_CHARS = 300


def _speaker_quarters(segments: Sequence[RedactedTurn]) -> dict[tuple[str, int], list[RedactedTurn]]:
    """Turns grouped by speaker and quarter of the call: the finest granularity the summary needs."""
    end = max((s.end_ms for s in segments), default=0) or 1
    groups: dict[tuple[str, int], list[RedactedTurn]] = {}
    for segment in segments:
        if segment.text.strip():
            groups.setdefault((segment.speaker, min(3, int(4 * segment.start_ms / end))), []).append(segment)
    return groups


def sentiment_documents(segments: Sequence[RedactedTurn]) -> dict[tuple[str, tuple[int, ...]], str]:
    """One Comprehend document per speaker and run of consecutive quarters: (speaker, quarters) → text.

    A speaker's quarters get documents of their own only as far as each still reaches the
    300 characters Comprehend bills anyway: a speaker with less says everything in one
    document (billed once at the minimum), one with 1,200 characters or more gets all four.
    Each quarter with speech takes the label of the document that holds it, so the trajectory
    keeps every quarter the speaker's text can pay for.
    """
    by_speaker: dict[str, list[tuple[int, str]]] = {}
    for (speaker, quarter), members in sorted(_speaker_quarters(segments).items(), key=lambda kv: kv[0][1]):
        by_speaker.setdefault(speaker, []).append((quarter, " ".join(s.text for s in members)))
    documents: dict[tuple[str, tuple[int, ...]], str] = {}
    for speaker, quarters in by_speaker.items():
        total = sum(len(text) for _, text in quarters)
        wanted = max(1, min(len(quarters), total // MIN_BILLED_CHARS))
        target = total / wanted
        run: list[tuple[int, str]] = []
        for index, (quarter, text) in enumerate(quarters):
            run.append((quarter, text))
            left = len(quarters) - index - 1
            closed = sum(1 for key in documents if key[0] == speaker)
            if left and closed < wanted - 1 and sum(len(t) for _, t in run) >= target:
                documents[(speaker, tuple(q for q, _ in run))] = " ".join(t for _, t in run)
                run = []
        if run:
            documents[(speaker, tuple(q for q, _ in run))] = " ".join(t for _, t in run)
    return documents


def sentiment_summary(keys: Sequence[tuple[str, tuple[int, ...]]], results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if not results:
        return {"overall": None, "by_speaker": {}, "trajectory": []}
    labels = [str(r["Sentiment"]) for r in results]
    by_speaker: dict[str, list[str]] = {}
    quarters: list[list[str]] = [[], [], [], []]
    for (speaker, covered), label in zip(keys, labels, strict=True):
        by_speaker.setdefault(speaker, []).append(label)
        if speaker == "customer":
            for quarter in covered:
                quarters[quarter].append(label)
    return {
        "overall": _label(labels),
        "by_speaker": {speaker: _label(turns) for speaker, turns in by_speaker.items()},
        "trajectory": [_label(q) if q else None for q in quarters],
    }
