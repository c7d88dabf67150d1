"""GDPR data-subject requests: record, verify identity, run the workflow, report.

Requests are stored without identifiers in the clear: the subject is kept as identifier
MACs (and the resolved subject id), free text and rectification values are sealed with
the data CMK (``kms:Encrypt`` with the request id as encryption context). The Step
Functions execution input carries only the request id. ``due_at`` is received + one
calendar month (Art. 12(3)); an extension of up to two further months can be recorded.
What is stored, and how, is :mod:`callguard.storage` (requests, holds, exports).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from callguard.errors import CallguardError, FourEyesError, IdentifierConflictError, NotFoundError
from callguard.models import ExtendIn, HoldIn, HoldLiftIn, PrivacyRequestIn, RequestStatus, VerifyIn
from callguard.security.identity import Pseudonymizer
from callguard.storage.exports import DownloadTickets
from callguard.storage.holds import ACTIVE, LegalHold, LegalHolds
from callguard.storage.requests import (
    Approval,
    PrivacyRequest,
    PrivacyRequests,
    Verification,
    deadline_entries,
    deadline_key,
)
from callguard.storage.subjects import SubjectsRepository

__all__ = [
    "APPROVAL_TYPES",
    "DOWNLOAD_SECONDS",
    "REDIRECT_SECONDS",
    "DeadlineCheck",
    "DeadlineReport",
    "PrivacyService",
    "Recorder",
    "add_months",
    "deadline_key",
]

#: how long a download link of an export stays valid (it works once)
DOWNLOAD_SECONDS = 300
#: how long the storage URL the download endpoint redirects to stays valid
REDIRECT_SECONDS = 60


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


CLOSED = frozenset(s for s in RequestStatus if s.closed)
#: request types whose irreversible or revealing step needs a second person's approval
APPROVAL_TYPES = frozenset({"access", "portability", "erasure"})
#: appends an audit entry ``(action, resource)``; called before the change it records takes effect
Recorder = Callable[[str, str], None]


def _no_record(action: str, resource: str) -> None:
    """Used where no audit log is wired (unit tests of the domain alone)."""


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


@dataclass(frozen=True)
class DeadlineReport:
    """The daily check's counts: open requests, due within the warning days, overdue, and listed now."""

    open: int = 0
    due_soon: int = 0
    overdue: int = 0
    listed_late: int = 0

    def counts(self) -> dict[str, int]:
        return {"open": self.open, "due_soon": self.due_soon, "overdue": self.overdue}

    @classmethod
    def total(cls, reports: Iterable[DeadlineReport]) -> DeadlineReport:
        """The counts of several tenants' reports added up."""
        reports = list(reports)
        return cls(
            **{name: sum(getattr(r, name) for r in reports) for name in ("open", "due_soon", "overdue", "listed_late")}
        )


@dataclass(frozen=True)
class DeadlineCheck:
    """Open privacy requests due within ``warn_days`` or overdue (the daily check's metrics), per tenant;
    requests filed before the request list existed join their tenant's list on the way, in the same scan.

    ``requests`` is one tenant's store (v1), or one store per tenant of the deployment: one scan of the
    privacy table reads every tenant's requests, each counted for, and listed in, its own tenant only.
    """

    requests: PrivacyRequests | Sequence[PrivacyRequests]
    warn_days: int = 7

    @property
    def stores(self) -> list[PrivacyRequests]:
        return list(self.requests) if isinstance(self.requests, Sequence) else [self.requests]

    def run(self, now: datetime) -> DeadlineReport:
        """The counts of every tenant of :attr:`requests` added up (v1's report of the one tenant)."""
        return DeadlineReport.total(self.by_tenant(now).values())

    def by_tenant(self, now: datetime) -> dict[str, DeadlineReport]:
        """Each tenant's report (every tenant of :attr:`requests`, with zeros where it has no request)."""
        stores = self.stores
        counts = {store.scope.tenant: {"open": 0, "due_soon": 0, "overdue": 0, "listed_late": 0} for store in stores}
        soon = now + timedelta(days=self.warn_days)
        for store, entry in deadline_entries(stores):
            tenant = counts[store.scope.tenant]
            if not entry.listed and store.enlist(entry):
                tenant["listed_late"] += 1  # filed before the request list existed: listed, once
            if entry.open:
                tenant["open"] += 1
                tenant["overdue"] += entry.due < now
                tenant["due_soon"] += now <= entry.due < soon
        return {tenant: DeadlineReport(**c) for tenant, c in counts.items()}


