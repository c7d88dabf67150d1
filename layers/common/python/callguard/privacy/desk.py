"""The compliance desk's lists: privacy requests by deadline, legal holds in force, and the
verification of one day of the audit chain.

Read-only and free of identifiers: a request appears with its id, type, status and dates, a hold
with its id, date, reason (unsealed for compliance, who wrote it) and the kinds of identifier it
covers, an audit day with counts and its verification result — never an identifier, a MAC or an
audit entry's content. The handler puts each read on the audit record before it happens.

The request list is a query of the privacy table's ``by_deadline`` index (never a scan). Its pages
continue with an opaque cursor: the position (a request id and a deadline, nothing personal),
bound to the filters and the page size, with an HMAC by the KMS HMAC key (``kms:GenerateMac``,
a message domain of its own), so a cursor cannot be forged, altered, or replayed against
other filters; the key never leaves KMS.
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
from callguard.names import GSI_BY_DEADLINE, REQUEST_LIST_KEY
from callguard.privacy.workflow import CLOSED, PrivacyRequests, deadline_key
from callguard.security.audit import AuditLog

__all__ = ["ComplianceDesk", "InvalidCursorError"]

#: the cursor's MAC input starts with this; identifier MACs start with their kind (``phone:`` ...)
_CURSOR_DOMAIN = b"callguard-request-list-cursor-v1:"
_CURSOR_KEYS = ("pk", "sk", "request_list", "deadline_at")
#: index pages read per list page at most (a selective filter yields short pages with a cursor)
_MAX_READS = 10


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
        names: dict[str, str] = {"#l": "request_list"}
        values: dict[str, Any] = {":l": {"S": REQUEST_LIST_KEY}}
        condition = "#l = :l"
        if query.due_before is not None:
            condition += " AND #d < :d"
            names["#d"] = "deadline_at"
            values[":d"] = {"S": deadline_key(query.due_before)}
        wanted = []
        for field, value in (("status", query.status), ("type", query.type)):
            if value is not None:
                names[f"#{field}"], values[f":{field}"] = field, {"S": value}
                wanted.append(f"#{field} = :{field}")
        params: dict[str, Any] = {
            "TableName": self.requests.table,
            "IndexName": GSI_BY_DEADLINE,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": max(query.limit + 1, 50),
        }
        if wanted:
            params["FilterExpression"] = " AND ".join(wanted)
        found: list[dict[str, Any]] = []
        last: dict[str, Any] | None = start
        for _ in range(_MAX_READS):
            page = self.requests.dynamodb.query(**params, **({"ExclusiveStartKey": last} if last else {}))
            found.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if last is None or len(found) > query.limit:
                break
        if len(found) > query.limit:  # more follow: continue right after the last item shown
            found = found[: query.limit]
            last = {k: found[-1][k] for k in _CURSOR_KEYS}
        now = self.clock()
        return {
            "items": [self._list_item(item, now) for item in found],
            "next_cursor": self._seal_cursor(last, filters) if last else None,
        }

    @staticmethod
    def _list_item(item: dict[str, Any], now: datetime) -> dict[str, Any]:
        due = datetime.fromisoformat(item["deadline_at"]["S"].replace("Z", "+00:00"))
        status = item["status"]["S"]
        return {
            "request_id": item["request_id"]["S"],
            "type": item["type"]["S"],
            "status": status,
            "due_at": due.isoformat(),
            "received_at": _iso(item["received_at"]["S"]),
            "completed_at": _iso(item["completed_at"]["S"]) if "completed_at" in item else None,
            # calendar days until the deadline (negative: overdue); none once the request is closed
            "days_left": None if status in CLOSED else (due.date() - now.astimezone(UTC).date()).days,
        }

    def _cursor_mac(self, payload: bytes) -> bytes:
        mac: bytes = self.kms.generate_mac(
            KeyId=self.mac_key_id, MacAlgorithm="HMAC_SHA_256", Message=_CURSOR_DOMAIN + payload
        )["Mac"]
        return mac

    def _seal_cursor(self, key: dict[str, Any], filters: dict[str, str | None]) -> str:
        payload = json.dumps({"v": 1, "key": key, "filters": filters}, sort_keys=True, separators=(",", ":")).encode()
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
        if content.get("filters") != filters:
            raise InvalidCursorError("The cursor belongs to other filters; repeat the query it came with.")
        key: dict[str, Any] = content["key"]
        return key

    # -- holds ------------------------------------------------------------------------------

    def list_holds(self) -> dict[str, Any]:
        """Every legal hold in force, newest first: no identifier, only the kinds it covers."""
        standing = self.requests.active_holds()
        items = []
        for hold_id, identifiers in standing:
            record = self._hold(hold_id)
            if record is None or record["status"]["S"] != "active":
                continue  # lifted between the two reads
            reason = record.get("sealed_reason", {}).get("B")
            items.append(
                {
                    "hold_id": hold_id,
                    "created_at": _iso(record["created_at"]["S"]),
                    "placed_by": record.get("placed_by", {}).get("S"),
                    "reason": None if reason is None else self._unseal(hold_id, reason),
                    "identifier_kinds": sorted({kind for kind, _ in identifiers}),
                }
            )
        items.sort(key=lambda h: (h["created_at"], h["hold_id"]), reverse=True)
        return {"items": items}

    def _hold(self, hold_id: str) -> dict[str, Any] | None:
        item = self.requests.dynamodb.get_item(
            TableName=self.requests.table, Key={"pk": {"S": f"HOLD#{hold_id}"}, "sk": {"S": "HOLD"}}
        ).get("Item")
        return None if item is None else dict(item)

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
        entries = self.audit.entries(f"AUDIT#{name}")
        broken = self.audit.verify(name)
        times = [json.loads(item["entry"]["S"]).get("at") for item in entries]
        times = sorted(t for t in times if isinstance(t, str))
        return {
            "day": name,
            "entries": len(entries),
            "first_at": times[0] if times else None,
            "last_at": times[-1] if times else None,
            "intact": broken is None,
            "first_broken_position": None if broken is None else broken.sequence,
            "problem": None if broken is None else broken.problem,
        }
