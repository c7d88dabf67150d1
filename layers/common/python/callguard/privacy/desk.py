"""The compliance desk's lists: privacy requests by deadline, legal holds in force, and the
verification of one day of the audit chain.

Read-only and free of identifiers: a request appears with its id, type, status and dates, a hold
with its id, date, reason (unsealed for compliance, who wrote it) and the kinds of identifier it
covers, an audit day with counts and its verification result — never an identifier, a MAC or an
audit entry's content. The handler puts each read on the audit record before it happens.

The request list is a query of the privacy table's ``by_deadline`` index (never a scan,
:meth:`PrivacyRequests.list_by_deadline`). Its pages
continue with an opaque cursor: the position (a request id and a deadline, nothing personal),
bound to the filters and the page size, with an HMAC by the KMS HMAC key (``kms:GenerateMac``,
a message domain of its own), so a cursor cannot be forged, altered, or replayed against
other filters; the key never leaves KMS.

Every list is the desk's tenant's (its stores' :class:`TenantScope`): a listed tenant's desk never lists
the default tenant's requests or holds, nor the reverse. A listed tenant's cursor names its tenant under
the MAC, so one tenant's cursor replayed at another tenant's desk is refused like a forged one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from callguard.errors import InvalidRequestError
from callguard.models import RequestListQuery
from callguard.security.audit import AuditLog
from callguard.security.tenancy import DEFAULT_TENANT
from callguard.storage.holds import LegalHolds
from callguard.storage.requests import ListedRequest, PrivacyRequests

__all__ = ["ComplianceDesk", "InvalidCursorError"]

#: the cursor's MAC input starts with this; identifier MACs start with their kind (``phone:`` ...)
_CURSOR_DOMAIN = b"callguard-request-list-cursor-v1:"


class InvalidCursorError(InvalidRequestError):
    code = "invalid_cursor"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _iso(value: str) -> str:
    """A stored instant as the API answers it (``+00:00``)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()


@dataclass
class ComplianceDesk:
    requests: PrivacyRequests
    holds: LegalHolds
    audit: AuditLog
    kms: Any
    data_key_id: str
    #: the HMAC key (``kms:GenerateMac``) that makes cursors tamper-proof
    mac_key_id: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- requests ---------------------------------------------------------------------------

    def list_requests(self, query: RequestListQuery) -> dict[str, Any]:
        """One page of requests, newest deadline first; ``next_cursor`` while more may follow."""
        filters = query.filters()
        start = self._open_cursor(query.cursor, filters) if query.cursor else None
        page = self.requests.list_by_deadline(
            limit=query.limit,
            due_before=query.due_before,
            equals={"status": query.status, "type": query.type},
            start=start,
        )
        now = self.clock()
        return {
            "items": [self._list_item(request, now) for request in page.items],
            "next_cursor": self._seal_cursor(page.position, filters) if page.position else None,
        }

    @staticmethod
    def _list_item(request: ListedRequest, now: datetime) -> dict[str, Any]:
        return {
            "request_id": request.request_id,
            "type": request.type,
            "status": str(request.status),
            "due_at": request.due.isoformat(),
            "received_at": _iso(request.received_at),
            "completed_at": _iso(request.completed_at) if request.completed_at is not None else None,
            # calendar days until the deadline (negative: overdue); none once the request is closed
            "days_left": None if request.status.closed else (request.due.date() - now.astimezone(UTC).date()).days,
        }

    def _cursor_mac(self, payload: bytes) -> bytes:
        mac: bytes = self.kms.generate_mac(
            KeyId=self.mac_key_id, MacAlgorithm="HMAC_SHA_256", Message=_CURSOR_DOMAIN + payload
        )["Mac"]
        return mac

    @property
    def _tenant(self) -> str:
        return self.requests.scope.tenant

    def _seal_cursor(self, key: dict[str, Any], filters: dict[str, str | None]) -> str:
        content: dict[str, Any] = {"v": 1, "key": key, "filters": filters}
        if self._tenant != DEFAULT_TENANT:
            content["tenant"] = self._tenant  # the default tenant's cursors stay v1's
        payload = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._cursor_mac(payload))}"

    def _open_cursor(self, cursor: str, filters: dict[str, str | None]) -> dict[str, Any]:
        refused = InvalidCursorError("The cursor is not one this API issued; start again without it.")
        try:
            encoded_payload, encoded_mac = cursor.split(".")
            payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        except (ValueError, binascii.Error):
            raise refused from None
        if not payload or not hmac.compare_digest(mac, self._cursor_mac(payload)):
            raise refused
        content = json.loads(payload)  # our own bytes, as the MAC proves
        if content.get("tenant", DEFAULT_TENANT) != self._tenant:
            raise refused  # issued to another tenant's desk: as unknown here as a forged one
        if content.get("filters") != filters:
            raise InvalidCursorError("The cursor belongs to other filters; repeat the query it came with.")
        key: dict[str, Any] = content["key"]
        return key

    # -- holds ------------------------------------------------------------------------------

    def list_holds(self) -> dict[str, Any]:
        """Every legal hold in force, newest first: no identifier, only the kinds it covers."""
        items = []
        for standing in self.holds.standing():
            hold = self.holds.get(standing.hold_id)
            if hold is None or not hold.active:
                continue  # lifted between the two reads
            reason = hold.sealed_reason
            items.append(
                {
                    "hold_id": hold.hold_id,
                    "created_at": _iso(hold.created_at),
                    "placed_by": hold.placed_by,
                    "reason": None if reason is None else self._unseal(hold.hold_id, reason),
                    "identifier_kinds": sorted({kind for kind, _ in standing.identifiers}),
                }
            )
        items.sort(key=lambda h: (h["created_at"], h["hold_id"]), reverse=True)
        return {"items": items}

    def _unseal(self, hold_id: str, blob: bytes) -> str:
        plaintext = self.kms.decrypt(
            CiphertextBlob=blob, KeyId=self.data_key_id, EncryptionContext={"callguard:request_id": hold_id}
        )["Plaintext"]
        reason: str = json.loads(plaintext)
        return reason

    # -- audit ------------------------------------------------------------------------------

    def audit_day(self, day: date) -> dict[str, Any]:
        """Counts and the verification result of one UTC day of the audit chain; no entry content.

        The result is the audit module's own :meth:`AuditLog.verify`; counts and times come
        from the day's entries."""
        name = day.isoformat()
        entries = self.audit.entries(name)
        broken = self.audit.verify(name)
        times = sorted(at for at in (record.entry.get("at") for record in entries) if isinstance(at, str))
        return {
            "day": name,
            "entries": len(entries),
            "first_at": times[0] if times else None,
            "last_at": times[-1] if times else None,
            "intact": broken is None,
            "first_broken_position": None if broken is None else broken.sequence,
            "problem": None if broken is None else broken.problem,
        }
