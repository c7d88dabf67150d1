"""Privacy requests (Art. 12-22 GDPR) in the privacy table, with the compliance desk's request list.

Items (every key is built here):

* ``REQUEST#<id>``/``REQUEST`` — the request: type, status and history, dates, the subject as
  identifier MACs (and the resolved subject id), sealed free text; its result and erasure
  progress as JSON; the list keys ``request_list``/``deadline_at`` of the ``by_deadline`` index.
* ``SUBJECTREQUEST#<subject or mac:<mac>>``/``REQUEST#<id>`` — a subject's requests (listed in
  its exports), one per subject id and per identifier MAC.

A listed tenant's partition keys and its request list's index key begin with ``T#<tenant>#``
(:class:`TenantScope`), the default tenant's are v1's: each tenant has its own request list and its
own deadline check, another tenant's request id is not found, and request ids may repeat across tenants.

:class:`PrivacyRequests` reads items into :class:`PrivacyRequest` records and writes records and
plain values; the wire format stays in this package (:mod:`callguard.storage.wire`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.models import RequestStatus
from callguard.names import GSI_BY_DEADLINE, REQUEST_LIST_KEY
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.dynamo import all_items
from callguard.storage.expiry import expiry_attributes
from callguard.storage.scope import V1, TenantScope
from callguard.storage.wire import from_item, partition, partition_name, sort_key, to_attribute, to_item

__all__ = [
    "Approval",
    "DeadlineEntry",
    "ListedRequest",
    "PrivacyRequest",
    "PrivacyRequests",
    "RequestPage",
    "RequestSummary",
    "Verification",
    "deadline_entries",
    "deadline_key",
]

REQUEST = "REQUEST"
SUBJECT_REQUEST = "SUBJECTREQUEST"
CLOSED = tuple(sorted(s for s in RequestStatus if s.closed))
OPEN = tuple(s for s in RequestStatus if not s.closed)
#: index pages read per list page at most (a selective filter yields short pages with a cursor)
MAX_LIST_READS = 10
#: the attributes of a list position (the index's keys and the table's)
_POSITION = ("pk", "sk", "request_list", "deadline_at")


def deadline_key(moment: datetime) -> str:
    """The request list's sort key (index by_deadline): fixed-width UTC, so text order is time order."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # years padded


@dataclass(frozen=True)
class _Keys:
    """Every partition and index key of the requests, in one tenant's keys (the one place they are built)."""

    scope: TenantScope

    def request_partition(self, request_id: str) -> str:
        return self.scope.key(partition(REQUEST, request_id))

    def request(self, request_id: str) -> dict[str, Any]:
        return to_item({"pk": self.request_partition(request_id), "sk": REQUEST})

    def request_id_of(self, stored: str) -> str | None:
        """The request id of one of this tenant's request partitions (``None`` for another tenant's)."""
        unscoped = self.scope.unscoped(stored)
        return None if unscoped is None else partition_name(REQUEST, unscoped)

    def subject_listing(self, owner: str) -> str:
        return self.scope.key(partition(SUBJECT_REQUEST, owner))

    @property
    def request_list(self) -> str:
        """The partition of the request list (index ``by_deadline``)."""
        return self.scope.key(REQUEST_LIST_KEY)


def _history_entry(status: RequestStatus, now: datetime) -> dict[str, str]:
    return {"at": now.isoformat(), "status": str(status)}


def _is_condition_failure(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "ConditionalCheckFailedException")


@dataclass(frozen=True)
class Verification:
    """Who verified the requester's identity, how, when, and the sealed reference to the evidence."""

    by: str
    method: str
    at: str
    sealed_reference: bytes

    def to_value(self) -> dict[str, Any]:
        return {"by": self.by, "method": self.method, "sealed_reference": self.sealed_reference, "at": self.at}


@dataclass(frozen=True)
class Approval:
    """The second person's approval (``by: not_required`` where four-eyes is switched off)."""

    by: str
    at: str | None = None

    def to_value(self) -> dict[str, str]:
        return {"by": self.by} if self.at is None else {"by": self.by, "at": self.at}


@dataclass(frozen=True)
class PrivacyRequest:
    """One privacy request as stored: nothing personal in the clear (identifiers as MACs, free text sealed)."""

    request_id: str
    type: str
    status: RequestStatus
    received_at: str
    due_at: str
    subject_kinds: tuple[str, ...] = ()
    subject_macs: tuple[str, ...] = ()
    history: tuple[tuple[str, str], ...] = ()
    subject_id: str | None = None
    filed_by: str | None = None
    extended_due_at: str | None = None
    completed_at: str | None = None
    export_purged_at: str | None = None
    verification: Verification | None = None
    approval: Approval | None = None
    task_token: str | None = None
    approval_token: str | None = None
    sealed_changes: bytes | None = None
    sealed_note: bytes | None = None
    result: Any = None
    erasure: dict[str, Any] | None = None
    #: list keys (index by_deadline); absent on requests filed before the list existed
    listed: bool = True

    @property
    def identifiers(self) -> list[tuple[str, str]]:
        """``(kind, mac)`` of every identifier the request was filed with."""
        return list(zip(self.subject_kinds, self.subject_macs, strict=True))

    @property
    def due(self) -> datetime:
        """The deadline in force: the extended one where there is one (Art. 12(3))."""
        return datetime.fromisoformat(self.extended_due_at or self.due_at)

    @property
    def closed(self) -> bool:
        return self.status.closed


