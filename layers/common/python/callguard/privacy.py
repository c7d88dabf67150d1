"""GDPR data-subject requests: record, verify identity, run the workflow, report.

Requests are stored without identifiers in the clear: the subject is kept as identifier
MACs (and the resolved subject id), free text and rectification values are sealed with
the data CMK (``kms:Encrypt`` with the request id as encryption context). The Step
Functions execution input carries only the request id. ``due_at`` is received + one
calendar month (Art. 12(3)); an extension of up to two further months can be recorded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from .errors import CallguardError, NotFoundError
from .identity import Pseudonymizer
from .models import ExtendIn, HoldIn, PrivacyRequestIn, VerifyIn
from .repository import SubjectsRepository, all_items, expiry_attributes
from .retention import DataCategory, RetentionPolicy

__all__ = ["PrivacyRequests", "PrivacyService", "add_months"]


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")  # pragma: no cover


class RequestStateError(CallguardError):
    status = 409
    code = "request_state"


@dataclass
class PrivacyRequests:
    """The privacy table: ``REQUEST#<id>``, ``SUBJECTREQUEST#<subject>``/``REQUEST#<id>`` (a subject's
    requests, listed in its exports), ``HOLD#<id>``, ``SUBJECTHOLD#<subject>``, ``TOMBSTONE#<subject>``,
    ``EXPORT#<id>`` (export markers for the retention purge), ``PURGE#<day>`` (purge reports)."""

    dynamodb: Any
    table: str
    retention: RetentionPolicy

    def put(self, item: dict[str, Any]) -> None:
        self.dynamodb.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get(self, request_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else dict(item)

    def transition(self, request_id: str, status: str, now: datetime, **fields: Any) -> None:
        """Set the status (and fields), appending a history entry; nothing personal in either."""
        names = {"#s": "status", "#h": "history"}
        values: dict[str, Any] = {
            ":s": {"S": status},
            ":h": {"L": [{"M": {"at": {"S": now.isoformat()}, "status": {"S": status}}}]},
            ":empty": {"L": []},
        }
        sets = ["#s = :s", "#h = list_append(if_not_exists(#h, :empty), :h)"]
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConditionExpression="attribute_exists(pk)",
        )

    def mark_export_purged(self, request_id: str, now: datetime) -> None:
        """The request's export passed its retention period and was deleted."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
                UpdateExpression="SET export_purged_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"S": now.isoformat()}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def subject_requests(self, subject_id: str) -> list[str]:
        """Ids of the requests filed for the subject, oldest first."""
        items = all_items(
            self.dynamodb,
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": f"SUBJECTREQUEST#{subject_id}"}},
        )
        return [i["request_id"]["S"] for i in sorted(items, key=lambda i: i["received_at"]["S"])]

    def active_holds(self, subject_id: str) -> int:
        return int(
            self.dynamodb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"SUBJECTHOLD#{subject_id}"}},
                Select="COUNT",
            )["Count"]
        )


@dataclass
class PrivacyService:
    requests: PrivacyRequests
    subjects: SubjectsRepository
    pseudonymizer: Pseudonymizer
    kms: Any
    sfn: Any
    data_key_id: str
    state_machine_arn: str
    verification_timeout_seconds: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _seal(self, request_id: str, value: Any) -> bytes:
        return bytes(
            self.kms.encrypt(
                KeyId=self.data_key_id,
                Plaintext=json.dumps(value).encode(),
                EncryptionContext={"callguard:request_id": request_id},
            )["CiphertextBlob"]
        )

    def unseal(self, request_id: str, blob: bytes) -> Any:
        plaintext = self.kms.decrypt(
            CiphertextBlob=blob, KeyId=self.data_key_id, EncryptionContext={"callguard:request_id": request_id}
        )["Plaintext"]
        return json.loads(plaintext)

    def submit(self, body: PrivacyRequestIn) -> dict[str, Any]:
        now = self.clock()
        received = (body.received_at or now).astimezone(UTC)
        request_id = f"pr-{uuid.uuid4().hex[:20]}"
        macs = [self.pseudonymizer.mac(kind, value) for kind, value in body.subject.identifiers()]
        subject_id = self.subjects.find(macs)
        due = add_months(received, 1)
        item: dict[str, Any] = {
            "pk": {"S": f"REQUEST#{request_id}"},
            "sk": {"S": "REQUEST"},
            "request_id": {"S": request_id},
            "type": {"S": body.type},
            "status": {"S": "received"},
            "received_at": {"S": received.isoformat()},
            "due_at": {"S": due.isoformat()},
            "subject_macs": {"L": [{"S": m} for m in macs]},
            "subject_kinds": {"L": [{"S": k} for k, _ in body.subject.identifiers()]},
            "history": {"L": [{"M": {"at": {"S": now.isoformat()}, "status": {"S": "received"}}}]},
            **expiry_attributes(self.requests.retention, DataCategory.PRIVACY_REQUESTS, now),
        }
        if subject_id:
            item["subject_id"] = {"S": subject_id}
            self.requests.dynamodb.put_item(
                TableName=self.requests.table,
                Item={
                    "pk": {"S": f"SUBJECTREQUEST#{subject_id}"},
                    "sk": {"S": f"REQUEST#{request_id}"},
                    "request_id": {"S": request_id},
                    "subject_id": {"S": subject_id},
                    "received_at": {"S": received.isoformat()},
                    **expiry_attributes(self.requests.retention, DataCategory.PRIVACY_REQUESTS, now),
                },
            )
        if body.changes is not None:
            item["sealed_changes"] = {"B": self._seal(request_id, body.changes.model_dump(exclude_none=True))}
        if body.note:
            item["sealed_note"] = {"B": self._seal(request_id, body.note)}
        self.requests.put(item)
        execution_input = {"request_id": request_id, "verification_timeout_seconds": self.verification_timeout_seconds}
        self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=request_id, input=json.dumps(execution_input)
        )
        return {"request_id": request_id, "type": body.type, "status": "received", "due_at": due.isoformat()}

    def verify(self, request_id: str, body: VerifyIn) -> dict[str, Any]:
        item = self.requests.get(request_id)
        if item is None:
            raise NotFoundError("No privacy request with this id.")
        if item["status"]["S"] != "awaiting_verification" or "task_token" not in item:
            raise RequestStateError("The request is not waiting for identity verification.")
        now = self.clock()
        self.requests.transition(
            request_id,
            "in_progress",
            now,
            verification={
                "M": {"by": {"S": body.verified_by}, "method": {"S": body.method}, "at": {"S": now.isoformat()}}
            },
        )
        try:
            self.sfn.send_task_success(taskToken=item["task_token"]["S"], output=json.dumps({"verified": True}))
        except ClientError as exc:
            raise RequestStateError("The workflow no longer waits for this request.") from exc
        return self.view(request_id)

    def extend(self, request_id: str, body: ExtendIn) -> dict[str, Any]:
        """Extend the deadline by up to two further months in all (Art. 12(3)); the reason is
        sealed, and the data subject must be told within the first month."""
        item = self.requests.get(request_id)
        if item is None:
            raise NotFoundError("No privacy request with this id.")
        if item["status"]["S"] in {"completed", "rejected", "failed"}:
            raise RequestStateError("The request is closed; its deadline cannot change.")
        received = datetime.fromisoformat(item["received_at"]["S"])
        current = datetime.fromisoformat(item.get("extended_due_at", item["due_at"])["S"])
        extended = add_months(current, body.months)
        if extended > add_months(received, 3):
            raise RequestStateError("Art. 12(3) allows at most two further months after the first.")
        self.requests.transition(
            request_id,
            item["status"]["S"],
            self.clock(),
            extended_due_at={"S": extended.isoformat()},
            sealed_extension_reason={"B": self._seal(request_id, body.reason)},
        )
        return self.view(request_id)

    def view(self, request_id: str, presign: Callable[[str, str], str] | None = None) -> dict[str, Any]:
        item = self.requests.get(request_id)
        if item is None:
            raise NotFoundError("No privacy request with this id.")
        result = json.loads(item["result"]["S"]) if "result" in item else None
        if result and "export" in result and "export_purged_at" in item:
            result.pop("export")  # the exports retention period has passed: nothing to download
            result["download"] = "expired"
        elif result and "export" in result and presign is not None:
            export = result.pop("export")
            result["download_url"] = presign(export["bucket"], export["key"])
            result["download_expires_in_seconds"] = 3600
        return {
            "request_id": request_id,
            "type": item["type"]["S"],
            "status": item["status"]["S"],
            "due_at": item.get("extended_due_at", item["due_at"])["S"],
            "completed_at": item.get("completed_at", {}).get("S"),
            "history": [{"at": h["M"]["at"]["S"], "status": h["M"]["status"]["S"]} for h in item["history"]["L"]],
            "result": result,
        }

    def add_hold(self, body: HoldIn) -> dict[str, Any]:
        now = self.clock()
        hold_id = f"hold-{uuid.uuid4().hex[:20]}"
        macs = [self.pseudonymizer.mac(kind, value) for kind, value in body.subject.identifiers()]
        subject_id = self.subjects.find(macs)
        item: dict[str, Any] = {
            "pk": {"S": f"HOLD#{hold_id}"},
            "sk": {"S": "HOLD"},
            "status": {"S": "active"},
            "created_at": {"S": now.isoformat()},
            "subject_macs": {"L": [{"S": m} for m in macs]},
            "sealed_reason": {"B": self._seal(hold_id, body.reason)},
        }
        if subject_id:
            item["subject_id"] = {"S": subject_id}
        self.requests.put(item)
        if subject_id:
            self.requests.dynamodb.put_item(
                TableName=self.requests.table,
                Item={"pk": {"S": f"SUBJECTHOLD#{subject_id}"}, "sk": {"S": f"HOLD#{hold_id}"}},
            )
        return {"hold_id": hold_id}

    def lift_hold(self, hold_id: str) -> None:
        key = {"pk": {"S": f"HOLD#{hold_id}"}, "sk": {"S": "HOLD"}}
        item = self.requests.dynamodb.get_item(TableName=self.requests.table, Key=key).get("Item")
        if item is None:
            raise NotFoundError("No legal hold with this id.")
        self.requests.dynamodb.update_item(
            TableName=self.requests.table,
            Key=key,
            UpdateExpression="SET #s = :lifted, lifted_at = :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":lifted": {"S": "lifted"}, ":now": {"S": self.clock().isoformat()}},
        )
        if "subject_id" in item:
            self.requests.dynamodb.delete_item(
                TableName=self.requests.table,
                Key={"pk": {"S": f"SUBJECTHOLD#{item['subject_id']['S']}"}, "sk": {"S": f"HOLD#{hold_id}"}},
            )
