"""Every store that can hold a subject's data: find it, export it, erase it, verify it is gone.

One deletion path for erasure requests and retention purges (:mod:`callguard.retention.purge`):
crypto-shredding first — the wrapped data key goes, so every sealed copy anywhere (backups,
old object versions) is unreadable at once — then every item and every object version,
in batches (``BatchWriteItem`` ≤ 25 with unprocessed-item retries, ``DeleteObjects`` ≤ 1,000).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from callguard.security.crypto import SubjectKeyring, SubjectKeyShreddedError
from callguard.storage.calls import CallPartition, CallRecord, CallsRepository
from callguard.storage.dynamo import UnprocessedItemsError
from callguard.storage.exports import ExportObjects
from callguard.storage.idempotency import IdempotencyRecords
from callguard.storage.scope import V1, TenantScope
from callguard.storage.subjects import SubjectsRepository
from callguard.storage.tombstones import read_tombstones
from callguard.storage.transcripts import TranscriptStore

__all__ = ["ErasureIncompleteError", "SubjectData", "SubjectScope", "SubjectStores"]

_S3_BATCH = 1000


class ErasureIncompleteError(RuntimeError):
    """Data of an erased subject is still found; the message names stores, never data."""


@dataclass(frozen=True)
class SubjectScope:
    """What a privacy request or a legal hold reaches, and why.

    ``subjects`` are whole histories: reached through an authenticated identifier (and the
    authenticated links between subjects), or unverified subjects whose every call carried
    the requested identifier. ``calls`` (call id → owning subject) are single calls of other
    histories on which the identifier appeared without being authenticated: they are
    reached, the rest of that history is not.
    """

    subjects: tuple[str, ...] = ()
    calls: dict[str, str] = field(default_factory=dict)
    identifiers: tuple[dict[str, Any], ...] = ()

    @classmethod
    def of_subjects(cls, subjects: Iterable[str]) -> SubjectScope:
        return cls(subjects=tuple(sorted(set(subjects))))

    @property
    def empty(self) -> bool:
        return not self.subjects and not self.calls

    def owner(self) -> str | None:
        """The subject under whose prefix the request's export is kept."""
        if self.subjects:
            return self.subjects[0]
        return min(self.calls.values()) if self.calls else None

    def summary(self) -> dict[str, Any]:
        """For the export and the erasure certificate: kinds and reasons, never a value."""
        return {
            "identifiers": list(self.identifiers),
            "histories": len(self.subjects),
            "single_calls": len(self.calls),
            "rule": (
                "Identifiers join one history only through an identifier the contact-center platform "
                "authenticated (PIN, app login, knowledge-based check by an agent, single sign-on). An identifier "
                "that was only shown or stated (caller ID, a typed or spoken e-mail) covers the calls it was on, "
                "never anyone else's calls."
            ),
        }


@dataclass
class SubjectStores:
    dynamodb: Any
    s3: Any
    calls_table: str
    subjects_table: str
    keys_table: str
    idempotency_table: str
    transcripts_bucket: str
    exports_bucket: str