@dataclass(frozen=True)
class RequestSummary:
    """A request as a subject's export lists it."""

    request_id: str
    type: str | None
    received_at: str | None
    status: str | None


@dataclass(frozen=True)
class DeadlineEntry:
    """What the daily deadline check reads of a request."""

    request_id: str
    #: ``None`` for an item without one (never written so by this code)
    status: RequestStatus | None
    due: datetime
    listed: bool

    @property
    def open(self) -> bool:
        """The deadline (Art. 12(3)) still runs."""
        return self.status is not None and not self.status.closed


@dataclass(frozen=True)
class ListedRequest:
    """A request as the request list (index by_deadline) holds it: no identifier, no content."""

    request_id: str
    type: str
    status: RequestStatus
    received_at: str
    completed_at: str | None
    #: the deadline in force (the extended one where there is one)
    due: datetime


@dataclass(frozen=True)
class RequestPage:
    """One page of the request list; ``position`` (opaque) continues it, ``None`` at the end."""

    items: list[ListedRequest]
    position: dict[str, Any] | None


def _verification(value: Mapping[str, Any] | None) -> Verification | None:
    if value is None:
        return None
    return Verification(
        by=value["by"], method=value["method"], at=value["at"], sealed_reference=value["sealed_reference"]
    )


def _approval(value: Mapping[str, Any] | None) -> Approval | None:
    return None if value is None else Approval(by=value["by"], at=value.get("at"))


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def deadline_entries(stores: Sequence[PrivacyRequests]) -> Iterator[tuple[PrivacyRequests, DeadlineEntry]]:
    """Every open request and every request not yet in its tenant's list, of each of ``stores``' tenants
    (stores of one table), with the store of its tenant: one scan of the table for all of them, however
    many tenants the deployment lists; an item is each tenant's only under that tenant's prefix."""
    if not stores:
        return
    prefixes = {f":r{i}": store._keys.request_partition("") for i, store in enumerate(stores)}
    statuses = {f":o{i}": to_attribute(str(s)) for i, s in enumerate(OPEN)}
    items = all_items(
        stores[0].dynamodb,
        "scan",
        TableName=stores[0].table,
        FilterExpression=f"({' OR '.join(f'begins_with(pk, {name})' for name in prefixes)}) AND sk = :s "
        f"AND (#s IN ({', '.join(statuses)}) OR attribute_not_exists(request_list))",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={**to_item({**prefixes, ":s": REQUEST}), **statuses},
        ProjectionExpression="pk, #s, due_at, extended_due_at, request_list",
    )
    for item in items:
        data = from_item(item)
        for store, prefix in zip(stores, prefixes.values(), strict=True):
            request_id = store._keys.request_id_of(data["pk"])
            if request_id is None or not data["pk"].startswith(prefix):
                continue
            yield (
                store,
                DeadlineEntry(
                    request_id=request_id,
                    status=RequestStatus(data["status"]) if "status" in data else None,
                    due=datetime.fromisoformat(data.get("extended_due_at", data["due_at"])),
                    listed="request_list" in data,
                ),
            )
            break


def _listed(item: Mapping[str, Any]) -> ListedRequest:
    data = from_item(item)
    return ListedRequest(
        request_id=data["request_id"],
        type=data["type"],
        status=RequestStatus(data["status"]),
        received_at=data["received_at"],
        completed_at=data.get("completed_at"),
        due=datetime.fromisoformat(data["deadline_at"].replace("Z", "+00:00")),
    )


def _item_to_record(item: Mapping[str, Any], keys: _Keys) -> PrivacyRequest:
    """The stored item as a record (Powertools' ``_item_to_data_record``)."""
    data = from_item(item)
    return PrivacyRequest(
        request_id=data.get("request_id") or keys.request_id_of(data["pk"]) or "",
        type=data.get("type", ""),
        status=RequestStatus(data["status"]),
        received_at=data.get("received_at", ""),
        due_at=data["due_at"],
        subject_kinds=tuple(data.get("subject_kinds", ())),
        subject_macs=tuple(data.get("subject_macs", ())),
        history=tuple((h["at"], h["status"]) for h in data.get("history", ())),
        subject_id=data.get("subject_id"),
        filed_by=data.get("filed_by"),
        extended_due_at=data.get("extended_due_at"),
        completed_at=data.get("completed_at"),
        export_purged_at=data.get("export_purged_at"),
        verification=_verification(data.get("verification")),
        approval=_approval(data.get("approval")),
        task_token=data.get("task_token"),
        approval_token=data.get("approval_token"),
        sealed_changes=data.get("sealed_changes"),
        sealed_note=data.get("sealed_note"),
        result=_json(data.get("result")),
        erasure=_json(data.get("erasure")),
        listed="request_list" in data,
    )


