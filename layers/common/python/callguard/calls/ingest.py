"""Ingestion of a call: pseudonymise, enforce consent, seal, store, enqueue.

Reads first, in one consistent ``BatchGetItem`` across the calls, subjects and keys tables (after
the identifiers' MACs): the call item (a replay?), the identifiers' links and rights, the likely
subject's profile and its wrapped data key.

Order of writes, chosen so that a failure at any step leaves nothing half-written
that a retry cannot finish:

1. the links of authenticated identifiers, then, in one transaction (all or nothing), the
   subject's profile (refreshed; only if no objection or restriction arrived since it was
   read — else nothing is written and the subject is read and decided again), the evidence
   of unauthenticated identifiers on this call, the consent record, a new subject's wrapped
   data key (only if it has none: a racing call's key wins and is used instead) and the
   transcript marker (the purge's handle on the object of step 2, written before it; once
   per call),
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
from typing import Literal, Protocol

from callguard.errors import CallConflictError
from callguard.models import CallAccepted, CallIn, caller_region
from callguard.policy.consent import CallConsent, ConsentDecision, SubjectState, decide
from callguard.security.crypto import SubjectKeyring
from callguard.security.identity import Pseudonymizer
from callguard.storage.calls import CallRecord, CallsRepository, ImportedOrigin, NewCall, SegmentMeta
from callguard.storage.dynamo import BatchRead, TransactionCanceledError, Write, write_together
from callguard.storage.subjects import CallerIdentity, Resolution, Sighting, SubjectsRepository
from callguard.storage.transcripts import TranscriptStore

__all__ = ["IngestService", "analysis_decision", "consent_decision"]


class AnalysisRequests(Protocol):
    """Where an accepted call is sent for analysis (``callguard.storage.queue.AnalysisQueue``, or a
    listed tenant's queue whose messages name it: ``callguard.wiring.TenantAnalysisQueue``)."""

    def enqueue(self, call_id: str) -> None: ...


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
    queue: AnalysisRequests
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: how often the subject is read and decided again when its profile changed under a call
    attempts: int = 3

    def ingest(self, call: CallIn, *, imported: ImportedOrigin | None = None) -> CallAccepted:
        """Store ``call``. ``imported``: where an imported call came from (the importer's record of
        the file's origin, kept on the call item)."""
        now = self.clock()
        identities = self._identities(call)
        batch = BatchRead(self.calls.dynamodb)
        existing = self.calls.prefetch(batch, call.call_id)
        sighting = self.subjects.prefetch(batch, identities)
        self.keyring.prefetch(batch, self.subjects.candidate(identities))
        batch.run()
        record = existing()
        if record is not None:
            return self._replay(record, call, now)
        seen = [i.mac for i in identities if not i.authenticated]
        return self._store(call, sighting(), seen, now, imported)

    def _store(
        self, call: CallIn, sighting: Sighting, seen: list[str], now: datetime, imported: ImportedOrigin | None
    ) -> CallAccepted:
        """Steps 1 to 4: decide for the subject as resolved, record, seal, store and enqueue the call."""
        for _ in range(self.attempts):
            resolution = self.subjects.resolve(sighting, now)
            profile = resolution.profile
            policy = consent_decision(call, objected=profile.objected, restricted=profile.restricted)
            keeps_transcript = bool(policy.store.allowed and call.segments)
            try:
                marked = self._record(call, resolution, seen, now, keeps_transcript)
            except _ProfileChangedError:  # an objection or restriction arrived: decide again
                sighting = self.subjects.sight(sighting.identities)
                continue
            return self._put(call, resolution, policy, seen, now, marked, imported)
        raise RuntimeError("the subject's records could not be written")  # pragma: no cover

    def _put(
        self,
        call: CallIn,
        resolution: Resolution,
        policy: ConsentDecision,
        seen: list[str],
        now: datetime,
        marked: bool,
        imported: ImportedOrigin | None,
    ) -> CallAccepted:
        subject_id = resolution.profile.subject_id
        status, reason = _queue_or_skip(call, policy)
        pointer: dict[str, str] | None = None
        try:
            if policy.store.allowed and call.segments:
                transcript = json.dumps(
                    [s.model_dump() for s in call.segments], ensure_ascii=False, separators=(",", ":")
                ).encode()
                pointer = self.transcripts.put(
                    subject_id, call.call_id, self.keyring.seal(subject_id, transcript, aad=call.call_id)
                )
            new = self._new_call(call, subject_id, status, reason, pointer, seen, imported)
            previous = self.calls.put_new(new, now)
        except Exception:
            if pointer is not None:  # nothing half-written
                self.transcripts.delete_version(pointer)
            if marked:
                self.calls.delete_transcript_marker(call.call_id)
            raise
        if previous is not None:  # lost a race against the same call id
            if pointer is not None and (previous.transcript or {}).get("version_id") != pointer.get("version_id"):
                self.transcripts.delete_version(pointer)
            return self._replay(previous, call, now)
        if status == "queued":
            self._enqueue(call.call_id, now)
        return CallAccepted(call_id=call.call_id, subject_id=subject_id, analysis=status)  # type: ignore[arg-type]

    def _record(self, call: CallIn, resolution: Resolution, seen: list[str], now: datetime, marker: bool) -> bool:
        """Step 1's transaction: the subject's profile, the unauthenticated identifiers' evidence, the
        consent record, a new subject's wrapped key and (when the transcript is kept) its marker.
        True when this attempt wrote the marker. A condition that fails cancels all of it; when the
        profile's failed, :class:`_ProfileChangedError`; otherwise the part that failed is left out (a
        marker an earlier attempt of the call wrote stays; a key a racing call stored first is the
        subject's key) and the rest is written again."""
        profile = resolution.profile
        subject_id = profile.subject_id
        writes: list[Write] = [resolution.profile_write]
        for mac in dict.fromkeys(seen):
            writes += self.subjects.seen_writes(mac, subject_id, call.call_id, now, whole=not profile.authenticated)
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
                if self.subjects.profile_changed(cancelled, 0):
                    if key is not None:
                        self.keyring.forget(subject_id)
                    raise _ProfileChangedError from None
                dropped = _failed(cancelled, len(writes), optional)
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
        answer: Literal["queued", "skipped"] = "skipped" if existing.analysis_skip_reason is not None else "queued"
        return CallAccepted(call_id=existing.call_id, subject_id=existing.subject_id, analysis=answer)

    def _enqueue(self, call_id: str, now: datetime) -> None:
        self.queue.enqueue(call_id)
        self.calls.mark_enqueued(call_id, now)

    def _fingerprint(self, subject_id: str, call: CallIn) -> str:
        return self.keyring.fingerprint(subject_id, call.model_dump_json().encode())

    def _new_call(
        self,
        call: CallIn,
        subject_id: str,
        status: str,
        reason: str | None,
        pointer: dict[str, str] | None,
        seen: list[str],
        imported: ImportedOrigin | None,
    ) -> NewCall:
        sealed = None
        if call.metadata:
            sealed = self.keyring.seal(
                subject_id, json.dumps(call.metadata, sort_keys=True).encode(), aad=f"{call.call_id}#metadata"
            )
        return NewCall(
            call_id=call.call_id,
            subject_id=subject_id,
            fingerprint=self._fingerprint(subject_id, call),
            started_at=call.started_at.astimezone(UTC).isoformat(),
            channel=call.channel,
            live=call.live,
            consent=call.consent.model_dump(),
            segments=tuple(SegmentMeta(s.speaker, s.start_ms, s.end_ms) for s in call.segments),
            analysis_status=status,
            ended_at=None if call.ended_at is None else call.ended_at.astimezone(UTC).isoformat(),
            language=call.language or None,
            agent_id=call.agent_id or None,
            # the country of the caller's number: national numbers in the call are read there
            caller_region=caller_region(call.caller.phone) or None,
            analysis_skip_reason=reason or None,
            transcript=pointer,
            sealed_metadata=sealed,
            # the unproven identifiers on the call (an erasure of the call takes them off) and how
            # the platform authenticated the caller, if it did
            seen_macs=tuple(seen),
            authenticated_by=None if call.caller.verification is None else call.caller.verification.method,
            imported=imported,
        )


class _ProfileChangedError(Exception):
    """The subject's profile changed between its read and step 1's transaction; nothing was written."""


def _failed(cancelled: TransactionCanceledError, fixed: int, optional: list[Write]) -> list[Write]:
    """The optional (conditional) entries that cancelled the transaction; all of them when it gave no reason."""
    failed = {i - fixed for i, code in enumerate(cancelled.reasons) if code and i >= fixed}
    if not failed:  # no reason given: leave out both conditional entries
        failed = set(range(len(optional)))
    return [optional[i] for i in sorted(failed) if i < len(optional)]
