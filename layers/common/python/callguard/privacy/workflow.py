"""GDPR data-subject requests: record, verify identity, run the workflow, report.

Requests are stored without identifiers in the clear: the subject is kept as identifier
MACs (and the resolved subject id), free text and rectification values are sealed with
the data CMK (``kms:Encrypt`` with the request id as encryption context). The Step
Functions execution input carries only the request id. ``due_at`` is received + one
calendar month (Art. 12(3)); an extension of up to two further months can be recorded.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from callguard.errors import CallguardError, FourEyesError, IdentifierConflictError, NotFoundError
from callguard.models import ExtendIn, HoldIn, HoldLiftIn, PrivacyRequestIn, RequestStatus, VerifyIn
from callguard.names import ATTR_TTL, REQUEST_LIST_KEY
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.security.identity import Pseudonymizer
from callguard.storage.repository import SubjectsRepository, all_items, expiry_attributes

__all__ = [
    "APPROVAL_TYPES",
    "DOWNLOAD_SECONDS",
    "REDIRECT_SECONDS",
    "PrivacyRequests",
    "PrivacyService",
    "Recorder",
    "add_months",
    "deadline_key",
]

#: how long a download link of an export stays valid (it works once)
DOWNLOAD_SECONDS = 300
#: how long the storage URL the download endpoint redirects to stays valid
REDIRECT_SECONDS = 60


def deadline_key(moment: datetime) -> str:
    """The request list's sort key (index by_deadline): fixed-width UTC, so text order is time order."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # years padded


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


#: the partition listing every standing legal hold (holds are few; each lists its identifier MACs)
ACTIVE_HOLDS = "HOLDS#active"
CLOSED = frozenset(s for s in RequestStatus if s.closed)
#: request types whose irreversible or revealing step needs a second person's approval
APPROVAL_TYPES = frozenset({"access", "portability", "erasure"})
#: appends an audit entry ``(action, resource)``; called before the change it records takes effect
Recorder = Callable[[str, str], None]


def _no_record(action: str, resource: str) -> None:
    """Used where no audit log is wired (unit tests of the domain alone)."""


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


