"""Ingestion of a call: pseudonymise, enforce consent, seal, store, enqueue.

Order of writes, chosen so that a failure at any step leaves nothing half-written
that a retry cannot finish:

1. the subject's profile and links (authenticated identifiers only), then, in one
   transaction (all or nothing), the evidence of unauthenticated identifiers on this
   call, the consent record, a new subject's wrapped data key (only if it has none:
   a racing call's key wins and is used instead) and the transcript marker (the
   purge's handle on the object of step 2, written before it; once per call),
2. the sealed transcript object in S3,
3. the call item (conditional on the id being new; on failure the S3 version of
   step 2 and a marker of step 1 written by this attempt are deleted again),
4. the analysis message, then ``enqueued_at`` on the call item. A retry after a
   failure at 4 finds the call item without ``enqueued_at`` and sends again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from callguard.errors import CallConflictError
from callguard.models import CallAccepted, CallIn, caller_region
from callguard.policy.consent import CallConsent, ConsentDecision, SubjectState, decide
from callguard.security.crypto import SubjectKeyring
from callguard.security.identity import Pseudonymizer
from callguard.storage.repository import (
    AnalysisQueue,
    CallerIdentity,
    CallRecord,
    CallsRepository,
    SubjectProfile,
    SubjectsRepository,
    TransactionCanceledError,
    TranscriptStore,
    write_together,
)

__all__ = ["IngestService", "analysis_decision", "consent_decision"]


def consent_decision(call: CallIn, *, objected: bool, restricted: bool) -> ConsentDecision:
    """What the consent policy allows for ``call`` of a subject in this state."""
    return decide(
        SubjectState(known=True, objected=objected, restricted=restricted),
        CallConsent.of(call.consent.model_dump()),
    )


def analysis_decision(call: CallIn, *, objected: bool, restricted: bool) -> tuple[str, str | None]:
    """``("queued", None)`` or ``("skipped", reason)``, as the consent policy answers."""
    return _queue_or_skip(call, consent_decision(call, objected=objected, restricted=restricted))


def _queue_or_skip(call: CallIn, policy: ConsentDecision) -> tuple[str, str | None]:
    verdict = policy.analyse
    if not verdict.allowed:
        return "skipped", verdict.refusal
    if not call.segments:
        return "skipped", "no_transcript"
    return "queued", None


@dataclass
class IngestService:
    pseudonymizer: Pseudonymizer
    keyring: SubjectKeyring
    subjects: SubjectsRepository
    calls: CallsRepository
    transcripts: TranscriptStore
    queue: AnalysisQueue
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def ingest(self, call: CallIn, *, extra_attributes: dict[str, Any] | None = None) -> CallAccepted:
        """Store ``call``. ``extra_attributes`` (DynamoDB wire format) go onto the new call item,
        never over its own attributes: the importer records the file's origin there."""
        now = self.clock()
        existing = self.calls.get(call.call_id)
        if existing is not None:
            return self._replay(existing, call, now)

        identities = self._identities(call)
        profile = self.subjects.resolve(identities, now)
        subject_id = profile.subject_id
        seen = [i.mac for i in identities if not i.authenticated]
        policy = consent_decision(call, objected=profile.objected, restricted=profile.restricted)
        status, reason = _queue_or_skip(call, policy)
        keeps_transcript = bool(policy.store.allowed and call.segments)
        marked = self._record(call, profile, seen, now, keeps_transcript)
        fingerprint = self._fingerprint(subject_id, call)

        pointer: dict[str, str] | None = None
        try:
            if keeps_transcript:
                transcript = json.dumps(
                    [s.model_dump() for s in call.segments], ensure_ascii=False, separators=(",", ":")
                ).encode()
                pointer = self.transcripts.put(
                    subject_id, call.call_id, self.keyring.seal(subject_id, transcript, aad=call.call_id)
                )
            attributes = self._attributes(call, subject_id, fingerprint, status, reason, pointer)
            attributes.update(self._provenance(call, seen))
            attributes = {**(extra_attributes or {}), **attributes}
            previous = self.calls.put_new(attributes, now)
        except Exception:
            if pointer is not None:  # nothing half-written
                self.transcripts.delete_version(pointer)
            if marked:
                self.calls.delete_transcript_marker(call.call_id)
            raise
        if previous is not None:  # lost a race against the same call id
            if pointer is not None and previous.extra.get("transcript", {}).get("M", {}).get("version_id", {}).get(
                "S"
            ) != pointer.get("version_id"):
                self.transcripts.delete_version(pointer)
            return self._replay(previous, call, now)

        if status == "queued":
            self._enqueue(call.call_id, now)
        return CallAccepted(call_id=call.call_id, subject_id=subject_id, analysis=status)  # type: ignore[arg-type]

    def _record(self, call: CallIn, profile: SubjectProfile, seen: list[str], now: datetime, marker: bool) -> bool:
        """Step 1's transaction: the unauthenticated identifiers' evidence, the consent record, a new
        subject's wrapped key and (when the transcript is kept) its marker. True when this attempt
        wrote the marker. A condition that fails cancels all of it; then the part that failed is left
        out (a marker an earlier attempt of the call wrote stays; a key a racing call stored first is
        the subject's key) and the rest is written again."""
        subject_id = profile.subject_id
        writes = [
            entry
            for mac in dict.fromkeys(seen)
            for entry in self.subjects.seen_writes(mac, subject_id, call.call_id, now, whole=not profile.authenticated)
        ]
        writes.append(self.subjects.consent_write(subject_id, call.call_id, call.consent.model_dump(), now))
        key = self.keyring.new_key_write(subject_id) if profile.created else None  # a new subject has no key yet
        marking = None
        if marker:
            object_key = self.transcripts.key_for(subject_id, call.call_id)
            marking = self.calls.transcript_marker_write(
                call.call_id, subject_id, self.transcripts.bucket, object_key, now
            )
        for _ in range(3):  # each retry leaves out one more conditional entry: at most two
            optional = [entry for entry in (key, marking) if entry is not None]
            try:
                write_together(self.calls.dynamodb, [*writes, *optional])
            except TransactionCanceledError as cancelled:
                failed = {i - len(writes) for i, code in enumerate(cancelled.reasons) if code and i >= len(writes)}
                if not failed:  # no reason given: leave out both conditional entries
                    failed = set(range(len(optional)))
                dropped = [optional[i] for i in failed if i < len(optional)]
                if key is not None and any(entry is key for entry in dropped):
                    key = None
                    self.keyring.forget(subject_id)  # another call stored the subject's key first
                if marking is not None and any(entry is marking for entry in dropped):
                    marking = None
                continue
            return marking is not None
        raise RuntimeError("the subject's records could not be written")  # pragma: no cover

    def _identities(self, call: CallIn) -> list[CallerIdentity]:
        """The caller's identifiers as MACs, each marked with whether the platform authenticated it."""
        authenticated = call.caller.authenticated_kinds()
        return [
            CallerIdentity(kind, self.pseudonymizer.mac(kind, value), kind in authenticated)
            for kind, value in call.caller.identifiers()
        ]

    def _replay(self, existing: CallRecord, call: CallIn, now: datetime) -> CallAccepted:
        if self._fingerprint(existing.subject_id, call) != existing.fingerprint:
            raise CallConflictError("A different call was already stored under this call_id.")
        if existing.analysis == "queued" and not existing.enqueued:
            self._enqueue(call.call_id, now)
        # the same answer as the first time: the call item's status moves on (done, or skipped by
        # the analysis), but a call skipped at ingestion is the one that carries a skip reason
        answer: Literal["queued", "skipped"] = "skipped" if "analysis_skip_reason" in existing.extra else "queued"
        return CallAccepted(call_id=existing.call_id, subject_id=existing.subject_id, analysis=answer)

    def _enqueue(self, call_id: str, now: datetime) -> None:
        self.queue.enqueue(call_id)
        self.calls.mark_enqueued(call_id, now)

    @staticmethod
    def _provenance(call: CallIn, seen: list[str]) -> dict[str, Any]:
        """The unproven identifiers on the call (an erasure of the call takes them off) and how
        the platform authenticated the caller, if it did."""
        out: dict[str, Any] = {}
        if seen:
            out["seen_macs"] = {"SS": seen}
        if call.caller.verification is not None:
            out["authenticated_by"] = {"S": call.caller.verification.method}
        return out

    def _fingerprint(self, subject_id: str, call: CallIn) -> str:
        return self.keyring.fingerprint(subject_id, call.model_dump_json().encode())

    def _attributes(
        self,
        call: CallIn,
        subject_id: str,
        fingerprint: str,
        status: str,
        reason: str | None,
        pointer: dict[str, str] | None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "call_id": {"S": call.call_id},
            "subject_id": {"S": subject_id},
            "fingerprint": {"S": fingerprint},
            "started_at": {"S": call.started_at.astimezone(UTC).isoformat()},
            "channel": {"S": call.channel},
            "live": {"BOOL": call.live},
            "consent": {"M": {k: {"BOOL": v} for k, v in call.consent.model_dump().items()}},
            "segments": CallsRepository.segment_meta([s.model_dump(exclude={"text"}) for s in call.segments]),
            "analysis_status": {"S": status},
        }
        if call.ended_at is not None:
            item["ended_at"] = {"S": call.ended_at.astimezone(UTC).isoformat()}
        if call.language:
            item["language"] = {"S": call.language}
        if call.agent_id:
            item["agent_id"] = {"S": call.agent_id}
        region = caller_region(call.caller.phone)
        if region:  # the country of the caller's number: national numbers in the call are read there
            item["caller_region"] = {"S": region}
        if reason:
            item["analysis_skip_reason"] = {"S": reason}
        if pointer is not None:
            item["transcript"] = {"M": {k: {"S": v} for k, v in pointer.items()}}
        if call.metadata:
            sealed = self.keyring.seal(
                subject_id, json.dumps(call.metadata, sort_keys=True).encode(), aad=f"{call.call_id}#metadata"
            )
            item["sealed_metadata"] = {"B": sealed}
        return item
