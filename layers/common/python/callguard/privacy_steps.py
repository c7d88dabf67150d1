"""The steps of the privacy workflow; each ``functions/privacy_steps/<verb_noun>.py`` calls one.

Every step takes the request id (and the task token where the workflow waits) and
returns only small, non-personal values; data moves through S3 and DynamoDB, never
through the execution history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .audit import AuditLog
from .errors import NotFoundError
from .export_writer import S3JsonWriter
from .privacy import PrivacyRequests, PrivacyService
from .repository import SubjectsRepository, expiry_attributes
from .retention import DataCategory, RetentionPolicy
from .subject_data import SubjectData

__all__ = ["PrivacySteps", "art15_information"]

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
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _request(self, request_id: str) -> dict[str, Any]:
        item = self.requests.get(request_id)
        if item is None:
            raise NotFoundError("No privacy request with this id.")
        return item

    def _subjects_of(self, item: dict[str, Any]) -> list[str]:
        subject_id = item.get("subject_id", {}).get("S")
        return self.data.closure(subject_id) if subject_id else []

    def await_verification(self, request_id: str, task_token: str) -> dict[str, Any]:
        self.requests.transition(request_id, "awaiting_verification", self.clock(), task_token={"S": task_token})
        return {"request_id": request_id}

    def route_request(self, request_id: str) -> dict[str, Any]:
        item = self._request(request_id)
        return {"request_id": request_id, "type": item["type"]["S"]}

    def _export_keys(self, item: dict[str, Any], request_id: str) -> tuple[str, str]:
        """The export's key and the prefix of its parts; under the subject's prefix, so an
        erasure of the subject removes them too."""
        subjects = self._subjects_of(item)
        owner = subjects[0] if subjects else "unknown"
        return f"exports/{owner}/{request_id}.json", f"exports/{owner}/{request_id}/part-"

    def collect_subject_data(self, request_id: str, page: int = 0) -> dict[str, Any]:
        """One page of the export (``export_page_calls`` call partitions) into a part object.

        The workflow loops while ``next_page`` is set, so a large subject never has to fit
        into one invocation; only the page number passes between states, never data.
        """
        item = self._request(request_id)
        subjects = self._subjects_of(item)
        key, parts = self._export_keys(item, request_id)
        if page == 0:
            # the marker comes first: no export object exists that the retention purge cannot find
            marker: dict[str, Any] = {
                "pk": {"S": f"EXPORT#{request_id}"},
                "sk": {"S": "EXPORT"},
                "request_id": {"S": request_id},
                "object_bucket": {"S": self.exports_bucket},
                "object_key": {"S": key},
                **expiry_attributes(self.retention, DataCategory.EXPORTS, self.clock()),
            }
            if subjects:
                marker["subject_id"] = {"S": subjects[0]}
            self.requests.dynamodb.put_item(TableName=self.requests.table, Item=marker)
        if subjects:
            part, more = self.data.export_page(subjects[0], page, self.export_page_calls)
        else:
            part, more = {section: [] for section in SubjectData.SECTIONS}, False
        if page == 0:
            part["privacy_requests"] = [
                self._request_summary(r) for sid in subjects for r in self.requests.subject_requests(sid)
            ]
        self.s3.put_object(
            Bucket=self.exports_bucket,
            Key=f"{parts}{page:05d}.json",
            Body=json.dumps(part, ensure_ascii=False, separators=(",", ":")).encode(),
            ContentType="application/json",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.exports_key_id or self.data_key_id,
        )
        return {"request_id": request_id, "next_page": page + 1 if more else None}

    def _request_summary(self, request_id: str) -> dict[str, Any]:
        other = self.requests.get(request_id) or {}
        return {
            "request_id": request_id,
            "type": other.get("type", {}).get("S"),
            "received_at": other.get("received_at", {}).get("S"),
            "status": other.get("status", {}).get("S"),
        }

    def assemble_export(self, request_id: str) -> dict[str, Any]:
        """Stream the parts into one machine-readable JSON document (Art. 20), then remove them."""
        item = self._request(request_id)
        key, parts = self._export_keys(item, request_id)
        part_keys = sorted(
            o["Key"]
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.exports_bucket, Prefix=parts)
            for o in page.get("Contents", [])
        )
        if not part_keys:
            raise RuntimeError("no export parts were collected for this request")
        calls = 0
        with S3JsonWriter(self.s3, self.exports_bucket, key, self.exports_key_id or self.data_key_id) as out:
            head = {
                "request_id": request_id,
                "generated_at": self.clock().isoformat(),
                "format": "callguard-export/1 (JSON, machine-readable, Art. 20)",
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
        self.requests.transition(request_id, "in_progress", self.clock(), result={"S": json.dumps(result)})
        return {"request_id": request_id}

    def check_legal_hold(self, request_id: str) -> dict[str, Any]:
        held = any(self.requests.active_holds(s) for s in self._subjects_of(self._request(request_id)))
        return {"request_id": request_id, "held": held}

    def shred_subject_key(self, request_id: str) -> dict[str, Any]:
        item = self._request(request_id)
        subjects = self._subjects_of(item)
        started = self.clock().isoformat()
        before = self.data.inventory(subjects)
        shredded = self.data.shred_keys(subjects)
        progress = {"started_at": started, "found": before, "removed": {"subject_keys": shredded}}
        self.requests.transition(request_id, "in_progress", self.clock(), erasure={"S": json.dumps(progress)})
        return {"request_id": request_id}

    def delete_subject_data(self, request_id: str) -> dict[str, Any]:
        item = self._request(request_id)
        subjects = self._subjects_of(item)
        progress = json.loads(item["erasure"]["S"])
        removed = self.data.delete_all(subjects)
        progress["removed"] = {**progress["removed"], **{k: v for k, v in removed.items() if k != "subject_keys"}}
        for sid in subjects:  # a tombstone without personal data: a restored backup can be re-erased
            self.requests.dynamodb.put_item(
                TableName=self.requests.table,
                Item={
                    "pk": {"S": f"TOMBSTONE#{sid}"},
                    "sk": {"S": "TOMBSTONE"},
                    "request_id": {"S": request_id},
                    "erased_at": {"S": self.clock().isoformat()},
                    **expiry_attributes(self.retention, DataCategory.PRIVACY_REQUESTS, self.clock()),
                },
            )
        self.requests.transition(request_id, "in_progress", self.clock(), erasure={"S": json.dumps(progress)})
        return {"request_id": request_id}

    def verify_erasure(self, request_id: str) -> dict[str, Any]:
        item = self._request(request_id)
        subjects = self._subjects_of(item)
        progress = json.loads(item["erasure"]["S"])
        remaining = self.data.verify_gone(subjects)  # raises, naming stores, if anything is left
        certificate = {
            "certificate": "erasure (Art. 17 GDPR)",
            "request_id": request_id,
            "stores_checked": list(STORES_CHECKED),
            "found_before": progress["found"],
            "removed": progress["removed"],
            "remaining_after_verification": remaining,
            "crypto_shredding": "data keys deleted first; sealed copies in backups and old versions are unreadable",
            "backup_window_days": "point-in-time recovery of the key table ages out within its configured window",
            "started_at": progress["started_at"],
            "verified_at": self.clock().isoformat(),
        }
        self.requests.transition(request_id, "in_progress", self.clock(), result={"S": json.dumps(certificate)})
        return {"request_id": request_id}

    def apply_restriction(self, request_id: str) -> dict[str, Any]:
        now = self.clock()
        for sid in self._subjects_of(self._request(request_id)):
            self.subjects.set_flag(sid, "restricted_at", now)
        self.requests.transition(request_id, "in_progress", now, result={"S": json.dumps({"restricted": True})})
        return {"request_id": request_id}

    def record_objection(self, request_id: str) -> dict[str, Any]:
        now = self.clock()
        for sid in self._subjects_of(self._request(request_id)):
            self.subjects.set_flag(sid, "objected_at", now)
            self.subjects.record_consent(sid, request_id, {"ai_analysis": False}, now, source="objection")
        self.requests.transition(request_id, "in_progress", now, result={"S": json.dumps({"objection_recorded": True})})
        return {"request_id": request_id}

    def apply_rectification(self, request_id: str) -> dict[str, Any]:
        item = self._request(request_id)
        subject_id = item.get("subject_id", {}).get("S")
        changes: dict[str, str] = self.service.unseal(request_id, bytes(item["sealed_changes"]["B"]))
        now = self.clock()
        changed = []
        if subject_id:
            old = dict(
                zip(
                    [k["S"] for k in item["subject_kinds"]["L"]],
                    [m["S"] for m in item["subject_macs"]["L"]],
                    strict=True,
                )
            )
            from .models import Caller

            normalised = Caller.model_validate(changes).identifiers()
            for kind, value in normalised:
                if kind in old:  # the old identifier of this kind no longer belongs to the subject
                    self.subjects.unlink_identifier(subject_id, old[kind])
                self.subjects.link_identifier(subject_id, self.service.pseudonymizer.mac(kind, value), now)
                changed.append(kind)
        result = {"rectified": sorted(changed), "history_kept": True}
        self.requests.transition(request_id, "in_progress", now, result={"S": json.dumps(result)})
        return {"request_id": request_id}

    def _record(self, request_id: str, outcome: str) -> None:
        if self.audit is not None:
            kind = self._request(request_id)["type"]["S"]
            self.audit.append(actor="system:privacy-workflow", action=f"privacy_{kind}_{outcome}",
                              resource=f"privacy/{request_id}")  # fmt: skip

    def complete_request(self, request_id: str) -> dict[str, Any]:
        now = self.clock()
        self.requests.transition(request_id, "completed", now, completed_at={"S": now.isoformat()})
        self._record(request_id, "completed")
        return {"request_id": request_id, "status": "completed"}

    def mark_rejected(self, request_id: str, reason: str) -> dict[str, Any]:
        now = self.clock()
        self.requests.transition(
            request_id,
            "rejected",
            now,
            completed_at={"S": now.isoformat()},
            result={"S": json.dumps({"reason": reason})},
        )
        self._record(request_id, "rejected")
        return {"request_id": request_id, "status": "rejected"}

    def mark_failed(self, request_id: str, error: str) -> dict[str, Any]:
        now = self.clock()
        # the error name only: a message could quote data
        self.requests.transition(request_id, "failed", now, result={"S": json.dumps({"reason": error})})
        self._record(request_id, "failed")
        return {"request_id": request_id, "status": "failed"}
