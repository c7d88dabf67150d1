"""Every store that can hold a subject's data: find it, export it, erase it, verify it is gone.

One deletion path for erasure requests and retention purges (:mod:`callguard.retention.purge`):
crypto-shredding first — the wrapped data key goes, so every sealed copy anywhere (backups,
old object versions) is unreadable at once — then every item and every object version,
in batches (``BatchWriteItem`` ≤ 25 with unprocessed-item retries, ``DeleteObjects`` ≤ 1,000).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from callguard.security.crypto import SubjectKeyring, SubjectKeyShreddedError
from callguard.storage.repository import (
    CallsRepository,
    SubjectsRepository,
    TranscriptStore,
    all_items,
    partition_items,
)

__all__ = ["ErasureIncompleteError", "SubjectData", "SubjectScope", "SubjectStores"]

_BATCH = 25
_S3_BATCH = 1000
_MAX_ATTEMPTS = 8


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
    removed: dict[str, int] = field(default_factory=dict)

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
            for item in self.subjects.subject_items(current):
                if item["sk"]["S"].startswith("LINKED#"):
                    todo.append(item["sk"]["S"].removeprefix("LINKED#"))
        return sorted(seen)

    def scope(self, identifiers: Iterable[tuple[str, str]]) -> SubjectScope:
        """What the identifiers ``(kind, mac)`` reach: whole histories through authenticated links,
        single calls through unauthenticated evidence (see :class:`SubjectScope`)."""
        whole: set[str] = set()
        calls: dict[str, str] = {}
        covered: list[dict[str, Any]] = []
        for kind, mac in identifiers:
            entry: dict[str, Any] = {
                "kind": kind,
                "authenticated": False,
                "unverified_histories": 0,
                "calls_seen_on": 0,
            }
            for item in self.subjects.identifier_items(mac):
                sk = item["sk"]["S"]
                if sk == "LINK":
                    whole.add(item["subject_id"]["S"])
                    entry["authenticated"] = True
                elif sk.startswith("SEEN#"):
                    sid = sk.removeprefix("SEEN#")
                    seen_on = item.get("calls", {}).get("SS", [])
                    if item.get("whole", {}).get("BOOL"):
                        whole.add(sid)
                        entry["unverified_histories"] += 1
                    else:
                        calls.update(dict.fromkeys(seen_on, sid))
                        entry["calls_seen_on"] += len(seen_on)
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

    def _call_pks(self, subject_id: str) -> list[str]:
        return sorted({pk for pk, _ in self.calls.subject_items(subject_id)})

    def _items_under(self, table: str, pk: str) -> list[dict[str, Any]]:
        return partition_items(self.stores.dynamodb, table, pk)

    def _versions(self, bucket: str, prefix: str) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        paginator = self.stores.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                found.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
        return found

    def _idempotency_records(self, subject_id: str) -> list[dict[str, Any]]:
        # Records live for the idempotency TTL (an hour) and hold the response, whose subject id
        # identifies them: a filtered scan of a table that small is the honest way to find them.
        return all_items(
            self.stores.dynamodb,
            "scan",
            TableName=self.stores.idempotency_table,
            FilterExpression="contains(#d, :sid)",
            ExpressionAttributeNames={"#d": "data"},
            ExpressionAttributeValues={":sid": {"S": subject_id}},
        )

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
            key = self.stores.dynamodb.get_item(
                TableName=self.stores.keys_table, Key={"subject_id": {"S": sid}}, ConsistentRead=True
            )
            counts["subject_keys"] += 1 if "Item" in key else 0
            items = self.subjects.subject_items(sid)
            counts["subjects"] += len(items)
            for forward_key in self._forward_keys(sid, items):  # IDENT#<mac>/LINK and /SEEN#<subject>
                forward = self.stores.dynamodb.get_item(
                    TableName=self.stores.subjects_table, Key=forward_key, ConsistentRead=True
                )
                counts["subjects"] += 1 if "Item" in forward else 0
            counts["calls"] += sum(len(self._items_under(self.stores.calls_table, pk)) for pk in self._call_pks(sid))
            counts["idempotency"] += len(self._idempotency_records(sid))
            counts["transcript_versions"] += len(self._versions(self.stores.transcripts_bucket, f"transcripts/{sid}/"))
            counts["export_versions"] += len(self._versions(self.stores.exports_bucket, f"exports/{sid}/"))
        return counts

    @staticmethod
    def _forward_keys(subject_id: str, subject_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The identifier-side items the subject's reverse entries point to."""
        keys = []
        for item in subject_items:
            sk = item["sk"]["S"]
            if sk.startswith("IDENT#"):
                keys.append({"pk": {"S": sk}, "sk": {"S": "LINK"}})
            elif sk.startswith("SEEN#"):
                keys.append({"pk": {"S": "IDENT#" + sk.removeprefix("SEEN#")}, "sk": {"S": f"SEEN#{subject_id}"}})
        return keys

    def call_inventory(self, calls: dict[str, str]) -> dict[str, int]:
        """How much of single calls (reached as evidence) each store still holds (counts only)."""
        counts = {"calls": 0, "subjects": 0, "transcript_versions": 0}
        for call_id, sid in calls.items():
            counts["calls"] += len(self._items_under(self.stores.calls_table, f"CALL#{call_id}"))
            counts["subjects"] += len(self._consent_keys(sid, {call_id}))
            key = self.transcripts.key_for(sid, call_id)
            counts["transcript_versions"] += len(self.object_versions(self.stores.transcripts_bucket, key))
        return counts

    def _consent_keys(self, subject_id: str, call_ids: set[str]) -> list[dict[str, Any]]:
        return [
            {"pk": i["pk"], "sk": i["sk"]}
            for i in self.subjects.subject_items(subject_id)
            if i["sk"]["S"].startswith("CONSENT#") and i.get("call_id", {}).get("S") in call_ids
        ]

    def erase_calls(self, calls: dict[str, str]) -> dict[str, int]:
        """Erase single calls of other histories (reached as evidence): their items, transcript
        versions, consent entries and the identifier evidence — the owner's key stays, as the
        owner's other calls are not the requester's."""
        for call_id, sid in calls.items():
            items = self._items_under(self.stores.calls_table, f"CALL#{call_id}")
            call = next((i for i in items if i["sk"]["S"] == "CALL"), None)
            for mac in (call or {}).get("seen_macs", {}).get("SS", []):
                self.subjects.forget_seen_call(mac, sid, call_id)
            self._count("subjects", self.delete_items(self.stores.subjects_table, self._consent_keys(sid, {call_id})))
            self._count(
                "calls", self.delete_items(self.stores.calls_table, [{"pk": i["pk"], "sk": i["sk"]} for i in items])
            )
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
        subjects = list(scope.subjects)
        partitions = sorted(
            [(pk, sid) for sid in subjects for pk in self._call_pks(sid)]
            + [(f"CALL#{call_id}", sid) for call_id, sid in scope.calls.items()]
        )
        chosen = partitions[page * size : (page + 1) * size]
        part: dict[str, list[Any]] = {section: [] for section in self.SECTIONS}
        if page == 0:
            evidence: dict[str, set[str]] = {}
            for call_id, sid in scope.calls.items():
                evidence.setdefault(sid, set()).add(call_id)
            part["consent_history"] = [
                {
                    "recorded_at": item["recorded_at"]["S"],
                    "source": item["source"]["S"],
                    "call_id": item.get("call_id", {}).get("S"),
                    "consent": {k: v["BOOL"] for k, v in item["consent"]["M"].items()},
                }
                for sid in [*subjects, *sorted(evidence)]
                for item in self.subjects.subject_items(sid)
                if item["sk"]["S"].startswith("CONSENT#")
                and (sid in scope.subjects or item.get("call_id", {}).get("S") in evidence[sid])
            ]
        for pk, sid in chosen:
            items = {i["sk"]["S"]: i for i in self._items_under(self.stores.calls_table, pk)}
            if "DECISION" in items:
                decision = json.loads(items["DECISION"]["decision"]["S"])
                part["routing_decisions"].append({"decided_at": items["DECISION"]["created_at"]["S"], **decision})
            if "CALL" in items:
                part["calls"].append(self._call_export(sid, items))
            elif "ANALYSIS" in items:  # the call record's retention ended first: what is left is exported
                part["calls"].append(
                    {
                        "call_id": pk.removeprefix("CALL#"),
                        "call_record": "deleted at the end of its retention period",
                        "analysis": json.loads(items["ANALYSIS"]["analysis"]["S"]),
                    }
                )
            if "FOLLOWUP" in items:
                f = items["FOLLOWUP"]
                part["followups"].append(
                    {
                        "call_id": f["call_id"]["S"],
                        "due_at": f["due_at"]["S"],
                        "reason": f["reason"]["S"],
                        "status": f["followup_status"]["S"],
                    }
                )
        return part, (page + 1) * size < len(partitions)

    def _call_export(self, subject_id: str, items: dict[str, dict[str, Any]]) -> dict[str, Any]:
        call = items["CALL"]
        call_id = call["call_id"]["S"]
        out: dict[str, Any] = {
            "call_id": call_id,
            "started_at": call["started_at"]["S"],
            "ended_at": call.get("ended_at", {}).get("S"),
            "channel": call["channel"]["S"],
            "language": call.get("language", {}).get("S"),
            "agent_id": call.get("agent_id", {}).get("S"),
            "consent": {k: v["BOOL"] for k, v in call["consent"]["M"].items()},
            "transcript": None,
            "metadata": None,
        }
        try:
            if "transcript" in call:
                pointer = {k: v["S"] for k, v in call["transcript"]["M"].items()}
                out["transcript"] = json.loads(
                    self.keyring.open(subject_id, self.transcripts.get(pointer), aad=call_id)
                )
            if "sealed_metadata" in call:
                raw = self.keyring.open(subject_id, bytes(call["sealed_metadata"]["B"]), aad=f"{call_id}#metadata")
                out["metadata"] = json.loads(raw)
        except SubjectKeyShreddedError:
            out["transcript"] = "erased"
        if "ANALYSIS" in items:
            out["analysis"] = json.loads(items["ANALYSIS"]["analysis"]["S"])
        return out

    # -- erasure -------------------------------------------------------------------------
    def shred_keys(self, subject_ids: Iterable[str]) -> int:
        shredded = 0
        for sid in subject_ids:
            response = self.stores.dynamodb.delete_item(
                TableName=self.stores.keys_table, Key={"subject_id": {"S": sid}}, ReturnValues="ALL_OLD"
            )
            shredded += 1 if "Attributes" in response else 0
        self.keyring.clear()
        self.removed["subject_keys"] = self.removed.get("subject_keys", 0) + shredded
        return shredded

    def subject_record_keys(self, subject_id: str, *, keep_profile: bool = False) -> list[dict[str, Any]]:
        """Keys of the subject's own record: profile, consent history, subject links, and the
        identifier links and identifier evidence in both directions."""
        subject_items = self.subjects.subject_items(subject_id)
        keys = [
            {"pk": i["pk"], "sk": i["sk"]} for i in subject_items if not (keep_profile and i["sk"]["S"] == "PROFILE")
        ]
        return keys + self._forward_keys(subject_id, subject_items)

    def delete_all(self, subject_ids: Iterable[str]) -> dict[str, int]:
        for sid in subject_ids:
            keys = self.subject_record_keys(sid)
            self._count("subjects", self.delete_items(self.stores.subjects_table, keys))
            call_keys = [
                {"pk": i["pk"], "sk": i["sk"]}
                for pk in self._call_pks(sid)
                for i in self._items_under(self.stores.calls_table, pk)
            ]
            self._count("calls", self.delete_items(self.stores.calls_table, call_keys))
            idem = [{"id": i["id"]} for i in self._idempotency_records(sid)]
            self._count("idempotency", self.delete_items(self.stores.idempotency_table, idem))
            self._count(
                "transcript_versions", self._delete_versions(self.stores.transcripts_bucket, f"transcripts/{sid}/")
            )
            self._count("export_versions", self._delete_versions(self.stores.exports_bucket, f"exports/{sid}/"))
        return dict(self.removed)

    def _count(self, store: str, n: int) -> None:
        self.removed[store] = self.removed.get(store, 0) + n

    def delete_items(self, table: str, keys: list[dict[str, Any]]) -> int:
        """Delete items by key in batches of 25, retrying unprocessed items (with backoff)."""
        for start in range(0, len(keys), _BATCH):
            request: dict[str, Any] = {table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + _BATCH]]}
            for attempt in range(_MAX_ATTEMPTS):
                request = self.stores.dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))  # throttled: back off before the retry
            else:
                raise ErasureIncompleteError(f"{table}: items stayed unprocessed after {_MAX_ATTEMPTS} attempts")
        return len(keys)

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
    def tombstones(dynamodb: Any, privacy_table: str) -> tuple[list[str], dict[str, str]]:
        """The erased subjects and single calls the privacy table's tombstones name."""
        items = all_items(
            dynamodb,
            "scan",
            TableName=privacy_table,
            FilterExpression="begins_with(pk, :t)",
            ExpressionAttributeValues={":t": {"S": "TOMBSTONE#"}},
        )
        subjects, calls = [], {}
        for item in items:
            key = item["pk"]["S"].removeprefix("TOMBSTONE#")
            if key.startswith("call:"):
                calls[key.removeprefix("call:")] = item["subject_id"]["S"]
            else:
                subjects.append(key)
        return sorted(subjects), calls

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
