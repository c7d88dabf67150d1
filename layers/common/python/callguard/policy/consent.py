"""The one consent and restriction policy: what may be stored, analysed, routed personally,
handed to an AI assistant, shown to an agent and exported — each answer with its reason.

Pure: no AWS, no I/O. Ingestion, the analysis, live assistance, routing and the agent view
read the subject's state and the call's consent from storage and ask :func:`decide`; none of
them decides on its own. The rules, strictest first:

* **restriction** (Art. 18 GDPR): the data is kept (storage is the one processing Art. 18(2)
  leaves), nothing else happens to it: no analysis, no personal routing, no AI handling, and
  an agent does not see the content. The subject's own access (Art. 15/20) stays open.
* **objection** (Art. 21): no AI analysis, no personal routing, no AI handling. Agents still
  see the (redacted) call: an objection is to the AI processing, not to the contact itself.
* **AI analysis** (Comprehend, sentiment, intents from content, history-based routing) needs
  the caller's AI consent *and* the AI disclosure (the caller was told an AI is involved).
  Content is analysed only when it was recorded with consent: without recording consent the
  text exists only in flight and is not sent to Comprehend either (live assistance included).
* **an unknown caller** (no call and no consent on record) is never routed personally: there is
  no consent to rely on; the rules alone decide (an AI assistant may still take the call).
* **a transcript** is kept only with recording consent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CallConsent", "ConsentDecision", "Reason", "SubjectState", "Verdict", "decide"]


class Reason(StrEnum):
    """Why a purpose is allowed or refused. The refusal values are wire values: ingestion and the
    analysis store them as ``analysis_skip_reason``, and the agent view shows them."""

    # refusals
    RESTRICTED = "restricted"
    OBJECTED = "objected"
    NO_AI_CONSENT = "no_ai_consent"
    NO_AI_DISCLOSURE = "no_ai_disclosure"
    NO_RECORDING_CONSENT = "no_recording_consent"
    UNKNOWN_CALLER = "unknown_caller"
    # grounds
    RECORDING_CONSENT = "recording_consent"
    AI_CONSENT = "ai_consent"
    NOT_OPTED_OUT = "not_opted_out"
    NOT_RESTRICTED = "not_restricted"
    DATA_SUBJECT_RIGHT = "data_subject_right"


#: how routing explains a refusal to the caller's agent (the ``reasons`` of a decision)
EXPLANATIONS: Mapping[Reason, str] = {
    Reason.RESTRICTED: "processing restricted (Art. 18)",
    Reason.OBJECTED: "objected to AI processing (Art. 21)",
    Reason.NO_AI_CONSENT: "opted out of AI analysis",
    Reason.NO_AI_DISCLOSURE: "no AI disclosure on record",
    Reason.NO_RECORDING_CONSENT: "no recording consent",
    Reason.UNKNOWN_CALLER: "first-time caller",
}


@dataclass(frozen=True)
class SubjectState:
    """What is on record about the data subject. ``known``: a call (and so a consent) of the subject
    is stored; ``objected``/``restricted``: on the subject's profile or on any identifier involved."""

    known: bool = True
    objected: bool = False
    restricted: bool = False


@dataclass(frozen=True)
class CallConsent:
    """The consent given on a call (for routing: the latest on record)."""

    recording: bool = False
    ai_analysis: bool = False
    ai_disclosure_given: bool = False

    @classmethod
    def of(cls, values: Mapping[str, bool] | None) -> CallConsent:
        """From stored or submitted consent flags; a missing flag is no consent."""
        values = values or {}
        return cls(
            recording=bool(values.get("recording", False)),
            ai_analysis=bool(values.get("ai_analysis", False)),
            ai_disclosure_given=bool(values.get("ai_disclosure_given", False)),
        )


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: Reason

    @property
    def refusal(self) -> str | None:
        """The reason when refused (a wire value), else ``None``."""
        return None if self.allowed else str(self.reason)

    def explain(self) -> str:
        return EXPLANATIONS.get(self.reason, str(self.reason))


def _allow(reason: Reason) -> Verdict:
    return Verdict(True, reason)


def _refuse(reason: Reason) -> Verdict:
    return Verdict(False, reason)


@dataclass(frozen=True)
class ConsentDecision:
    """The answer for one subject and one call (or, for routing, the latest consent on record)."""

    #: keep the transcript text (sealed under the subject's key)
    store: Verdict
    #: send (redacted) content to Comprehend, derive sentiment, intents, follow-ups
    analyse: Verdict
    #: use the caller's history and analyse the utterance to route the call
    route_personally: Verdict
    #: let an AI assistant handle the caller (else a human does)
    automate: Verdict
    #: show the call's (redacted) content to an agent
    show_to_agent: Verdict
    #: release the subject's data to the subject (Art. 15/20)
    export: Verdict


def _opted_out(subject: SubjectState, consent: CallConsent | None) -> Reason | None:
    """Restriction, objection or a withdrawn AI consent: the caller said no to AI."""
    if subject.restricted:
        return Reason.RESTRICTED
    if subject.objected:
        return Reason.OBJECTED
    if consent is not None and not consent.ai_analysis:
        return Reason.NO_AI_CONSENT
    return None


def _ai_refusal(subject: SubjectState, consent: CallConsent | None) -> Reason | None:
    """Why AI may not process the content, or ``None``."""
    opted_out = _opted_out(subject, consent)
    if opted_out is not None:
        return opted_out
    if consent is None or not subject.known:
        return Reason.UNKNOWN_CALLER
    if not consent.ai_disclosure_given:
        return Reason.NO_AI_DISCLOSURE
    return None


def decide(subject: SubjectState, consent: CallConsent | None) -> ConsentDecision:
    """The policy. ``consent`` is ``None`` when nothing is on record (an unknown caller)."""
    opted_out = _opted_out(subject, consent)
    ai = _ai_refusal(subject, consent)
    recorded = consent is not None and consent.recording
    if ai is None and not recorded:
        analyse = _refuse(Reason.NO_RECORDING_CONSENT)
    else:
        analyse = _allow(Reason.AI_CONSENT) if ai is None else _refuse(ai)
    return ConsentDecision(
        store=_allow(Reason.RECORDING_CONSENT) if recorded else _refuse(Reason.NO_RECORDING_CONSENT),
        analyse=analyse,
        route_personally=_allow(Reason.AI_CONSENT) if ai is None else _refuse(ai),
        automate=_allow(Reason.NOT_OPTED_OUT) if opted_out is None else _refuse(opted_out),
        show_to_agent=_refuse(Reason.RESTRICTED) if subject.restricted else _allow(Reason.NOT_RESTRICTED),
        export=_allow(Reason.DATA_SUBJECT_RIGHT),
    )
