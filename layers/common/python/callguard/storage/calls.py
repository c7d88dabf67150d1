"""The calls table: calls, their transcript markers, analyses, follow-ups, routing decisions and
resolution statistics.

* ``CALL#<call_id>``/``CALL`` — the call's metadata; transcript text only as a pointer to the
  sealed S3 object; ``sealed_metadata`` sealed under the subject key.
* ``CALL#<call_id>``/``TRANSCRIPT`` — marks the sealed object for the transcripts retention
  category (the purge's handle on it).
* ``CALL#<call_id>``/``ANALYSIS`` (redacted) and ``/FOLLOWUP``.
* ``DECISION#<id>``/``DECISION`` — a routing decision; ``STATS#<intent>``/``RESOLUTION#<phrase>``
  — how often agents closed calls of an intent with a phrase (aggregates only).

Every key is built by one function of this module; items come back as typed records.

Tenants (:mod:`callguard.storage.scope`): a repository serves one tenant. Its scope prefixes every
partition key (``CALL#``, ``DECISION#``, ``STATS#``) and every index key it writes: ``subject_id``
(``by_subject``), ``followup_status`` (``by_due``) and the expiry index's key. The default tenant
keeps v1's keys byte for byte; a listed tenant's are ``T#<tenant>#…``, so two tenants may use the
same call id, a read of another tenant's call builds a key it does not have and finds nothing, and
a listing keeps only what the scope owns. Records come back in v1's form (unprefixed ids).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.names import GSI_BY_DUE, GSI_BY_SUBJECT
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.call_records import (
    CallPartition,
    CallRecord,
    Decision,
    Followup,
    ImportedOrigin,
    NewCall,
    SegmentMeta,
    new_call_item,
    pointer_wire,
    segments_wire,
)
from callguard.storage.dynamo import (
    BatchRead,
    ItemKey,
    TransactionCanceledError,
    Write,
    all_items,
    delete_keys,
    from_item,
    is_condition_failure,
    partition_items,
    write_together,
)
from callguard.storage.expiry import expiry_attributes
from callguard.storage.scope import V1, TenantScope

__all__ = [
    "CallPartition",
    "CallRecord",
    "CallsRepository",
    "ImportedOrigin",
    "NewCall",
    "SegmentMeta",
]

_CALL = "CALL#"
_DECISION = "DECISION#"
_STATS = "STATS#"


# -- keys: each built in exactly one place (v1's form; :meth:`CallsRepository._scoped` adds the tenant) --
def _call_partition(call_id: str) -> str:
    return f"{_CALL}{call_id}"


def _call_id_of(partition: str | None) -> str | None:
    """The call id of a (v1) ``CALL#<id>`` partition (``None`` for another partition)."""
    if partition is None or not partition.startswith(_CALL):
        return None
    return partition.removeprefix(_CALL)


def _call_key(call_id: str, sk: str = "CALL") -> ItemKey:
    """``CALL#<id>`` with sort key ``CALL``, ``TRANSCRIPT``, ``ANALYSIS`` or ``FOLLOWUP``."""
    return ItemKey(_call_partition(call_id), sk)


def _decision_key(decision_id: str) -> ItemKey:
    return ItemKey(f"{_DECISION}{decision_id}", "DECISION")


def _stats_partition(intent: str) -> str:
    return f"{_STATS}{intent}"


def _resolution_key(intent: str, phrase: str) -> ItemKey:
    return ItemKey(_stats_partition(intent), f"RESOLUTION#{phrase.lower()}")


#: the ``by_due`` index's partition values (v1's form)
_OPEN, _CLOSED = "open", "closed"
#: the attributes of an item that are index keys the scope prefixes (v1's names)
_SCOPED_ATTRIBUTES = ("subject_id", "followup_status")


