"""Live assistance: append segments to a live call, follow the customer's mood, suggest.

New segments are sealed like ingestion (the whole transcript re-sealed under the
subject key as a new object version, with an optimistic lock on the call item). The
customer's new text is redacted locally and, only with AI consent, sent to Comprehend
for sentiment; the labels (never text) are kept on the call item to see the trend.
Suggestions are knowledge-base answers for the intent, plus resolution phrases that
closed earlier calls with the same intent — aggregated counts, shown only once seen in
several calls, never another caller's text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.analysis.comprehend import LANGUAGES, ComprehendGateway
from callguard.analysis.intents import DEFAULT_INTENTS, IntentConfig, classify
from callguard.analysis.regions import phone_regions
from callguard.errors import CallguardError, NotFoundError
from callguard.models import Segment
from callguard.policy.consent import CallConsent, decide
from callguard.routing.rules import RoutingConfig
from callguard.security.crypto import SubjectKeyring
from callguard.storage.calls import CallRecord, CallsRepository, SegmentMeta
from callguard.storage.subjects import SubjectsRepository
from callguard.storage.transcripts import TranscriptStore

__all__ = ["RESOLUTION_MIN_CALLS", "CallNotLiveError", "LiveService"]

#: a resolution phrase is suggested only once it closed at least this many calls
RESOLUTION_MIN_CALLS = 3


class CallNotLiveError(CallguardError, status=409, code="call_not_live"):
    """Segments were sent for a call that has ended (or was never live)."""


@dataclass
class LiveService:
    calls: CallsRepository
    subjects: SubjectsRepository
    transcripts: TranscriptStore
    keyring: SubjectKeyring
    comprehend: ComprehendGateway
    routing: RoutingConfig
    intents: IntentConfig = DEFAULT_INTENTS
    default_region: str = "DE"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def append(self, call_id: str, segments: list[Segment]) -> dict[str, Any]:
        call = self.calls.get(call_id)
        if call is None:
            raise NotFoundError("No call with this id.")
        if call.ended_at is not None:
            raise CallNotLiveError("The call has ended; segments can only be added to a live call.")
        policy = decide(self.subjects.state(call.subject_id, call.seen_macs), CallConsent.of(dict(call.consent)))
        ai_allowed = policy.analyse.allowed  # never without recording consent: the text is not sent anywhere
        meta = [SegmentMeta(s.speaker, s.start_ms, s.end_ms) for s in segments]
        if policy.store.allowed:
            self._seal_append(call, segments, meta)
        else:
            self.calls.append_segment_meta(call_id, meta)
        customer = self._customer_turns(call, segments)
        labels = self._sentiment_labels(call, customer) if ai_allowed and customer else []
        trend = self.calls.append_live_sentiment(call_id, labels) if labels else list(call.live_sentiments)
        intent = self._running_intent(call, customer)
        latest = trend[-1] if trend else None
        return {
            "live": {
                "sentiment": latest or ("NOT_ANALYSED" if not ai_allowed else "NEUTRAL"),
                "escalate": _turned_negative(trend),
                "suggestions": self._suggestions(intent),
            }
        }

    def _customer_turns(self, call: CallRecord, segments: list[Segment]) -> list[str]:
        """The customer's new turns, redacted locally (nothing else ever leaves this service)."""
        # deferred: the ingest function imports this module, and only this route detects PII (cold start, #17)
        from callguard.analysis.pii import detect_turns, redact

        regions = phone_regions(call.language, self.default_region, call.caller_region)
        turns = zip(segments, detect_turns([s.text for s in segments], regions=regions), strict=True)
        return [redact(s.text, spans) for s, spans in turns if s.speaker == "customer"]

    def _sentiment_labels(self, call: CallRecord, customer: list[str]) -> list[str]:
        """Comprehend's sentiment of each redacted customer turn (asked only when the policy allows)."""
        language = call.language or self.comprehend.detect_language(" ".join(customer))
        if language not in LANGUAGES:
            return []
        return [str(r["Sentiment"]) for r in self.comprehend.sentiments(customer, language)]

    def _running_intent(self, call: CallRecord, customer: list[str]) -> str:
        intent = classify(customer, self.intents).name
        if intent == "general":  # nothing new said about the topic: keep the call's running intent
            return call.live_intent or "general"
        self.calls.set_live_intent(call.call_id, intent)
        return intent

    def _seal_append(self, call: CallRecord, segments: list[Segment], meta: list[SegmentMeta]) -> None:
        subject_id, call_id = call.subject_id, call.call_id
        existing: list[dict[str, Any]] = []
        pointer = None if call.transcript is None else dict(call.transcript)
        if pointer is not None:
            existing = json.loads(self.keyring.open(subject_id, self.transcripts.get(pointer), aad=call_id))
        combined = existing + [s.model_dump() for s in segments]
        payload = json.dumps(combined, ensure_ascii=False, separators=(",", ":")).encode()
        if pointer is None:  # the call's first transcript: the retention purge must find it
            key = self.transcripts.key_for(subject_id, call_id)
            self.calls.mark_transcript(call_id, subject_id, self.transcripts.bucket, key, self.clock())
        new_pointer = self.transcripts.put(subject_id, call_id, self.keyring.seal(subject_id, payload, aad=call_id))
        try:
            self.calls.replace_transcript(call_id, new_pointer, pointer, meta)
        except ClientError as exc:
            self.transcripts.delete_version(new_pointer)  # nothing half-written
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                conflict = CallguardError("Segments for this call arrived concurrently; retry.")
                conflict.status, conflict.code = 409, "concurrent_update"
                raise conflict from None
            raise

    def _suggestions(self, intent: str) -> list[str]:
        answers = list(self.routing.knowledge_base.get(intent, ()))
        resolutions = [
            f"Closed {count} similar calls: {phrase}"
            for phrase, count in self.calls.resolutions(intent)
            if count >= RESOLUTION_MIN_CALLS
        ]
        return answers + resolutions[:3]


_SCORE = {"POSITIVE": 1.0, "NEUTRAL": 0.0, "MIXED": -0.5, "NEGATIVE": -1.0}


def _turned_negative(trend: list[str]) -> bool:
    """Escalate when the latest customer turn is negative and the mood has turned: the turn
    before was negative too, or the last three average clearly negative. One sour remark
    after a friendly phase is not yet a trend."""
    if not trend or trend[-1] != "NEGATIVE":
        return False
    if len(trend) >= 2 and trend[-2] in {"NEGATIVE", "MIXED"}:
        return True
    recent = trend[-3:]
    return sum(_SCORE.get(label, 0.0) for label in recent) / len(recent) <= -0.5
