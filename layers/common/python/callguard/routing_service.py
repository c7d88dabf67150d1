"""Routing requests: identify (never create) the caller, respect consent, decide, store.

AI may only look at a caller who has not opted out: without AI consent, or after an
objection or restriction, the utterance is not sent to Comprehend, history is not
used, and a human handles the call. The utterance itself is never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .analysis import phone_regions
from .comprehend import LANGUAGES, ComprehendGateway
from .identity import Pseudonymizer
from .intents import DEFAULT_INTENTS, IntentConfig, classify
from .models import RoutingRequest, caller_region
from .pii import detect, redact
from .repository import CallsRepository, SubjectsRepository
from .routing import CallerHistory, Decision, RoutingConfig, RoutingInput, decide

__all__ = ["RoutingService"]

_MAX_HISTORY_CALLS = 10


@dataclass
class RoutingService:
    pseudonymizer: Pseudonymizer
    subjects: SubjectsRepository
    calls: CallsRepository
    comprehend: ComprehendGateway
    config: RoutingConfig
    intents: IntentConfig = DEFAULT_INTENTS
    default_region: str = "DE"
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _subject(self, request: RoutingRequest) -> tuple[str | None, list[str]]:
        """The caller's history: through an authenticated identifier, else the unverified history of
        exactly these identifiers (never someone else's calls through a shown caller ID)."""
        from .identity import unverified_subject_id

        authenticated = request.caller.authenticated_kinds()
        pairs = [(kind, self.pseudonymizer.mac(kind, value)) for kind, value in request.caller.identifiers()]
        macs = [mac for _, mac in pairs]
        proven = [mac for kind, mac in pairs if kind in authenticated]
        if proven:
            return self.subjects.find(proven), macs
        return unverified_subject_id(macs), macs

    def route(self, request: RoutingRequest) -> Decision:
        now = self.clock()
        subject_id, macs = self._subject(request)
        objected, restricted = self.subjects.rights(macs)
        ai_allowed, blocked, history_reason = True, None, "first-time caller"
        consent = None
        if subject_id is not None:
            profile = self.subjects.profile(subject_id)
            consent = self.subjects.latest_consent(subject_id)
            restricted, objected = restricted or profile.restricted, objected or profile.objected
        known = subject_id if consent is not None else None  # no call of it stored yet: a first-time caller
        if restricted:
            ai_allowed, blocked = False, "processing restricted (Art. 18)"
        elif objected:
            ai_allowed, blocked = False, "objected to AI processing (Art. 21)"
        elif consent is not None and not consent.get("ai_analysis", False):
            ai_allowed, blocked = False, "opted out of AI analysis"
        if known is not None or blocked:
            history_reason = "not used: " + blocked if blocked else ""
        # the utterance goes to Comprehend only with an AI consent on record: never for an unknown caller
        analyse = ai_allowed and consent is not None and bool(consent.get("ai_analysis"))
        redacted = None
        if request.utterance:
            regions = phone_regions(request.language, self.default_region, caller_region(request.caller.phone))
            redacted = redact(request.utterance, detect(request.utterance, regions=regions))
        language, sentiment, unavailable = request.language, None, False
        if redacted and analyse:
            language, sentiment, unavailable = self._language_and_sentiment(redacted, language)
        intent = classify([redacted] if redacted else [], self.intents)
        history = None
        if known is not None and ai_allowed:
            history = self._history(known, now, exclude=request.call_id)
        data = RoutingInput(
            now=now,
            language=language,
            intent=intent.name,
            intent_standard=intent.standard,
            intent_evidence=intent.matched,
            sentiment=sentiment,
            ai_allowed=ai_allowed,
            ai_blocked_reason=blocked,
            history=history,
            history_unused_reason=history_reason or None,
            tier=request.metadata.get("tier"),
            analysis_unavailable=unavailable,
        )
        decision = decide(data, self.config)
        stored: dict[str, Any] = decision.public() | {
            "config_version": decision.config_version,
            "call_id": request.call_id,
            "channel": request.channel,
        }
        self.calls.put_decision(str(uuid.uuid4()), subject_id, stored, now)
        return decision

    def _language_and_sentiment(self, redacted: str, language: str | None) -> tuple[str | None, str | None, bool]:
        """Language (when not given) and sentiment of the redacted utterance; a caller waits on
        this answer, so when Comprehend does not answer (after its retries) the decision is made
        on the rules and says so."""
        try:
            if language is None:
                language = self.comprehend.detect_language(redacted)
            sentiment = None
            if language in LANGUAGES:
                sentiment = str(self.comprehend.sentiments([redacted], language)[0]["Sentiment"])
        except (ClientError, BotoCoreError):
            return language, None, True
        return language, sentiment, False

    def _history(self, subject_id: str, now: datetime, exclude: str | None) -> CallerHistory:
        since = now - timedelta(days=self.config.repeat_window_days)
        keys = self.calls.subject_items(subject_id, since)
        current = f"CALL#{exclude}" if exclude else None
        calls = sorted({pk for pk, sk in keys if sk == "CALL" and pk != current})
        open_followups = 0
        for pk, sk in keys:
            if sk == "FOLLOWUP" and (item := self.calls.get_item(pk, sk)) and item["followup_status"]["S"] == "open":
                open_followups += 1
        previous_negative = False
        for pk in calls[-_MAX_HISTORY_CALLS:]:
            analysis = self.calls.get_analysis(pk.removeprefix("CALL#"))
            if analysis and analysis.get("sentiment", {}).get("by_speaker", {}).get("customer") == "NEGATIVE":
                previous_negative = True
                break
        return CallerHistory(len(calls), open_followups, previous_negative)