@dataclass
class PrivacyRequests:
    """The privacy table: ``REQUEST#<id>``, ``SUBJECTREQUEST#<subject>``/``REQUEST#<id>`` (a subject's
    requests, listed in its exports; also ``SUBJECTREQUEST#mac:<mac>`` per identifier), ``HOLD#<id>``,
    ``HOLDS#active``/``HOLD#<id>`` (standing holds with their identifier MACs), ``TOMBSTONE#<subject>``,
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

    def transition(self, request_id: str, status: RequestStatus, now: datetime, **fields: Any) -> None:
        """Set the status (and fields), appending a history entry; nothing personal in either."""
        names = {"#s": "status", "#h": "history"}
        values: dict[str, Any] = {
            ":s": {"S": str(status)},
            ":h": {"L": [{"M": {"at": {"S": now.isoformat()}, "status": {"S": str(status)}}}]},
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

    def record(
        self,
        request_id: str,
        status: RequestStatus,
        now: datetime,
        *,
        result: Any = None,
        erasure: Any = None,
        completed: bool = False,
    ) -> None:
        """Move the request on with its result or erasure progress (JSON; counts and names, never data)."""
        fields: dict[str, Any] = {}
        if result is not None:
            fields["result"] = {"S": json.dumps(result)}
        if erasure is not None:
            fields["erasure"] = {"S": json.dumps(erasure)}
        if completed:
            fields["completed_at"] = {"S": now.isoformat()}
        self.transition(request_id, status, now, **fields)

    def wait(
        self, request_id: str, status: RequestStatus, token_name: str, token: str, given: str, now: datetime
    ) -> bool:
        """Store the workflow's task token under ``token_name`` and move to ``status`` — unless
        ``given`` (the verification, the approval) was recorded first: then ``False``, nothing stored."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(request_id),
                UpdateExpression="SET #s = :s, #t = :t, #h = list_append(if_not_exists(#h, :empty), :h)",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#g)",
                ExpressionAttributeNames={"#s": "status", "#t": token_name, "#h": "history", "#g": given},
                ExpressionAttributeValues={
                    ":s": {"S": str(status)},
                    ":t": {"S": token},
                    ":h": {"L": [{"M": {"at": {"S": now.isoformat()}, "status": {"S": str(status)}}}]},
                    ":empty": {"L": []},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def put_export_marker(self, request_id: str, bucket: str, key: str, subject_id: str | None, now: datetime) -> None:
        """The marker of an export object, written before the object: the retention purge finds every export."""
        marker: dict[str, Any] = {
            "pk": {"S": f"EXPORT#{request_id}"},
            "sk": {"S": "EXPORT"},
            "request_id": {"S": request_id},
            "object_bucket": {"S": bucket},
            "object_key": {"S": key},
            **expiry_attributes(self.retention, DataCategory.EXPORTS, now),
        }
        if subject_id:
            marker["subject_id"] = {"S": subject_id}
        self.dynamodb.put_item(TableName=self.table, Item=marker)

    def put_tombstone(self, key: str, request_id: str, now: datetime, subject_id: str | None = None) -> None:
        """A tombstone without personal data: a restored backup can be re-erased (docs/runbooks).
        ``key`` is a subject id or ``call:<call id>`` (then ``subject_id`` names the call's owner)."""
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"TOMBSTONE#{key}"},
                "sk": {"S": "TOMBSTONE"},
                "request_id": {"S": request_id},
                "erased_at": {"S": now.isoformat()},
                **({"subject_id": {"S": subject_id}} if subject_id else {}),
                **expiry_attributes(self.retention, DataCategory.PRIVACY_REQUESTS, now),
            },
        )

    @staticmethod
    def _key(request_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}

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

    def subject_requests(self, key: str) -> list[str]:
        """Ids of the requests filed for a subject id or an identifier (``mac:<mac>``), oldest first."""
        items = all_items(
            self.dynamodb,
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": f"SUBJECTREQUEST#{key}"}},
        )
        return [i["request_id"]["S"] for i in sorted(items, key=lambda i: i["received_at"]["S"])]

    def open_due_dates(self) -> list[datetime]:
        """The (extended) deadline of every open request."""
        items = all_items(
            self.dynamodb,
            "scan",
            TableName=self.table,
            FilterExpression="begins_with(pk, :r) AND #s IN ({})".format(", ".join(f":s{i}" for i in range(len(OPEN)))),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":r": {"S": "REQUEST#"}, **{f":s{i}": {"S": v} for i, v in enumerate(OPEN)}},
            ProjectionExpression="due_at, extended_due_at",
        )
        return [datetime.fromisoformat(item.get("extended_due_at", item["due_at"])["S"]) for item in items]

    def enlist_unlisted(self) -> int:
        """Give requests filed before the request list existed its keys (index by_deadline), so an
        upgraded deployment's older requests appear in the compliance queue. Idempotent; returns how
        many were listed now."""
        items = all_items(
            self.dynamodb,
            "scan",
            TableName=self.table,
            FilterExpression="begins_with(pk, :r) AND sk = :s AND attribute_not_exists(request_list)",
            ExpressionAttributeValues={":r": {"S": "REQUEST#"}, ":s": {"S": "REQUEST"}},
            ProjectionExpression="pk, sk, due_at, extended_due_at",
        )
        listed = 0
        for item in items:
            due = datetime.fromisoformat(item.get("extended_due_at", item["due_at"])["S"])
            try:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET request_list = :l, deadline_at = :d",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(request_list)",
                    ExpressionAttributeValues={":l": {"S": REQUEST_LIST_KEY}, ":d": {"S": deadline_key(due)}},
                )
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                continue  # listed meanwhile (or expired): nothing to do
            listed += 1
        return listed

    def active_holds(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Every standing legal hold: its id and the identifiers ``(kind, mac)`` it was placed on."""
        items = all_items(
            self.dynamodb,
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": ACTIVE_HOLDS}},
            ConsistentRead=True,
        )
        return [
            (
                i["sk"]["S"].removeprefix("HOLD#"),
                list(
                    zip(
                        [k["S"] for k in i["subject_kinds"]["L"]], [m["S"] for m in i["subject_macs"]["L"]], strict=True
                    )
                ),
            )
            for i in items
        ]


#: a request whose deadline (Art. 12(3)) still runs
OPEN = tuple(s for s in RequestStatus if not s.closed)


@dataclass(frozen=True)
class DeadlineCheck:
    """Open privacy requests due within ``warn_days`` or overdue (the daily check's metrics)."""

    requests: PrivacyRequests
    warn_days: int = 7

    def enlist_unlisted(self) -> int:
        """Requests from before the request list existed join it (see ``PrivacyRequests.enlist_unlisted``)."""
        return self.requests.enlist_unlisted()

    def count(self, now: datetime) -> dict[str, int]:
        due_dates = self.requests.open_due_dates()
        counts = {"open": len(due_dates), "due_soon": 0, "overdue": 0}
        for due in due_dates:
            if due < now:
                counts["overdue"] += 1
            elif due < now + timedelta(days=self.warn_days):
                counts["due_soon"] += 1
        return counts


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

    def submit(self, body: PrivacyRequestIn, actor: str = "unknown", record: Recorder = _no_record) -> dict[str, Any]:
        now = self.clock()
        received = (body.received_at or now).astimezone(UTC)
        request_id = f"pr-{uuid.uuid4().hex[:20]}"
        identifiers = body.subject.identifiers()
        macs = [self.pseudonymizer.mac(kind, value) for kind, value in identifiers]
        subject_id = self.subjects.find(macs)
        if body.changes is not None:
            self._check_rectification(subject_id, body.changes.identifiers())
        due = add_months(received, 1)
        item: dict[str, Any] = {
            "pk": {"S": f"REQUEST#{request_id}"},
            "sk": {"S": "REQUEST"},
            "request_id": {"S": request_id},
            "type": {"S": body.type},
            "status": {"S": RequestStatus.RECEIVED},
            "received_at": {"S": received.isoformat()},
            "due_at": {"S": due.isoformat()},
            # the compliance desk's list (index by_deadline): every request, by its current deadline
            "request_list": {"S": REQUEST_LIST_KEY},
            "deadline_at": {"S": deadline_key(due)},
            "subject_macs": {"L": [{"S": m} for m in macs]},
            "subject_kinds": {"L": [{"S": k} for k, _ in identifiers]},
            "filed_by": {"S": actor},
            "history": {"L": [{"M": {"at": {"S": now.isoformat()}, "status": {"S": RequestStatus.RECEIVED}}}]},
            **expiry_attributes(self.requests.retention, DataCategory.PRIVACY_REQUESTS, now),
        }
        if subject_id:
            item["subject_id"] = {"S": subject_id}
        if body.changes is not None:
            item["sealed_changes"] = {"B": self._seal(request_id, body.changes.model_dump(exclude_none=True))}
        if body.note:
            item["sealed_note"] = {"B": self._seal(request_id, body.note)}
        record(f"privacy_request_{body.type}", f"privacy/{request_id}")
        for key in [*([subject_id] if subject_id else []), *(f"mac:{m}" for m in macs)]:
            self.requests.dynamodb.put_item(
                TableName=self.requests.table,
                Item={
                    "pk": {"S": f"SUBJECTREQUEST#{key}"},
                    "sk": {"S": f"REQUEST#{request_id}"},
                    "request_id": {"S": request_id},
                    "received_at": {"S": received.isoformat()},
                    **expiry_attributes(self.requests.retention, DataCategory.PRIVACY_REQUESTS, now),
                },
            )
        self.requests.put(item)
        execution_input = {"request_id": request_id, "verification_timeout_seconds": self.verification_timeout_seconds}
        self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=request_id, input=json.dumps(execution_input)
        )
        return {
            "request_id": request_id,
            "type": body.type,
            "status": RequestStatus.RECEIVED,
            "due_at": due.isoformat(),
        }

    def _check_rectification(self, subject_id: str | None, changes: list[tuple[str, str]]) -> None:
        """A rectification may not move an identifier another subject was authenticated with."""
        for kind, value in changes:
            owner = self.subjects.find([self.pseudonymizer.mac(kind, value)])
            if owner is not None and owner != subject_id:
                raise IdentifierConflictError(
                    f"The new {kind} belongs to another data subject; it cannot be moved by a rectification "
                    "unless both data subjects are proven to be one person."
                )

    def verify(self, request_id: str, body: VerifyIn, actor: str, record: Recorder = _no_record) -> dict[str, Any]:
        """Record who verified the requester's identity, how, and the evidence's reference.

        Honoured whenever it arrives: if the workflow already waits, it is released now;
        if not, the wait finds the verification and goes straight on.
        """
        item = self._open_request(request_id)
        if "verification" in item:
            raise RequestStateError("The requester's identity was already verified for this request.")
        now = self.clock()
        verification = {
            "M": {
                "by": {"S": actor},
                "method": {"S": body.method},
                "sealed_reference": {"B": self._seal(request_id, body.reference)},
                "at": {"S": now.isoformat()},
            }
        }
        record("privacy_identity_verified", f"privacy/{request_id}")
        updated = self._record_once(request_id, "verification", verification)
        if updated["status"]["S"] == RequestStatus.AWAITING_VERIFICATION and "task_token" in updated:
            self._release(request_id, updated["task_token"]["S"])
        return self.view(request_id)

    def approve(self, request_id: str, actor: str, record: Recorder = _no_record) -> dict[str, Any]:
        """A second compliance person approves releasing the export or executing the erasure."""
        item = self._open_request(request_id)
        if item["type"]["S"] not in APPROVAL_TYPES:
            raise RequestStateError("Only access, portability and erasure requests need an approval.")
        if "verification" not in item:
            raise RequestStateError("The requester's identity has not been verified yet.")
        involved = {item.get("filed_by", {}).get("S"), item["verification"]["M"]["by"]["S"]}
        if actor in involved:
            raise FourEyesError("A second person must approve: whoever filed or verified the request cannot.")
        if "approval" in item:
            raise RequestStateError("The request was already approved.")
        record("privacy_request_approved", f"privacy/{request_id}")
        approval = {"M": {"by": {"S": actor}, "at": {"S": self.clock().isoformat()}}}
        updated = self._record_once(request_id, "approval", approval)
        if updated["status"]["S"] == RequestStatus.AWAITING_APPROVAL and "approval_token" in updated:
            self._release(request_id, updated["approval_token"]["S"])
        return self.view(request_id)

    def _open_request(self, request_id: str) -> dict[str, Any]:
        item = self.requests.get(request_id)
        if item is None:
            raise NotFoundError("No privacy request with this id.")
        if item["status"]["S"] in CLOSED:
            raise RequestStateError("The request is closed.")
        return item

    def _record_once(self, request_id: str, name: str, value: dict[str, Any]) -> dict[str, Any]:
        try:
            updated: dict[str, Any] = self.requests.dynamodb.update_item(
                TableName=self.requests.table,
                Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
                UpdateExpression="SET #n = :v",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#n) AND NOT #s IN (:c1, :c2, :c3)",
                ExpressionAttributeNames={"#n": name, "#s": "status"},
                ExpressionAttributeValues={
                    ":v": value,
                    **{f":c{i}": {"S": status} for i, status in enumerate(sorted(CLOSED), start=1)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise RequestStateError("The request changed meanwhile; read it again.") from None
            raise
        return updated

    def _release(self, request_id: str, token: str) -> None:
        """The workflow waits on ``token``: mark the request in progress, then let it go on."""
        self.requests.transition(request_id, RequestStatus.IN_PROGRESS, self.clock())
        try:
            self.sfn.send_task_success(taskToken=token, output=json.dumps({"released": True}))
        except ClientError as exc:
            raise RequestStateError("The workflow no longer waits for this request.") from exc

    def extend(self, request_id: str, body: ExtendIn) -> dict[str, Any]:
        """Extend the deadline by up to two further months in all (Art. 12(3)); the reason is
        sealed, and the data subject must be told within the first month."""
        item = self.requests.get(request_id)
        if item is None:
            raise NotFoundError("No privacy request with this id.")
        if item["status"]["S"] in CLOSED:
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
            request_list={"S": REQUEST_LIST_KEY},
            deadline_at={"S": deadline_key(extended)},
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
        elif result and "export" in result and (presign is None or item["status"]["S"] != RequestStatus.COMPLETED):
            result.pop("export")  # released only once the request completed (after the approval)
        elif result and "export" in result and presign is not None:
            export = result.pop("export")
            result["download_url"] = presign(export["bucket"], export["key"])
            result["download_expires_in_seconds"] = DOWNLOAD_SECONDS
        answer = {
            "request_id": request_id,
            "type": item["type"]["S"],
            "status": item["status"]["S"],
            "due_at": item.get("extended_due_at", item["due_at"])["S"],
            "completed_at": item.get("completed_at", {}).get("S"),
            "history": [{"at": h["M"]["at"]["S"], "status": h["M"]["status"]["S"]} for h in item["history"]["L"]],
            "result": result,
        }
        if "verification" in item:
            v = item["verification"]["M"]
            answer["verification"] = {"method": v["method"]["S"], "by": v["by"]["S"], "at": v["at"]["S"]}
        if "approval" in item:
            answer["approval"] = {k: v["S"] for k, v in item["approval"]["M"].items()}
        return answer

    def issue_download(self, request_id: str, actor: str) -> str:
        """A single-use ticket for the request's export, valid :data:`DOWNLOAD_SECONDS`; only its
        hash is stored, with the person it was issued to."""
        ticket = secrets.token_urlsafe(32)
        now = self.clock()
        self.requests.dynamodb.put_item(
            TableName=self.requests.table,
            Item={
                "pk": {"S": f"DOWNLOAD#{_ticket_hash(ticket)}"},
                "sk": {"S": "DOWNLOAD"},
                "request_id": {"S": request_id},
                "issued_to": {"S": actor},
                "issued_at": {"S": now.isoformat()},
                "valid_until": {"N": str(int(now.timestamp()) + DOWNLOAD_SECONDS)},
                ATTR_TTL: {"N": str(int(now.timestamp()) + DOWNLOAD_SECONDS + 86400)},
            },
        )
        return ticket

    def redeem_download(
        self, request_id: str, ticket: str, actor: str, record: Recorder = _no_record
    ) -> dict[str, str]:
        """Use a ticket once: the export's location, once the download is on record with the person.

        An unknown, used, expired or other request's ticket is 404 (nothing to tell apart)."""
        now = self.clock()
        try:
            self.requests.dynamodb.update_item(
                TableName=self.requests.table,
                Key={"pk": {"S": f"DOWNLOAD#{_ticket_hash(ticket)}"}, "sk": {"S": "DOWNLOAD"}},
                UpdateExpression="SET used_at = :now, used_by = :actor",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used_at) "
                "AND request_id = :rid AND valid_until >= :t",
                ExpressionAttributeValues={
                    ":now": {"S": now.isoformat()},
                    ":actor": {"S": actor},
                    ":rid": {"S": request_id},
                    ":t": {"N": str(int(now.timestamp()))},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFoundError("No valid download ticket: it was used, has expired or never existed.") from None
            raise
        item = self.requests.get(request_id) or {}
        result = json.loads(item["result"]["S"]) if "result" in item else {}
        if "export" not in result or "export_purged_at" in item or item["status"]["S"] != RequestStatus.COMPLETED:
            raise NotFoundError("No export to download for this request.")
        record("privacy_export_downloaded", f"privacy/{request_id}")  # on record before anything is released
        return {"bucket": result["export"]["bucket"], "key": result["export"]["key"]}

    def add_hold(self, body: HoldIn, record: Recorder = _no_record, actor: str | None = None) -> dict[str, Any]:
        """A legal hold on identifiers: stored against their MACs, so it protects whatever they
        reach when it is checked — including a subject whose first call comes later."""
        now = self.clock()
        hold_id = f"hold-{uuid.uuid4().hex[:20]}"
        identifiers = body.subject.identifiers()
        macs = {"L": [{"S": self.pseudonymizer.mac(kind, value)} for kind, value in identifiers]}
        kinds = {"L": [{"S": kind} for kind, _ in identifiers]}
        item: dict[str, Any] = {
            "pk": {"S": f"HOLD#{hold_id}"},
            "sk": {"S": "HOLD"},
            "status": {"S": "active"},
            "created_at": {"S": now.isoformat()},
            "subject_macs": macs,
            "subject_kinds": kinds,
            "sealed_reason": {"B": self._seal(hold_id, body.reason)},
        }
        if actor is not None:  # the person placing it, from their token (listed to compliance)
            item["placed_by"] = {"S": actor}
        record("legal_hold_added", f"hold/{hold_id}")
        self.requests.dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.requests.table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.requests.table,
                        "Item": {
                            "pk": {"S": ACTIVE_HOLDS},
                            "sk": {"S": f"HOLD#{hold_id}"},
                            "subject_macs": macs,
                            "subject_kinds": kinds,
                            "created_at": {"S": now.isoformat()},
                        },
                    }
                },
            ]
        )
        return {"hold_id": hold_id}

    def lift_hold(
        self,
        hold_id: str,
        record: Recorder = _no_record,
        actor: str | None = None,
        body: HoldLiftIn | None = None,
    ) -> None:
        """End a hold: who lifted it (from their token) and why (sealed like the reason it was placed for)."""
        key = {"pk": {"S": f"HOLD#{hold_id}"}, "sk": {"S": "HOLD"}}
        item = self.requests.dynamodb.get_item(TableName=self.requests.table, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            raise NotFoundError("No legal hold with this id.")
        if item["status"]["S"] != "active":
            raise RequestStateError("The legal hold was lifted already.")
        record("legal_hold_lifted", f"hold/{hold_id}")
        updates = ["#s = :lifted", "lifted_at = :now"]
        values: dict[str, dict[str, Any]] = {
            ":lifted": {"S": "lifted"},
            ":active": {"S": "active"},
            ":now": {"S": self.clock().isoformat()},
        }
        if actor is not None:
            updates.append("lifted_by = :by")
            values[":by"] = {"S": actor}
        if body is not None:
            updates.append("sealed_lift_reason = :why")
            values[":why"] = {"B": self._seal(hold_id, body.reason)}
        self.requests.dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.requests.table,
                        "Key": key,
                        "UpdateExpression": "SET " + ", ".join(updates),
                        "ConditionExpression": "#s = :active",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": values,
                    }
                },
                {
                    "Delete": {
                        "TableName": self.requests.table,
                        "Key": {"pk": {"S": ACTIVE_HOLDS}, "sk": {"S": f"HOLD#{hold_id}"}},
                    }
                },
            ]
        )
