"""The agent's view of a call: redacted segments, analysis, routing — audited.

The unredacted transcript is never served: segments come from the analysis item
(redacted with Comprehend's help) or, while the analysis is pending or was skipped,
are redacted on read by the local detectors alone. Every read is appended to the
audit log before the answer leaves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from callguard.analysis.regions import phone_regions
from callguard.errors import NotFoundError, RestrictedError
from callguard.policy.consent import decide
from callguard.security.audit import AuditLog
from callguard.security.crypto import SubjectKeyring, SubjectKeyShreddedError
from callguard.storage.calls import CallRecord, CallsRepository
from callguard.storage.subjects import SubjectsRepository
from callguard.storage.transcripts import TranscriptStore

__all__ = ["AgentViewService"]

_ANALYSIS_FIELDS = (
    "language",
    "sentiment",
    "key_phrases",
    "pii_types",
    "intent",
    "flags",
    "reason",
    "provider",
    "sentiment_source",
)


@dataclass
class AgentViewService:
    calls: CallsRepository
    transcripts: TranscriptStore
    keyring: SubjectKeyring
    audit: AuditLog
    #: restriction (Art. 18) is read from the subject's profile and the call's identifiers: always
    subjects: SubjectsRepository
    default_region: str = "DE"

    def view(self, call_id: str, actor: str) -> dict[str, Any]:
        call = self.calls.get(call_id)
        if call is None:
            raise NotFoundError("No call with this id.")
        if self._restricted(call):
            # the refusal is on record too; no content, no analysis leaves
            self.audit.append(actor=actor, action="read_call_refused_restricted", resource=f"call/{call_id}")
            raise RestrictedError(
                "Processing of this data subject's data is restricted (Art. 18 GDPR); its content is not shown."
            )
        analysis = self.calls.get_analysis(call_id)
        language = call.language or (analysis or {}).get("language")
        segments: list[dict[str, Any]] | None
        if analysis and analysis.get("status") == "done":
            segments = [{k: s[k] for k in ("speaker", "start_ms", "end_ms", "text")} for s in analysis["segments"]]
        else:
            segments = self._redacted_on_read(call, language)
            if segments is None:
                raise NotFoundError("No call with this id.")  # the subject was erased
        self.audit.append(actor=actor, action="read_call", resource=f"call/{call_id}")
        status = {"queued": "pending"}.get(call.analysis, call.analysis)
        summary: dict[str, Any] = {"status": status}
        if status == "skipped" and call.analysis_skip_reason is not None:
            summary["reason"] = call.analysis_skip_reason
        for key in _ANALYSIS_FIELDS:
            if analysis and key in analysis:
                summary[key] = analysis[key]
        return {
            "call_id": call_id,
            "started_at": call.started_at,
            "ended_at": call.ended_at,
            "channel": call.channel,
            "language": language,
            "agent_id": call.agent_id,
            "live": call.live,
            "segments": segments,
            "analysis": summary,
            "routing": None,
            **_source(call),
        }

    def _restricted(self, call: CallRecord) -> bool:
        """Whether the consent policy keeps the content from agents (restriction, Art. 18)."""
        state = self.subjects.state(call.subject_id, call.seen_macs)
        return not decide(state, None).show_to_agent.allowed

    def followups(self, due_before: str, actor: str) -> dict[str, Any]:
        """Open follow-ups due before ``due_before``; those of a restricted subject (Art. 18) are left
        out, as their calls are (a follow-up names its call and why it is due)."""
        self.audit.append(actor=actor, action="list_followups", resource=f"followups/due_before/{due_before}")
        restricted: dict[tuple[str, frozenset[str]], bool] = {}  # this listing's answers, per subject
        items = self.calls.followups_due(due_before)
        return {"items": [item for item in items if self._shown(item["call_id"], restricted)]}

    def _shown(self, call_id: str, restricted: dict[tuple[str, frozenset[str]], bool]) -> bool:
        """Whether a follow-up's call may be listed. The subject's state is read once per subject and
        set of identifiers seen on its calls (``restricted`` remembers it for one listing only): a
        restriction recorded against an identifier hides exactly the calls that show it, as in the view."""
        call = self.calls.get(call_id)
        if call is None:
            return False
        key = (call.subject_id, frozenset(call.seen_macs))
        if key not in restricted:
            restricted[key] = self._restricted(call)
        return not restricted[key]

    def _redacted_on_read(self, call: CallRecord, language: str | None) -> list[dict[str, Any]] | None:
        if call.transcript is None:  # no recording consent: no text exists
            return [m.as_dict() | {"text": None} for m in call.segments]
        try:
            raw = self.keyring.open(call.subject_id, self.transcripts.get(dict(call.transcript)), aad=call.call_id)
        except SubjectKeyShreddedError:
            return None
        # deferred: only a call whose analysis is pending or skipped is redacted here (cold start, #17)
        from callguard.analysis.pii import detect_turns, redact

        regions = phone_regions(language, self.default_region, call.caller_region)
        segments = json.loads(raw)
        texts = [s["text"] for s in segments]
        return [
            {k: s[k] for k in ("speaker", "start_ms", "end_ms")} | {"text": redact(text, spans)}
            for s, text, spans in zip(segments, texts, detect_turns(texts, regions=regions), strict=True)
        ]


def _source(call: CallRecord) -> dict[str, Any]:
    """Where an imported call came from: its format, and whether only the redacted file was read."""
    imported = call.imported
    if imported is None:
        return {}
    return {
        "imported": {
            "format": imported.format,
            "version": imported.version,
            "redacted_input": imported.output == "redacted",
        }
    }