@dataclass
class PrivacyRequests:
    """The requests of the privacy table (see the module's docstring for the items)."""

    dynamodb: Any
    table: str
    retention: RetentionPolicy
    scope: TenantScope = V1

    @property
    def _keys(self) -> _Keys:
        return _Keys(self.scope)

    # -- writing -------------------------------------------------------------------------------
    def create(self, request: PrivacyRequest, now: datetime) -> None:
        """Store a new request: first the subject's listings (its id, each identifier MAC), then the
        request itself, once (a second write of the same id fails)."""
        expiry = expiry_attributes(self.retention, DataCategory.PRIVACY_REQUESTS, now, self.scope)
        owners = [*([request.subject_id] if request.subject_id else []), *(f"mac:{m}" for m in request.subject_macs)]
        for owner in owners:
            listing = {
                "pk": self._keys.subject_listing(owner),
                "sk": sort_key(REQUEST, request.request_id),
                "request_id": request.request_id,
                "received_at": request.received_at,
            }
            self.dynamodb.put_item(TableName=self.table, Item={**to_item(listing), **expiry})
        due = datetime.fromisoformat(request.due_at)
        values = {
            "pk": self._keys.request_partition(request.request_id),
            "sk": REQUEST,
            "request_id": request.request_id,
            "type": str(request.type),
            "status": str(request.status),
            "received_at": request.received_at,
            "due_at": request.due_at,
            # the compliance desk's list (index by_deadline): every request, by its current deadline
            "request_list": self._keys.request_list,
            "deadline_at": deadline_key(due),
            "subject_macs": list(request.subject_macs),
            "subject_kinds": list(request.subject_kinds),
            "filed_by": request.filed_by,
            "history": [{"at": at, "status": str(status)} for at, status in request.history],
            "subject_id": request.subject_id,
            "sealed_changes": request.sealed_changes,
            "sealed_note": request.sealed_note,
        }
        self.dynamodb.put_item(
            TableName=self.table, Item={**to_item(values), **expiry}, ConditionExpression="attribute_not_exists(pk)"
        )

    def transition(self, request_id: str, status: RequestStatus, now: datetime, **fields: Any) -> None:
        """Set the status (and ``fields``, plain values), appending a history entry; nothing personal in either."""
        names = {"#s": "status", "#h": "history"}
        values: dict[str, Any] = {
            ":s": to_attribute(str(status)),
            ":h": to_attribute([_history_entry(status, now)]),
            ":empty": to_attribute([]),
        }
        sets = ["#s = :s", "#h = list_append(if_not_exists(#h, :empty), :h)"]
        for index, (name, value) in enumerate(fields.items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = to_attribute(value)
            sets.append(f"#f{index} = :f{index}")
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._keys.request(request_id),
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
            fields["result"] = json.dumps(result)
        if erasure is not None:
            fields["erasure"] = json.dumps(erasure)
        if completed:
            fields["completed_at"] = now.isoformat()
        self.transition(request_id, status, now, **fields)

    def extend(
        self, request_id: str, status: RequestStatus, extended: datetime, sealed_reason: bytes, now: datetime
    ) -> None:
        """The extended deadline (Art. 12(3)), with its sealed reason; the request moves in the list."""
        self.transition(
            request_id,
            status,
            now,
            extended_due_at=extended.isoformat(),
            request_list=self._keys.request_list,
            deadline_at=deadline_key(extended),
            sealed_extension_reason=sealed_reason,
        )

    def approve_without_second_person(self, request_id: str, now: datetime) -> None:
        """Four-eyes switched off: the approval is on record as not required, the request goes on."""
        self.transition(request_id, RequestStatus.IN_PROGRESS, now, approval=Approval("not_required").to_value())

    def wait(
        self, request_id: str, status: RequestStatus, token_name: str, token: str, given: str, now: datetime
    ) -> bool:
        """Store the workflow's task token under ``token_name`` and move to ``status`` — unless
        ``given`` (the verification, the approval) was recorded first: then ``False``, nothing stored."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._keys.request(request_id),
                UpdateExpression="SET #s = :s, #t = :t, #h = list_append(if_not_exists(#h, :empty), :h)",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#g)",
                ExpressionAttributeNames={"#s": "status", "#t": token_name, "#h": "history", "#g": given},
                ExpressionAttributeValues={
                    ":s": to_attribute(str(status)),
                    ":t": to_attribute(token),
                    ":h": to_attribute([_history_entry(status, now)]),
                    ":empty": to_attribute([]),
                },
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return False
        return True

    def record_once(self, request_id: str, name: str, value: Verification | Approval) -> PrivacyRequest | None:
        """Set ``name`` (``verification``, ``approval``) once on an open request: the request as it is
        now, or ``None`` when it was set already, the request closed or is gone."""
        try:
            updated = self.dynamodb.update_item(
                TableName=self.table,
                Key=self._keys.request(request_id),
                UpdateExpression="SET #n = :v",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#n) AND NOT #s IN (:c1, :c2, :c3)",
                ExpressionAttributeNames={"#n": name, "#s": "status"},
                ExpressionAttributeValues={
                    ":v": to_attribute(value.to_value()),
                    **{f":c{i}": to_attribute(str(status)) for i, status in enumerate(CLOSED, start=1)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return _item_to_record(updated, self._keys)

    def mark_export_purged(self, request_id: str, now: datetime) -> None:
        """The request's export passed its retention period and was deleted."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._keys.request(request_id),
                UpdateExpression="SET export_purged_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": to_attribute(now.isoformat())},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    # -- reading -------------------------------------------------------------------------------
    def get(self, request_id: str) -> PrivacyRequest | None:
        key = self._keys.request(request_id)
        item = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return None if item is None else _item_to_record(item, self._keys)

    def summary(self, request_id: str) -> RequestSummary:
        """Id, type, status and receipt of a request (all ``None`` but the id when it is gone)."""
        request = self.get(request_id)
        if request is None:
            return RequestSummary(request_id, None, None, None)
        return RequestSummary(request_id, request.type, request.received_at, str(request.status))

    def subject_requests(self, owner: str) -> list[str]:
        """Ids of the requests filed for a subject id or an identifier (``mac:<mac>``), oldest first."""
        items = all_items(
            self.dynamodb,
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": to_attribute(self._keys.subject_listing(owner))},
        )
        listings = sorted((from_item(i) for i in items), key=lambda i: i["received_at"])
        return [listing["request_id"] for listing in listings]

    # -- the request list (index by_deadline) -----------------------------------------------
    def list_by_deadline(
        self,
        *,
        limit: int,
        due_before: datetime | None = None,
        equals: Mapping[str, str | None] | None = None,
        start: dict[str, Any] | None = None,
    ) -> RequestPage:
        """Up to ``limit`` requests, latest deadline first, with a deadline before ``due_before`` and
        the attributes ``equals`` names (``None``: any); a page continues after ``start``."""
        names: dict[str, str] = {"#l": "request_list"}
        values: dict[str, Any] = {":l": to_attribute(self._keys.request_list)}
        condition = "#l = :l"
        if due_before is not None:
            condition += " AND #d < :d"
            names["#d"] = "deadline_at"
            values[":d"] = to_attribute(deadline_key(due_before))
        wanted = []
        for name, value in (equals or {}).items():
            if value is not None:
                names[f"#{name}"], values[f":{name}"] = name, to_attribute(value)
                wanted.append(f"#{name} = :{name}")
        params: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": GSI_BY_DEADLINE,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": max(limit + 1, 50),
        }
        if wanted:
            params["FilterExpression"] = " AND ".join(wanted)
        found, last = self._read_list(params, limit, start)
        if len(found) > limit:  # more follow: continue right after the last item shown
            found = found[:limit]
            last = {k: found[-1][k] for k in _POSITION}
        return RequestPage([_listed(item) for item in found], last)

    def _read_list(
        self, params: dict[str, Any], limit: int, start: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        found: list[dict[str, Any]] = []
        last = start
        for _ in range(MAX_LIST_READS):
            page = self.dynamodb.query(**params, **({"ExclusiveStartKey": last} if last else {}))
            found.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if last is None or len(found) > limit:
                break
        return found, last

    # -- the daily deadline check ---------------------------------------------------------------
    def deadline_entries(self) -> Iterator[DeadlineEntry]:
        """Every open request and every request not yet in the list of this tenant, in one scan of the table."""
        for _, entry in deadline_entries([self]):
            yield entry

    def enlist(self, entry: DeadlineEntry) -> bool:
        """Give a request filed before the request list existed its two list keys (only those), once:
        ``False`` when it was listed meanwhile (or is gone)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._keys.request(entry.request_id),
                UpdateExpression="SET request_list = :l, deadline_at = :d",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(request_list)",
                ExpressionAttributeValues=to_item({":l": self._keys.request_list, ":d": deadline_key(entry.due)}),
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return False
        return True