@dataclass
class SubjectData:
    stores: SubjectStores
    calls: CallsRepository
    subjects: SubjectsRepository
    transcripts: TranscriptStore
    keyring: SubjectKeyring
    #: where the tenant's export objects are (the subjects' tenant: v1's keys by default)
    exports: ExportObjects = field(default_factory=ExportObjects)
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def idempotency(self) -> IdempotencyRecords:
        return IdempotencyRecords(
            dynamodb=self.stores.dynamodb, table=self.stores.idempotency_table, scope=self.calls.scope
        )

    # -- locating -----------------------------------------------------------------
    def closure(self, subject_id: str) -> list[str]:
        """The subject and every subject linked to it (two authenticated identifiers of two
        subjects once met on one call; unauthenticated identifiers never link subjects)."""
        seen, todo = set(), [subject_id]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(self.subjects.linked_subjects(current))
        return sorted(seen)

    def scope(self, identifiers: Iterable[tuple[str, str]]) -> SubjectScope:
        """What the identifiers ``(kind, mac)`` reach: whole histories through authenticated links,
        single calls through unauthenticated evidence (see :class:`SubjectScope`)."""
        whole: set[str] = set()
        calls: dict[str, str] = {}
        covered: list[dict[str, Any]] = []
        for kind, mac in identifiers:
            evidence = self.subjects.evidence(mac)
            entry: dict[str, Any] = {
                "kind": kind,
                "authenticated": evidence.linked_subject is not None,
                "unverified_histories": 0,
                "calls_seen_on": 0,
            }
            if evidence.linked_subject is not None:
                whole.add(evidence.linked_subject)
            for seen in evidence.seen:
                if seen.whole:
                    whole.add(seen.subject_id)
                    entry["unverified_histories"] += 1
                else:
                    calls.update(dict.fromkeys(seen.calls, seen.subject_id))
                    entry["calls_seen_on"] += len(seen.calls)
            entry["basis"] = (
                "authenticated by the platform: the whole history of this data subject"
                if entry["authenticated"]
                else "never authenticated: only the calls on which it appeared"
            )
            covered.append(entry)
        subjects: set[str] = set()
        for sid in sorted(whole):
            subjects.update(self.closure(sid))
        return SubjectScope(
            subjects=tuple(sorted(subjects)),
            calls={c: sid for c, sid in sorted(calls.items()) if sid not in subjects},
            identifiers=tuple(covered),
        )

    def _versions(self, bucket: str, prefix: str) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        paginator = self.stores.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
        return found

    def inventory(self, subject_ids: Iterable[str]) -> dict[str, int]:
        """How much of the subjects' data each store holds (counts only)."""
        counts = {
            "subject_keys": 0,
            "subjects": 0,
            "calls": 0,
            "idempotency": 0,
            "transcript_versions": 0,
            "export_versions": 0,
        }
        for sid in subject_ids:
            counts["subject_keys"] += 1 if self.keyring.has_key(sid) else 0
            counts["subjects"] += self.subjects.count_records(sid)
            counts["calls"] += sum(len(self.calls.partition(p).keys) for p in self.calls.partitions_of(sid))
            counts["idempotency"] += len(self.idempotency.of_subject(sid))
            counts["transcript_versions"] += len(
                self._versions(self.stores.transcripts_bucket, self.transcripts.prefix_for(sid))
            )
            counts["export_versions"] += len(self._versions(self.stores.exports_bucket, self.exports.of_subject(sid)))
        return counts

    def call_inventory(self, calls: dict[str, str]) -> dict[str, int]:
        """How much of single calls (reached as evidence) each store still holds (counts only)."""
        counts = {"calls": 0, "subjects": 0, "transcript_versions": 0}
        for call_id, sid in calls.items():
            counts["calls"] += len(self.calls.partition(self.calls.partition_of(call_id)).keys)
            counts["subjects"] += len(self._consent_keys(sid, {call_id}))
            key = self.transcripts.key_for(sid, call_id)
            counts["transcript_versions"] += len(self.object_versions(self.stores.transcripts_bucket, key))
        return counts

    def _consent_keys(self, subject_id: str, call_ids: set[str]) -> list[Any]:
        return [e.key for e in self.subjects.consent_history(subject_id) if e.call_id in call_ids]

    def erase_calls(self, calls: dict[str, str]) -> dict[str, int]:
        """Erase single calls of other histories (reached as evidence): their items, transcript
        versions, consent entries and the identifier evidence — the owner's key stays, as the
        owner's other calls are not the requester's."""
        for call_id, sid in calls.items():
            partition = self.calls.partition(self.calls.partition_of(call_id))
            for mac in partition.call.seen_macs if partition.call else ():
                self.subjects.forget_seen_call(mac, sid, call_id)
            self._count("subjects", self.deleting(self.subjects.delete, self._consent_keys(sid, {call_id})))
            self._count("calls", self.deleting(self.calls.delete, list(partition.keys)))
            versions = self.object_versions(self.stores.transcripts_bucket, self.transcripts.key_for(sid, call_id))
            self._count("transcript_versions", self.delete_versions(self.stores.transcripts_bucket, versions))
        return dict(self.removed)

    # -- export (access, portability) ---------------------------------------------------
    #: the sections of an export, in the order an export document lists them
    SECTIONS = ("calls", "routing_decisions", "followups", "consent_history")

    def export(self, scope: str | SubjectScope) -> dict[str, Any]:
        """Everything in the scope (a subject id: it and its linked subjects) in one document; the
        workflow pages through :meth:`export_page` instead, so no invocation holds a large subject."""
        out: dict[str, list[Any]] = {section: [] for section in self.SECTIONS}
        page, more = 0, True
        while more:
            part, more = self.export_page(scope, page, size=100)
            for section in self.SECTIONS:
                out[section].extend(part[section])
            page += 1
        return out

    def export_page(self, scope: str | SubjectScope, page: int, size: int) -> tuple[dict[str, list[Any]], bool]:
        """Page ``page`` (from 0) of the export, ``size`` call partitions per page: the calls,
        decisions and follow-ups of those partitions, and on page 0 the consent history.
        Returns the part and whether another page follows."""
        if not isinstance(scope, SubjectScope):
            scope = SubjectScope.of_subjects(self.closure(scope))
        partitions = sorted(
            [(p, sid) for sid in scope.subjects for p in self.calls.partitions_of(sid)]
            + [(self.calls.partition_of(call_id), sid) for call_id, sid in scope.calls.items()]
        )
        part: dict[str, list[Any]] = {section: [] for section in self.SECTIONS}
        if page == 0:
            part["consent_history"] = self._consent_export(scope)
        for name, sid in partitions[page * size : (page + 1) * size]:
            self._export_partition(sid, self.calls.partition(name), part)
        return part, (page + 1) * size < len(partitions)

    def _consent_export(self, scope: SubjectScope) -> list[dict[str, Any]]:
        """The consent history of the scope's subjects, and of single calls' owners the entries of those calls."""
        evidence: dict[str, set[str]] = {}
        for call_id, sid in scope.calls.items():
            evidence.setdefault(sid, set()).add(call_id)
        return [
            {"recorded_at": e.recorded_at, "source": e.source, "call_id": e.call_id, "consent": dict(e.consent)}
            for sid in [*scope.subjects, *sorted(evidence)]
            for e in self.subjects.consent_history(sid)
            if sid in scope.subjects or e.call_id in evidence[sid]
        ]

    def _export_partition(self, subject_id: str, partition: CallPartition, part: dict[str, list[Any]]) -> None:
        if partition.decision is not None:
            part["routing_decisions"].append({"decided_at": partition.decision.decided_at, **partition.decision.body})
        if partition.call is not None:
            part["calls"].append(self._call_export(subject_id, partition.call, partition.analysis))
        elif partition.analysis is not None:  # the call record's retention ended first: what is left is exported
            part["calls"].append(
                {
                    "call_id": partition.call_id,
                    "call_record": "deleted at the end of its retention period",
                    "analysis": partition.analysis,
                }
            )
        if partition.followup is not None:
            f = partition.followup
            part["followups"].append({"call_id": f.call_id, "due_at": f.due_at, "reason": f.reason, "status": f.status})

    def _call_export(self, subject_id: str, call: CallRecord, analysis: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call_id": call.call_id,
            "started_at": call.started_at,
            "ended_at": call.ended_at,
            "channel": call.channel,
            "language": call.language,
            "agent_id": call.agent_id,
            "consent": dict(call.consent),
            "transcript": None,
            "metadata": None,
        }
        try:
            if call.transcript is not None:
                sealed = self.transcripts.get(dict(call.transcript))
                out["transcript"] = json.loads(self.keyring.open(subject_id, sealed, aad=call.call_id))
            if call.sealed_metadata is not None:
                raw = self.keyring.open(subject_id, call.sealed_metadata, aad=f"{call.call_id}#metadata")
                out["metadata"] = json.loads(raw)
        except SubjectKeyShreddedError:
            out["transcript"] = "erased"
        if analysis is not None:
            out["analysis"] = analysis
        return out

    # -- erasure -------------------------------------------------------------------------
    def shred_keys(self, subject_ids: Iterable[str]) -> int:
        shredded = sum(1 for sid in subject_ids if self.keyring.shred(sid))
        self.keyring.clear()
        self.removed["subject_keys"] = self.removed.get("subject_keys", 0) + shredded
        return shredded

    def erase_subject_record(self, subject_id: str, *, keep_profile: bool = False) -> int:
        """Delete the subject's own record (see :meth:`SubjectsRepository.record_keys`)."""
        return self.deleting(self.subjects.delete, self.subjects.record_keys(subject_id, keep_profile=keep_profile))

    def delete_all(self, subject_ids: Iterable[str]) -> dict[str, int]:
        for sid in subject_ids:
            self._count("subjects", self.erase_subject_record(sid))
            call_keys = [key for p in self.calls.partitions_of(sid) for key in self.calls.partition(p).keys]
            self._count("calls", self.deleting(self.calls.delete, call_keys))
            self._count("idempotency", self.deleting(self.idempotency.delete, self.idempotency.of_subject(sid)))
            self._count(
                "transcript_versions",
                self._delete_versions(self.stores.transcripts_bucket, self.transcripts.prefix_for(sid)),
            )
            self._count(
                "export_versions", self._delete_versions(self.stores.exports_bucket, self.exports.of_subject(sid))
            )
        return dict(self.removed)

    def _count(self, store: str, n: int) -> None:
        self.removed[store] = self.removed.get(store, 0) + n

    @staticmethod
    def deleting(delete: Callable[[list[Any]], int], keys: list[Any]) -> int:
        """A store's batched delete; items left unprocessed after every retry fail the erasure."""
        try:
            return int(delete(keys))
        except UnprocessedItemsError as exc:
            raise ErasureIncompleteError(str(exc)) from None

    def _delete_versions(self, bucket: str, prefix: str) -> int:
        return self.delete_versions(bucket, self._versions(bucket, prefix))

    def object_versions(self, bucket: str, key: str) -> list[dict[str, str]]:
        """Every version and delete marker of exactly ``key``."""
        return [v for v in self._versions(bucket, key) if v["Key"] == key]

    def delete_versions(self, bucket: str, versions: list[dict[str, str]]) -> int:
        """Delete object versions in batches of 1,000; a per-object error fails the batch."""
        for start in range(0, len(versions), _S3_BATCH):
            response = self.stores.s3.delete_objects(
                Bucket=bucket, Delete={"Objects": versions[start : start + _S3_BATCH], "Quiet": True}
            )
            if response.get("Errors"):
                codes = sorted({e.get("Code", "unknown") for e in response["Errors"]})
                raise ErasureIncompleteError(f"{len(response['Errors'])} object versions not deleted: {codes}")
        return len(versions)

    # -- after a restore ------------------------------------------------------------------------
    @staticmethod
    def tombstones(dynamodb: Any, privacy_table: str, scope: TenantScope = V1) -> tuple[list[str], dict[str, str]]:
        """The erased subjects and single calls ``scope``'s tombstones in the privacy table name."""
        return read_tombstones(dynamodb, privacy_table, scope)

    def reapply_erasures(self, subjects: list[str], calls: dict[str, str]) -> dict[str, int]:
        """Erase again, in the stores this instance points at (a table restored from a backup),
        what the tombstones name; then verify. Returns what was removed (counts only)."""
        self.shred_keys(subjects)
        self.delete_all(subjects)
        self.erase_calls(calls)
        self.verify_gone(subjects, calls)
        return dict(self.removed)

    def verify_gone(self, subject_ids: Iterable[str], calls: dict[str, str] | None = None) -> dict[str, int]:
        remaining = self.inventory(subject_ids)
        for store, n in self.call_inventory(calls or {}).items():
            remaining[store] += n
        left = {store: n for store, n in remaining.items() if n}
        if left:
            raise ErasureIncompleteError("data remains after erasure in: " + ", ".join(sorted(left)))
        return remaining