class CallsRepository:
    """The calls table as one tenant sees it (``scope``: v1's keys for the default tenant)."""

    def __init__(self, *, dynamodb: Any, table: str, retention: RetentionPolicy, scope: TenantScope = V1) -> None:
        self._ddb = dynamodb
        self._table = table
        self._retention = retention
        self._scope = scope

    @property
    def scope(self) -> TenantScope:
        return self._scope

    # -- the tenant: the one place its prefix is added and taken off -----------------------------
    def _scoped(self, key: ItemKey) -> ItemKey:
        """A v1 key as this tenant stores it (the partition prefixed; sort keys stay)."""
        return ItemKey(self._scope.key(key.pk), key.sk)

    def _call(self, call_id: str, sk: str = "CALL") -> ItemKey:
        return self._scoped(_call_key(call_id, sk))

    def _index_value(self, value: str) -> str:
        """An index key attribute (a subject id, a follow-up status) as this tenant stores it."""
        return self._scope.key(value)

    def _expiry(self, category: DataCategory, now: datetime) -> dict[str, Any]:
        return expiry_attributes(self._retention, category, now, self._scope)

    def _unscoped(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """A stored item with its index key attributes in v1's form (ids as the services know them)."""
        plain = dict(item)
        for name in _SCOPED_ATTRIBUTES:
            if name in plain and "S" in plain[name]:
                value = self._scope.unscoped(plain[name]["S"])
                if value is None:
                    raise LookupError("An item of another tenant was read.")  # never: keys are this tenant's
                plain[name] = {"S": value}
        return plain

    def _record(self, item: Mapping[str, Any]) -> CallRecord:
        return CallRecord.of(self._unscoped(item))

    def _followup(self, item: Mapping[str, Any]) -> Followup:
        return Followup.of(self._unscoped(item))

    def _call_id_of(self, partition: str) -> str | None:
        """The call id of a stored partition this tenant owns (``None`` for any other)."""
        return _call_id_of(self._scope.unscoped(partition))

    @property
    def dynamodb(self) -> Any:
        """The DynamoDB client (for a transaction that spans this table and another)."""
        return self._ddb

    def partition_of(self, call_id: str) -> str:
        """The partition of a call's items (as :meth:`partitions_of` lists them)."""
        return self._call(call_id).pk

    # -- the call item -------------------------------------------------------------------------
    def get(self, call_id: str) -> CallRecord | None:
        key = self._call(call_id).wire()
        item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return None if item is None else self._record(item)

    def prefetch(self, batch: BatchRead, call_id: str) -> Callable[[], CallRecord | None]:
        """The call, read with the other items of ``batch``."""
        found = batch.add(self._table, self._call(call_id).wire())
        return lambda: None if (item := found()) is None else self._record(item)

    def put_new(self, call: NewCall, now: datetime) -> CallRecord | None:
        """Store a new call; returns the existing record instead when the id is taken."""
        extra = {} if call.imported is None else {"imported": call.imported.wire()}
        item = {
            **self._call(call.call_id).wire(),
            **extra,
            **new_call_item(call),
            "subject_id": {"S": self._index_value(call.subject_id)},  # the by-subject index key
            "created_at": {"S": now.isoformat()},
            **self._expiry(DataCategory.CALLS, now),
        }
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            old = (
                exc.response.get("Item")
                or self._ddb.get_item(TableName=self._table, Key=self._call(call.call_id).wire(), ConsistentRead=True)[
                    "Item"
                ]
            )
            return self._record(old)
        return None

    def mark_enqueued(self, call_id: str, now: datetime) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=self._call(call_id).wire(),
            UpdateExpression="SET enqueued_at = :now",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}},
        )

    # -- the transcript -------------------------------------------------------------------------
    def mark_transcript(self, call_id: str, subject_id: str, bucket: str, key: str, now: datetime) -> bool:
        """Record the sealed transcript object for the transcripts retention category.

        Written before the object, once per call (the first write's expiry holds), so no
        transcript object exists that the purge cannot find. True when this call wrote it.
        """
        try:
            self.transcript_marker_write(call_id, subject_id, bucket, key, now).run(self._ddb)
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            return False
        return True

    def transcript_marker_write(self, call_id: str, subject_id: str, bucket: str, key: str, now: datetime) -> Write:
        """:meth:`mark_transcript` as a transaction entry (cancels the transaction when the call's
        marker exists already)."""
        return Write(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **self._call(call_id, "TRANSCRIPT").wire(),
                        "call_id": {"S": call_id},
                        "subject_id": {"S": self._index_value(subject_id)},
                        "object_bucket": {"S": bucket},
                        "object_key": {"S": key},
                        "created_at": {"S": now.isoformat()},
                        **self._expiry(DataCategory.TRANSCRIPTS, now),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )

    def delete_transcript_marker(self, call_id: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=self._call(call_id, "TRANSCRIPT").wire())

    def forget_transcript(self, call_id: str) -> None:
        """Drop the call's pointer to a purged transcript (the call item may be gone already)."""
        self._forget_transcript(self._call(call_id))

    def _forget_transcript(self, call: ItemKey) -> None:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=call.wire(),
                UpdateExpression="REMOVE transcript SET transcript_purged = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def forget_purged_transcript(self, key: ItemKey) -> None:
        """A transcript marker the purge removed (its key, as the expiry index gave it): the call
        learns its transcript is gone."""
        if key.sk == "TRANSCRIPT":
            # the marker's partition as stored (a purge may read every tenant's index): the call is beside it
            self._forget_transcript(ItemKey(key.pk, "CALL"))

    def append_segment_meta(self, call_id: str, segments: list[SegmentMeta]) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=self._call(call_id).wire(),
            UpdateExpression="SET #segments = list_append(if_not_exists(#segments, :empty), :new)",
            ExpressionAttributeNames={"#segments": "segments"},  # a reserved word in DynamoDB
            ExpressionAttributeValues={":new": segments_wire(segments), ":empty": {"L": []}},
        )

    def replace_transcript(
        self,
        call_id: str,
        pointer: Mapping[str, str],
        previous: Mapping[str, str] | None,
        segments: list[SegmentMeta],
    ) -> None:
        """Point the call at the new sealed transcript version — only if nobody else did meanwhile
        (``ConditionalCheckFailedException`` otherwise)."""
        values: dict[str, Any] = {":p": pointer_wire(pointer), ":new": segments_wire(segments), ":empty": {"L": []}}
        if previous is None:
            condition = "attribute_not_exists(transcript)"
        else:
            condition = "transcript.#key = :old_key" + (
                " AND transcript.version_id = :old" if "version_id" in previous else ""
            )
            values[":old_key"] = {"S": previous["key"]}
            if "version_id" in previous:
                values[":old"] = {"S": previous["version_id"]}
        self._ddb.update_item(
            TableName=self._table,
            Key=self._call(call_id).wire(),
            UpdateExpression="SET transcript = :p, #segments = list_append(if_not_exists(#segments, :empty), :new)",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ExpressionAttributeNames={"#segments": "segments", **({"#key": "key"} if previous is not None else {})},
        )

    # -- live assistance -------------------------------------------------------------------------
    def set_live_intent(self, call_id: str, intent: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=self._call(call_id).wire(),
            UpdateExpression="SET live_intent = :i",
            ExpressionAttributeValues={":i": {"S": intent}},
        )

    def append_live_sentiment(self, call_id: str, labels: list[str]) -> list[str]:
        attributes = self._ddb.update_item(
            TableName=self._table,
            Key=self._call(call_id).wire(),
            UpdateExpression="SET live_sentiments = list_append(if_not_exists(live_sentiments, :empty), :new)",
            ExpressionAttributeValues={":new": {"L": [{"S": label} for label in labels]}, ":empty": {"L": []}},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]
        return [str(label) for label in from_item(attributes)["live_sentiments"]]

    def record_resolution(self, intent: str, phrases: list[str], now: datetime) -> None:
        """Count, per intent, the phrases with which agents closed calls (aggregates only)."""
        for phrase in phrases:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._scoped(_resolution_key(intent, phrase)).wire(),
                UpdateExpression="ADD calls :one SET phrase = :p, updated_at = :now",
                ExpressionAttributeValues={":one": {"N": "1"}, ":p": {"S": phrase}, ":now": {"S": now.isoformat()}},
            )

    def resolutions(self, intent: str, limit: int = 50) -> list[tuple[str, int]]:
        items = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :r)",
            ExpressionAttributeValues={
                ":p": {"S": self._scope.key(_stats_partition(intent))},
                ":r": {"S": "RESOLUTION#"},
            },
            Limit=limit,
        )["Items"]
        ranked = sorted(((d["phrase"], int(d["calls"])) for d in map(from_item, items)), key=lambda x: -x[1])
        return ranked

    # -- analysis and follow-ups -------------------------------------------------------------------
    def get_analysis(self, call_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=self._call(call_id, "ANALYSIS").wire(), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        analysis: dict[str, Any] = json.loads(item["analysis"]["S"])
        return analysis

    def put_analysis(
        self,
        call_id: str,
        analysis: dict[str, Any],
        now: datetime,
        followup: dict[str, Any] | None = None,
        subject_id: str | None = None,
    ) -> bool:
        """Store the (redacted) analysis, the call's analysis status and any follow-up
        together, once. Returns False when an analysis already existed (a redelivery)."""
        status = str(analysis["status"])
        writes = [] if followup is None else [self._followup_write(call_id, followup, now)]
        writes.append(self._analysis_write(call_id, analysis, status, now, subject_id))
        writes.append(
            Write(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._call(call_id).wire(),
                        "UpdateExpression": "SET analysis_status = :s, analysed_at = :now",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":s": {"S": status}, ":now": {"S": now.isoformat()}},
                    }
                }
            )
        )
        try:
            write_together(self._ddb, writes)
        except TransactionCanceledError:
            return False
        return True

    def _followup_write(self, call_id: str, followup: dict[str, Any], now: datetime) -> Write:
        return Write(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **self._call(call_id, "FOLLOWUP").wire(),
                        "followup_id": {"S": followup["followup_id"]},
                        "call_id": {"S": call_id},
                        "subject_id": {"S": self._index_value(followup["subject_id"])},
                        "created_at": {"S": now.isoformat()},
                        "due_at": {"S": followup["due_at"]},
                        "reason": {"S": followup["reason"]},
                        "followup_status": {"S": self._index_value(_OPEN)},
                        **self._expiry(DataCategory.FOLLOWUPS, now),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )

    def _analysis_write(
        self, call_id: str, analysis: dict[str, Any], status: str, now: datetime, subject_id: str | None
    ) -> Write:
        return Write(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **self._call(call_id, "ANALYSIS").wire(),
                        "call_id": {"S": call_id},
                        "status": {"S": status},
                        "analysis": {"S": json.dumps(analysis, ensure_ascii=False, separators=(",", ":"))},
                        "created_at": {"S": now.isoformat()},
                        **self._expiry(DataCategory.ANALYSES, now),
                        # found by access/erasure requests and held by legal holds
                        **({"subject_id": {"S": self._index_value(subject_id)}} if subject_id else {}),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        )

    def close_followups(self, subject_id: str, except_call: str, now: datetime) -> int:
        closed = 0
        for key in self.subject_items(subject_id):
            if key.sk != "FOLLOWUP" or key == self._call(except_call, "FOLLOWUP"):
                continue
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=key.wire(),
                    UpdateExpression="SET followup_status = :closed, closed_at = :now",
                    ConditionExpression="followup_status = :open",
                    ExpressionAttributeValues={
                        ":closed": {"S": self._index_value(_CLOSED)},
                        ":open": {"S": self._index_value(_OPEN)},
                        ":now": {"S": now.isoformat()},
                    },
                )
                closed += 1
            except ClientError as exc:
                if not is_condition_failure(exc):
                    raise
        return closed

    def followups_due(self, due_before: str, limit: int = 100) -> list[dict[str, Any]]:
        """Open follow-ups due before ``due_before`` (ISO-8601), earliest first."""
        page = self._ddb.query(
            TableName=self._table,
            IndexName=GSI_BY_DUE,
            KeyConditionExpression="followup_status = :s AND due_at < :d",
            ExpressionAttributeValues={":s": {"S": self._index_value(_OPEN)}, ":d": {"S": due_before}},
            Limit=limit,
        )
        keys = [key for key in map(ItemKey.of, page["Items"]) if self._scope.owns(key.pk)]
        items = [self._get_item(key) for key in keys]
        return [self._followup(i).as_dict() for i in items if i is not None]

    def _get_item(self, key: ItemKey) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key=key.wire()).get("Item")
        return None if item is None else dict(item)

    # -- a subject's items ----------------------------------------------------------------------------
    def subject_items(self, subject_id: str, since: datetime | None = None) -> list[ItemKey]:
        """Keys of the subject's items (created since ``since``, if given) via the by-subject index."""
        condition, values = "subject_id = :s", {":s": {"S": self._index_value(subject_id)}}
        if since is not None:
            condition += " AND created_at >= :t"
            values[":t"] = {"S": since.isoformat()}
        items = all_items(
            self._ddb,
            "query",
            TableName=self._table,
            IndexName=GSI_BY_SUBJECT,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
        return [key for key in map(ItemKey.of, items) if self._scope.owns(key.pk)]

    def partitions_of(self, subject_id: str) -> list[str]:
        """The partitions holding the subject's calls and decisions, sorted."""
        return sorted({key.pk for key in self.subject_items(subject_id)})

    def recent_activity(self, subject_id: str, since: datetime) -> tuple[list[str], int]:
        """The ids of the subject's calls since ``since`` (sorted) and how many of its follow-ups are open."""
        keys = self.subject_items(subject_id, since)
        call_ids = sorted({str(self._call_id_of(key.pk)) for key in keys if key.sk == "CALL"})
        open_followups = 0
        for key in keys:
            if key.sk == "FOLLOWUP" and (item := self._get_item(key)) and self._followup(item).status == _OPEN:
                open_followups += 1
        return call_ids, open_followups

    def partition(self, partition: str) -> CallPartition:
        """Every item of one partition (as :meth:`partitions_of` or :meth:`partition_of` named it); another
        tenant's partition is not read: nothing is found there."""
        owned = self._scope.owns(partition)
        items = {i["sk"]["S"]: i for i in partition_items(self._ddb, self._table, partition)} if owned else {}
        decision = items.get("DECISION")
        return CallPartition(
            partition=partition,
            keys=tuple(ItemKey.of(i) for i in items.values()),
            call_id=self._call_id_of(partition),
            call=self._record(items["CALL"]) if "CALL" in items else None,
            analysis=json.loads(items["ANALYSIS"]["analysis"]["S"]) if "ANALYSIS" in items else None,
            followup=self._followup(items["FOLLOWUP"]) if "FOLLOWUP" in items else None,
            decision=None
            if decision is None
            else Decision(decision["created_at"]["S"], json.loads(decision["decision"]["S"])),
        )

    def delete(self, keys: list[ItemKey]) -> int:
        """Delete items of this table by key (batched, unprocessed items retried); all of this tenant's,
        else nothing is deleted."""
        if not all(self._scope.owns(key.pk) for key in keys):
            raise ValueError("Only this tenant's items are deleted.")
        return delete_keys(self._ddb, self._table, [k.wire() for k in keys])

    # -- routing decisions ---------------------------------------------------------------------------
    def put_decision(self, decision_id: str, subject_id: str | None, body: dict[str, Any], now: datetime) -> None:
        item: dict[str, Any] = {
            **self._scoped(_decision_key(decision_id)).wire(),
            "decision": {"S": json.dumps(body, ensure_ascii=False, separators=(",", ":"))},
            "created_at": {"S": now.isoformat()},
            **self._expiry(DataCategory.ROUTING_DECISIONS, now),
        }
        if subject_id:
            item["subject_id"] = {"S": self._index_value(subject_id)}  # found again by access and erasure requests
        self._ddb.put_item(TableName=self._table, Item=item)
