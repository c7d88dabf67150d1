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

from callguard.analysis.comprehend import LANGUAGES, ComprehendGateway
from callguard.analysis.intents import DEFAULT_INTENTS, IntentConfig, classify
from callguard.analysis.pii import detect, redact
from callguard.analysis.regions import phone_regions
from callguard.models import RoutingRequest, caller_region
from callguard.policy.consent import CallConsent, ConsentDecision, Reason, SubjectState
from callguard.policy.consent import decide as consent_policy
from callguard.routing.rules import CallerHistory, Decision, RoutingConfig, RoutingInput, decide
from callguard.security.identity import Pseudonymizer
from callguard.storage.calls import CallsRepository
from callguard.storage.subjects import SubjectsRepository

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
        from callguard.security.identity import unverified_subject_id

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
        consent = self.subjects.latest_consent(subject_id) if subject_id is not None else None
        policy = self._policy(subject_id, macs, consent)
        ai_allowed = policy.automate.allowed
        blocked = None if ai_allowed else policy.automate.explain()
        # history and Comprehend only as the policy allows: never for an unknown caller
        analyse = policy.route_personally.allowed
        history_reason = None if analyse else (f"not used: {blocked}" if blocked else _unused(policy))
        redacted = None
        if request.utterance:
            regions = phone_regions(request.language, self.default_region, caller_region(request.caller.phone))
            redacted = redact(request.utterance, detect(request.utterance, regions=regions))
        language, sentiment, unavailable = request.language, None, False
        if redacted and analyse:
            language, sentiment, unavailable = self._language_and_sentiment(redacted, language)
        intent = classify([redacted] if redacted else [], self.intents)
        history = None
        if analyse and subject_id is not None:
            history = self._history(subject_id, now, exclude=request.call_id)
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
            history_unused_reason=history_reason,
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

    def _policy(self, subject_id: str | None, macs: list[str], consent: dict[str, bool] | None) -> ConsentDecision:
        """The consent policy for this caller: rights recorded against the identifiers shown or on the
        subject's profile; a caller with no consent on record is unknown (a first-time caller)."""
        objected, restricted = self.subjects.rights(macs)
        if subject_id is not None:
            profile = self.subjects.profile(subject_id)
            restricted, objected = restricted or profile.restricted, objected or profile.objected
        state = SubjectState(known=consent is not None, objected=objected, restricted=restricted)
        return consent_policy(state, None if consent is None else CallConsent.of(consent))

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
        call_ids, open_followups = self.calls.recent_activity(subject_id, since)
        calls = [c for c in call_ids if c != exclude]
        previous_negative = False
        for call_id in calls[-_MAX_HISTORY_CALLS:]:
            analysis = self.calls.get_analysis(call_id)
            if analysis and analysis.get("sentiment", {}).get("by_speaker", {}).get("customer") == "NEGATIVE":
                previous_negative = True
                break
        return CallerHistory(len(calls), open_followups, previous_negative)


def _unused(policy: ConsentDecision) -> str:
    """Why history is not used for a caller who did not opt out."""
    verdict = policy.route_personally
    return verdict.explain() if verdict.reason is Reason.UNKNOWN_CALLER else f"not used: {verdict.explain()}"