@dataclass
class PrivacyService:
    requests: PrivacyRequests
    holds: LegalHolds
    downloads: DownloadTickets
    subjects: SubjectsRepository
    pseudonymizer: Pseudonymizer
    kms: Any
    sfn: Any
    data_key_id: str
    state_machine_arn: str
    verification_timeout_seconds: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: with tenants listed, the tenant the request is filed for (the filer's, from the token): named in the
    #: workflow's input, so every step acts for it; ``None`` (v1): the input carries no tenant
    workflow_tenant: str | None = None

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
        request = PrivacyRequest(
            request_id=request_id,
            type=str(body.type),
            status=RequestStatus.RECEIVED,
            received_at=received.isoformat(),
            due_at=due.isoformat(),
            subject_kinds=tuple(kind for kind, _ in identifiers),
            subject_macs=tuple(macs),
            history=((now.isoformat(), RequestStatus.RECEIVED),),
            subject_id=subject_id or None,
            filed_by=actor,
            sealed_changes=None
            if body.changes is None
            else self._seal(request_id, body.changes.model_dump(exclude_none=True)),
            sealed_note=self._seal(request_id, body.note) if body.note else None,
        )
        record(f"privacy_request_{body.type}", f"privacy/{request_id}")
        self.requests.create(request, now)
        execution_input: dict[str, Any] = {
            "request_id": request_id,
            "verification_timeout_seconds": self.verification_timeout_seconds,
        }
        if self.workflow_tenant is not None:
            execution_input["tenant"] = self.workflow_tenant
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
        request = self._open_request(request_id)
        if request.verification is not None:
            raise RequestStateError("The requester's identity was already verified for this request.")
        verification = Verification(
            by=actor,
            method=body.method,
            at=self.clock().isoformat(),
            sealed_reference=self._seal(request_id, body.reference),
        )
        record("privacy_identity_verified", f"privacy/{request_id}")
        updated = self._record_once(request_id, "verification", verification)
        if updated.status == RequestStatus.AWAITING_VERIFICATION and updated.task_token is not None:
            self._release(request_id, updated.task_token)
        return self.view(request_id)

    def approve(self, request_id: str, actor: str, record: Recorder = _no_record) -> dict[str, Any]:
        """A second compliance person approves releasing the export or executing the erasure."""
        request = self._open_request(request_id)
        if request.type not in APPROVAL_TYPES:
            raise RequestStateError("Only access, portability and erasure requests need an approval.")
        if request.verification is None:
            raise RequestStateError("The requester's identity has not been verified yet.")
        if actor in {request.filed_by, request.verification.by}:
            raise FourEyesError("A second person must approve: whoever filed or verified the request cannot.")
        if request.approval is not None:
            raise RequestStateError("The request was already approved.")
        record("privacy_request_approved", f"privacy/{request_id}")
        updated = self._record_once(request_id, "approval", Approval(by=actor, at=self.clock().isoformat()))
        if updated.status == RequestStatus.AWAITING_APPROVAL and updated.approval_token is not None:
            self._release(request_id, updated.approval_token)
        return self.view(request_id)

    def _request(self, request_id: str) -> PrivacyRequest:
        request = self.requests.get(request_id)
        if request is None:
            raise NotFoundError("No privacy request with this id.")
        return request

    def _open_request(self, request_id: str) -> PrivacyRequest:
        request = self._request(request_id)
        if request.closed:
            raise RequestStateError("The request is closed.")
        return request

    def _record_once(self, request_id: str, name: str, value: Verification | Approval) -> PrivacyRequest:
        updated = self.requests.record_once(request_id, name, value)
        if updated is None:
            raise RequestStateError("The request changed meanwhile; read it again.")
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
        request = self._request(request_id)
        if request.closed:
            raise RequestStateError("The request is closed; its deadline cannot change.")
        extended = add_months(request.due, body.months)
        if extended > add_months(datetime.fromisoformat(request.received_at), 3):
            raise RequestStateError("Art. 12(3) allows at most two further months after the first.")
        sealed = self._seal(request_id, body.reason)
        self.requests.extend(request_id, request.status, extended, sealed, self.clock())
        return self.view(request_id)

    def view(self, request_id: str, presign: Callable[[str, str], str] | None = None) -> dict[str, Any]:
        request = self._request(request_id)
        answer = {
            "request_id": request_id,
            "type": request.type,
            "status": str(request.status),
            "due_at": request.extended_due_at or request.due_at,
            "completed_at": request.completed_at,
            "history": [{"at": at, "status": status} for at, status in request.history],
            "result": self._visible_result(request, presign),
        }
        if request.verification is not None:
            v = request.verification
            answer["verification"] = {"method": v.method, "by": v.by, "at": v.at}
        if request.approval is not None:
            answer["approval"] = request.approval.to_value()
        return answer

    @staticmethod
    def _visible_result(request: PrivacyRequest, presign: Callable[[str, str], str] | None) -> Any:
        """The result as shown: an export's location never; a download link once the request completed."""
        if not (isinstance(request.result, dict) and "export" in request.result):
            return request.result
        result = dict(request.result)
        export = result.pop("export")
        if request.export_purged_at is not None:
            result["download"] = "expired"  # the exports retention period has passed: nothing to download
        elif presign is not None and request.status == RequestStatus.COMPLETED:
            result["download_url"] = presign(export["bucket"], export["key"])
            result["download_expires_in_seconds"] = DOWNLOAD_SECONDS
        # otherwise released only once the request completed (after the approval)
        return result

    def issue_download(self, request_id: str, actor: str) -> str:
        """A single-use ticket for the request's export, valid :data:`DOWNLOAD_SECONDS`; only its
        hash is stored, with the person it was issued to."""
        ticket = secrets.token_urlsafe(32)
        self.downloads.issue(_ticket_hash(ticket), request_id, actor, self.clock(), DOWNLOAD_SECONDS)
        return ticket

    def redeem_download(
        self, request_id: str, ticket: str, actor: str, record: Recorder = _no_record
    ) -> dict[str, str]:
        """Use a ticket once: the export's location, once the download is on record with the person.

        An unknown, used, expired or other request's ticket is 404 (nothing to tell apart)."""
        if not self.downloads.redeem(_ticket_hash(ticket), request_id, actor, self.clock()):
            raise NotFoundError("No valid download ticket: it was used, has expired or never existed.")
        request = self.requests.get(request_id)
        result = request.result if request is not None and isinstance(request.result, dict) else {}
        if (
            request is None
            or "export" not in result
            or request.export_purged_at is not None
            or request.status != RequestStatus.COMPLETED
        ):
            raise NotFoundError("No export to download for this request.")
        record("privacy_export_downloaded", f"privacy/{request_id}")  # on record before anything is released
        return {"bucket": result["export"]["bucket"], "key": result["export"]["key"]}

    def add_hold(self, body: HoldIn, record: Recorder = _no_record, actor: str | None = None) -> dict[str, Any]:
        """A legal hold on identifiers: stored against their MACs, so it protects whatever they
        reach when it is checked — including a subject whose first call comes later."""
        hold_id = f"hold-{uuid.uuid4().hex[:20]}"
        identifiers = body.subject.identifiers()
        hold = LegalHold(
            hold_id=hold_id,
            status=ACTIVE,
            created_at=self.clock().isoformat(),
            subject_kinds=tuple(kind for kind, _ in identifiers),
            subject_macs=tuple(self.pseudonymizer.mac(kind, value) for kind, value in identifiers),
            sealed_reason=self._seal(hold_id, body.reason),
            placed_by=actor,  # the person placing it, from their token (listed to compliance)
        )
        record("legal_hold_added", f"hold/{hold_id}")
        self.holds.place(hold)
        return {"hold_id": hold_id}

    def lift_hold(
        self,
        hold_id: str,
        record: Recorder = _no_record,
        actor: str | None = None,
        body: HoldLiftIn | None = None,
    ) -> None:
        """End a hold: who lifted it (from their token) and why (sealed like the reason it was placed for)."""
        hold = self.holds.get(hold_id, consistent=True)
        if hold is None:
            raise NotFoundError("No legal hold with this id.")
        if not hold.active:
            raise RequestStateError("The legal hold was lifted already.")
        record("legal_hold_lifted", f"hold/{hold_id}")
        sealed = None if body is None else self._seal(hold_id, body.reason)
        self.holds.lift(hold_id, self.clock(), lifted_by=actor, sealed_reason=sealed)
