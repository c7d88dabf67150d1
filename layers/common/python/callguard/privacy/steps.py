"""The steps of the privacy workflow; each ``functions/privacy_steps/<verb_noun>.py`` calls one.

Every step takes the request id (and the task token where the workflow waits) and
returns only small, non-personal values; data moves through S3 and DynamoDB, never
through the execution history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from callguard.errors import NotFoundError
from callguard.models import Caller, RequestStatus
from callguard.privacy.export_writer import S3JsonWriter
from callguard.privacy.subject_data import SubjectData, SubjectScope
from callguard.privacy.workflow import PrivacyService
from callguard.retention.policy import RetentionPolicy
from callguard.security.audit import AuditLog
from callguard.storage.exports import ExportMarker, ExportMarkers
from callguard.storage.holds import LegalHolds
from callguard.storage.requests import PrivacyRequest, PrivacyRequests
from callguard.storage.subjects import IdentifierTakenError, SubjectsRepository
from callguard.storage.tombstones import Tombstones

__all__ = ["ApprovalRecordedError", "PrivacySteps", "VerificationRecordedError", "art15_information"]


class VerificationRecordedError(Exception):
    """Raised by the verification wait when the verification was recorded before it: the workflow
    catches it by name and goes straight on (a task token nobody would ever send is never stored)."""


class ApprovalRecordedError(Exception):
    """Raised by the approval wait when the approval was given before it (or is not required)."""


STORES_CHECKED = (
    "subject_keys",
    "subjects",
    "calls",
    "idempotency",
    "transcript_versions",
    "export_versions",
)


def art15_information(retention: RetentionPolicy) -> dict[str, Any]:
    """The information Art. 15(1) GDPR owes the data subject besides the data itself."""
    return {
        "controller_purposes": {str(k): v.purpose for k, v in retention.rules.items()},
        "legal_bases": {str(k): v.legal_basis for k, v in retention.rules.items()},
        "categories_of_data": [
            "identifiers (phone, e-mail, customer id) — stored only as keyed pseudonyms",
            "call metadata and consent history",
            "call transcripts (only with recording consent, encrypted per data subject)",
            "redacted call analyses, routing decisions, follow-ups",
        ],
        "recipients": [
            "the contact center's agents (redacted views only)",
            "Amazon Web Services EMEA SARL as processor (hosting in the EU region)",
            "Amazon Comprehend as processor for language, sentiment, key phrases and entity detection "
            "(only with AI consent; only text already redacted by callguard)",
        ],
        "retention_days": {str(k): v.days for k, v in retention.rules.items()},
        "source": "the contact-center platform that handled your calls",
        "automated_decision_making": (
            "Routing picks a queue from the language and the topic of what you said, raises the priority for "
            "negative sentiment, repeated calls or open follow-ups (only with your AI consent), and hands standard "
            "requests to an AI assistant. If you opted out of AI, a person always handles your call. Every "
            "decision lists the factors that led to it."
        ),
        "rights": ["access", "rectification", "erasure", "restriction", "portability", "objection", "complaint"],
    }


@dataclass
class PrivacySteps:
    requests: PrivacyRequests
    holds: LegalHolds
    exports: ExportMarkers
    tombstones: Tombstones
    subjects: SubjectsRepository
    service: PrivacyService
    data: SubjectData
    s3: Any
    exports_bucket: str
    data_key_id: str
    retention: RetentionPolicy
    #: call partitions per export page (one invocation of collect_subject_data)
    export_page_calls: int = 25
    #: the hash-chained audit log: every request's outcome is recorded there (no content)
    audit: AuditLog | None = None
    #: the key exports are encrypted with (its own key, so the data key's users cannot read them);
    #: ``None``: the data key
    exports_key_id: str | None = None
    #: releasing an export and executing an erasure need a second person's approval
    four_eyes: bool = True
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _request(self, request_id: str) -> PrivacyRequest:
        request = self.requests.get(request_id)
        if request is None:
            raise NotFoundError("No privacy request with this id.")
        return request

    def _scope(self, request: PrivacyRequest) -> SubjectScope:
        """What the request's identifiers reach now (see :meth:`SubjectData.scope`)."""
        return self.data.scope(request.identifiers)

    @staticmethod
    def _erasure(request: PrivacyRequest) -> dict[str, Any]:
        """The erasure's progress as the earlier steps recorded it (empty before ``shred_subject_key``)."""
        return dict(request.erasure or {})

    def scope_of(self, request_id: str) -> SubjectScope:
        return self._scope(self._request(request_id))

    def _wait(self, request_id: str, status: RequestStatus, token_name: str, token: str, given: str) -> bool:
        """Store the task token and wait — unless ``given`` was recorded first (then: False)."""
        now = self.clock()
        if self.requests.wait(request_id, status, token_name, token, given, now):
            return True
        self.requests.transition(request_id, RequestStatus.IN_PROGRESS, now)
        return False

    def await_verification(self, request_id: str, task_token: str) -> dict[str, Any]:
        """Wait for ``POST …/verify``; a verification recorded earlier is honoured at once."""
        if not self._wait(request_id, RequestStatus.AWAITING_VERIFICATION, "task_token", task_token, "verification"):
            raise VerificationRecordedError("the identity was verified before the workflow reached its wait")
        return {"request_id": request_id}

    def await_approval(self, request_id: str, task_token: str) -> dict[str, Any]:
        """Four-eyes: wait for a second person's ``POST …/approve`` before the export is released or
        the erasure executed; an approval given earlier is honoured at once."""
        if not self.four_eyes:
            self.requests.approve_without_second_person(request_id, self.clock())
            raise ApprovalRecordedError("four-eyes approval is switched off in this deployment")
        if not self._wait(request_id, RequestStatus.AWAITING_APPROVAL, "approval_token", task_token, "approval"):
            raise ApprovalRecordedError("the approval was given before the workflow reached its wait")
        return {"request_id": request_id}

    def route_request(self, request_id: str) -> dict[str, Any]:
        return {"request_id": request_id, "type": self._request(request_id).type}

    def _export_keys(self, scope: SubjectScope, request_id: str) -> tuple[str, str]:
        """The export's key and the prefix of its parts; under the subject's prefix (in the tenant's
        objects), so an erasure of the subject removes them too."""
        owner = scope.owner() or "unknown"
        return self.data.exports.document(owner, request_id), self.data.exports.parts(owner, request_id)

    def collect_subject_data(self, request_id: str, page: int = 0) -> dict[str, Any]:
        """One page of the export (``export_page_calls`` call partitions) into a part object.

        The workflow loops while ``next_page`` is set, so a large subject never has to fit
        into one invocation; only the page number passes between states, never data.
        """
        item = self._request(request_id)
        scope = self._scope(item)
        key, parts = self._export_keys(scope, request_id)
        if page == 0:
            # the marker comes first: no export object exists that the retention purge cannot find
            self.exports.put(ExportMarker(request_id, self.exports_bucket, key, scope.owner()), self.clock())
        if not scope.empty:
            part, more = self.data.export_page(scope, page, self.export_page_calls)
        else:
            part, more = {section: [] for section in SubjectData.SECTIONS}, False
        if page == 0:
            keys = [*scope.subjects, *(f"mac:{m}" for m in item.subject_macs)]
            ids = {r for key in keys for r in self.requests.subject_requests(key)} | {request_id}
            summaries = [asdict(self.requests.summary(r)) for r in ids]
            part["privacy_requests"] = sorted(summaries, key=lambda r: (r["received_at"] or "", r["request_id"]))
            part["scope"] = [scope.summary()]
        self.s3.put_object(
            Bucket=self.exports_bucket,
            Key=f"{parts}{page:05d}.json",
            Body=json.dumps(part, ensure_ascii=False, separators=(",", ":")).encode(),
            ContentType="application/json",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.exports_key_id or self.data_key_id,
        )
        return {"request_id": request_id, "next_page": page + 1 if more else None}

    def assemble_export(self, request_id: str) -> dict[str, Any]:
        """Stream the parts into one machine-readable JSON document (Art. 20), then remove them."""
        item = self._request(request_id)
        key, parts = self._export_keys(self._scope(item), request_id)
        part_keys = sorted(
            o["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.exports_bucket, Prefix=parts)
            for o in page.get("Contents", [])
        )
        if not part_keys:
            raise RuntimeError("no export parts were collected for this request")
        first = json.loads(self.s3.get_object(Bucket=self.exports_bucket, Key=part_keys[0])["Body"].read())
        calls = 0
        with S3JsonWriter(self.s3, self.exports_bucket, key, self.exports_key_id or self.data_key_id) as out:
            head = {
                "request_id": request_id,
                "generated_at": self.clock().isoformat(),
                "format": "callguard-export/1 (JSON, machine-readable, Art. 20)",
                "scope": (first.get("scope") or [{}])[0],
                "information": art15_information(self.retention),
            }
            out.write(json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"data":{')
            for index, section in enumerate((*SubjectData.SECTIONS, "privacy_requests")):
                out.write(("," if index else "") + json.dumps(section) + ":[")
                first = True
                for part_key in part_keys:  # one section at a time: one part in memory at a time
                    body = self.s3.get_object(Bucket=self.exports_bucket, Key=part_key)["Body"].read()
                    for entry in json.loads(body).get(section, []):
                        out.write("" if first else ",")
                        out.value(entry)
                        first = False
                        calls += section == "calls"
                out.write("]")
            out.write("}}")
        self.data.delete_versions(
            self.exports_bucket, [v for k in part_keys for v in self.data.object_versions(self.exports_bucket, k)]
        )
        result = {"export": {"bucket": self.exports_bucket, "key": key}, "calls": calls, "bytes": out.bytes_written}
        self.requests.record(request_id, RequestStatus.IN_PROGRESS, self.clock(), result=result)
        return {"request_id": request_id}

    def held_scope(self) -> tuple[set[str], set[str]]:
        """Subjects and single calls every standing legal hold reaches now (holds are stored by
        identifier, so a hold placed before a subject's first call reaches it from that call on)."""
        subjects: set[str] = set()
        calls: set[str] = set()
        for hold in self.holds.standing():
            scope = self.data.scope(hold.identifiers)
            subjects.update(scope.subjects)
            calls.update(scope.calls)
        return subjects, calls

    def check_legal_hold(self, request_id: str) -> dict[str, Any]:
        scope = self._scope(self._request(request_id))
        held_subjects, held_calls = self.held_scope()
        held = bool(
            held_subjects & set(scope.subjects)
            or held_calls & set(scope.calls)
            or set(scope.calls.values()) & held_subjects  # a single call of a held history
        )
        return {"request_id": request_id, "held": held}

    def shred_subject_key(self, request_id: str) -> dict[str, Any]:
        """Fix the erasure's scope (the later steps erase exactly it), then shred the keys of the
        whole histories in it; single calls of other histories keep their owner's key."""
        item = self._request(request_id)
        scope = self._scope(item)
        started = self.clock().isoformat()
        self._record(request_id, "executing")  # on record before anything irreversible happens
        before = self.data.inventory(scope.subjects)
        for store, n in self.data.call_inventory(scope.calls).items():
            before[store] += n
        shredded = self.data.shred_keys(scope.subjects)
        progress = {
            "started_at": started,
            "found": before,
            "removed": {"subject_keys": shredded},
            "subjects": list(scope.subjects),
            "calls": scope.calls,
            "scope": scope.summary(),
        }
        self.requests.record(request_id, RequestStatus.IN_PROGRESS, self.clock(), erasure=progress)
        return {"request_id": request_id}

    def delete_subject_data(self, request_id: str) -> dict[str, Any]:
        item = self._request(request_id)
        progress = self._erasure(item)
        subjects, calls = progress["subjects"], progress["calls"]
        self.data.delete_all(subjects)
        removed = self.data.erase_calls(calls)  # the counts of both
        progress["removed"] = {**progress["removed"], **{k: v for k, v in removed.items() if k != "subject_keys"}}
        # tombstones without personal data: a restored backup can be re-erased (docs/runbooks)
        for subject_id in subjects:
            self.tombstones.put_subject(subject_id, request_id, self.clock())
        for call_id, owner in calls.items():
            self.tombstones.put_call(call_id, owner, request_id, self.clock())
        self.requests.record(request_id, RequestStatus.IN_PROGRESS, self.clock(), erasure=progress)
        return {"request_id": request_id}

    def verify_erasure(self, request_id: str) -> dict[str, Any]:
        progress = self._erasure(self._request(request_id))
        # raises, naming stores, if anything is left
        remaining = self.data.verify_gone(progress["subjects"], progress["calls"])
        certificate = {
            "certificate": "erasure (Art. 17 GDPR)",
            "request_id": request_id,
            "scope": progress["scope"],
            "stores_checked": list(STORES_CHECKED),
            "found_before": progress["found"],
            "removed": progress["removed"],
            "remaining_after_verification": remaining,
            "crypto_shredding": "data keys deleted first; sealed copies in backups and old versions are unreadable",
            "single_calls_without_key_shredding": len(progress["calls"]),
            "backup_window_days": "point-in-time recovery of the key table ages out within its configured window",
            "started_at": progress["started_at"],
            "verified_at": self.clock().isoformat(),
        }
        self.requests.record(request_id, RequestStatus.IN_PROGRESS, self.clock(), result=certificate)
        return {"request_id": request_id}

    def _flag(self, item: PrivacyRequest, flag: str) -> SubjectScope:
        """Set ``flag`` on the histories in scope and on every identifier involved, so it also
        holds for later calls that show any of them (restriction and objection err on the side
        of processing less)."""
        now = self.clock()
        scope = self._scope(item)
        macs = set(item.subject_macs)
        for sid in scope.subjects:
            self.subjects.set_flag(sid, flag, now)
            macs.update(self.subjects.identifiers_of(sid))
        for mac in sorted(macs):
            self.subjects.set_identifier_flag(mac, flag, now)
        return scope

    def apply_restriction(self, request_id: str) -> dict[str, Any]:
        self._record(request_id, "executing")
        self._flag(self._request(request_id), "restricted_at")
        self.requests.record(request_id, RequestStatus.IN_PROGRESS, self.clock(), result={"restricted": True})
        return {"request_id": request_id}

    def record_objection(self, request_id: str) -> dict[str, Any]:
        now = self.clock()
        self._record(request_id, "executing")
        scope = self._flag(self._request(request_id), "objected_at")
        for sid in scope.subjects:
            self.subjects.record_consent(sid, request_id, {"ai_analysis": False}, now, source="objection")
        self.requests.record(request_id, RequestStatus.IN_PROGRESS, now, result={"objection_recorded": True})
        return {"request_id": request_id}

    def apply_rectification(self, request_id: str) -> dict[str, Any]:
        """Re-key the verified requester's history: the new identifiers are linked to it, the old
        ones of the same kind unlinked. An identifier of another subject is never moved
        (:class:`IdentifierTakenError`; the workflow rejects the request)."""
        item = self._request(request_id)
        scope = self._scope(item)
        subject_id = item.subject_id or scope.owner()
        if item.sealed_changes is None:
            raise KeyError("sealed_changes")  # a rectification is always filed with its changes
        changes: dict[str, str] = self.service.unseal(request_id, item.sealed_changes)
        now = self.clock()
        changed = []
        if subject_id:
            old = dict(item.identifiers)
            normalised = Caller.model_validate(changes).identifiers()
            new = [(kind, self.service.pseudonymizer.mac(kind, value)) for kind, value in normalised]
            for _, mac in new:  # all or nothing: check every new identifier before changing any
                owner = self.subjects.find([mac])
                if owner is not None and owner != subject_id:
                    raise IdentifierTakenError("a new identifier belongs to another subject")
            self._record(request_id, "executing")
            for kind, mac in new:
                self.subjects.link_identifier(subject_id, mac, now)
                if kind in old and old[kind] != mac:  # the old identifier of this kind no longer belongs here
                    self.subjects.unlink_identifier(subject_id, old[kind])
                changed.append(kind)
        result = {"rectified": sorted(changed), "history_kept": True}
        self.requests.record(request_id, RequestStatus.IN_PROGRESS, now, result=result)
        return {"request_id": request_id}

    def _record(self, request_id: str, outcome: str) -> None:
        if self.audit is not None:
            kind = self._request(request_id).type
            self.audit.append(actor="system:privacy-workflow", action=f"privacy_{kind}_{outcome}",
                              resource=f"privacy/{request_id}")  # fmt: skip

    def complete_request(self, request_id: str) -> dict[str, Any]:
        now = self.clock()
        self._record(request_id, "completed")
        self.requests.record(request_id, RequestStatus.COMPLETED, now, completed=True)
        return {"request_id": request_id, "status": RequestStatus.COMPLETED}

    def mark_rejected(self, request_id: str, reason: str) -> dict[str, Any]:
        now = self.clock()
        self._record(request_id, "rejected")
        self.requests.record(request_id, RequestStatus.REJECTED, now, result={"reason": reason}, completed=True)
        return {"request_id": request_id, "status": RequestStatus.REJECTED}

    def mark_failed(self, request_id: str, error: str) -> dict[str, Any]:
        now = self.clock()
        # the error name only: a message could quote data
        self._record(request_id, "failed")
        self.requests.record(request_id, RequestStatus.FAILED, now, result={"reason": error})
        return {"request_id": request_id, "status": RequestStatus.FAILED}
