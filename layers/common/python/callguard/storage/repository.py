"""Repositories over DynamoDB, S3 and SQS. Every AWS client is injected.

Key design (all keys pseudonymous, never a raw identifier):

* subjects table — ``IDENT#<mac>``/``LINK`` → subject id; ``SUBJECT#<id>``/``PROFILE``
  (objection, restriction, last seen); ``SUBJECT#<id>``/``CONSENT#<ts>#<call>`` (consent
  history); ``SUBJECT#<id>``/``LINKED#<other>`` when one call joins two known subjects.
* calls table — ``CALL#<call_id>``/``CALL`` with the call's metadata; transcript text
  only as a pointer to the sealed S3 object; ``metadata`` sealed under the subject key;
  ``/TRANSCRIPT`` marks the sealed object for the transcripts retention category.

Every item that expires carries ``expires_at`` and ``expiry_key`` ``<category>#<shard>``
(the expiry index the retention purge reads), and a DynamoDB TTL backstop a week later. A subject's items
expire together with its ``PROFILE`` (refreshed whenever the subject is seen again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.names import ATTR_TTL, EXPIRY_SHARDS, GSI_BY_DUE, GSI_BY_SUBJECT, TTL_GRACE_SECONDS
from callguard.policy.consent import SubjectState
from callguard.retention.policy import DataCategory, RetentionPolicy

__all__ = [
    "AnalysisQueue",
    "CallRecord",
    "CallerIdentity",
    "CallsRepository",
    "IdentifierTakenError",
    "SubjectProfile",
    "SubjectsRepository",
    "TransactionCanceledError",
    "TranscriptStore",
    "expiry_attributes",
    "expiry_key",
    "write_together",
]


def all_items(dynamodb: Any, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a DynamoDB ``query`` or ``scan``, across pages (botocore's paginator)."""
    return [item for page in dynamodb.get_paginator(operation).paginate(**kwargs) for item in page["Items"]]


def partition_items(dynamodb: Any, table: str, pk: str) -> list[dict[str, Any]]:
    """Every item under one partition key ``pk``, read consistently."""
    return all_items(
        dynamodb,
        "query",
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": pk}},
        ConsistentRead=True,
    )


class TransactionCanceledError(Exception):
    """A ``TransactWriteItems`` was cancelled: nothing of it was written. ``reasons``: the code per
    entry, in order (``None`` for an entry that was not the cause)."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__("the transaction was cancelled")
        self.reasons = reasons


def write_together(dynamodb: Any, items: list[dict[str, Any]]) -> None:
    """Write ``items`` (``TransactWriteItems`` entries, on any tables) all or none, in one call;
    :class:`TransactionCanceledError` when a condition failed."""
    if not items:
        return
    try:
        dynamodb.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = [r.get("Code") if r.get("Code") not in {None, "None"} else None
                   for r in exc.response.get("CancellationReasons", [])]  # fmt: skip
        raise TransactionCanceledError(reasons) from None


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def expiry_key(category: DataCategory, shard: int) -> str:
    return f"{category}#{shard}"


def expiry_attributes(policy: RetentionPolicy, category: DataCategory, start: datetime) -> dict[str, Any]:
    """``expires_at``, the expiry-index key ``<category>#<shard>`` and the TTL backstop.

    The shard comes from the write instant's microseconds, so a burst of writes of one
    category spreads over :data:`EXPIRY_SHARDS` index partitions.
    """
    shard = int(start.timestamp() * 1_000_000) % EXPIRY_SHARDS
    expires_at = policy.expires_at(category, start)
    return {
        "expires_at": {"N": str(expires_at)},
        ATTR_TTL: {"N": str(expires_at + TTL_GRACE_SECONDS)},
        "expiry_key": {"S": expiry_key(category, shard)},
        "category": {"S": str(category)},
    }


@dataclass(frozen=True)
class CallerIdentity:
    """One identifier of a call: its MAC and whether the platform authenticated it."""

    kind: str
    mac: str
    authenticated: bool = False


@dataclass(frozen=True)
class SubjectProfile:
    subject_id: str
    objected: bool = False
    restricted: bool = False
    linked_subjects: tuple[str, ...] = ()
    #: the subject was reached through an authenticated identifier
    authenticated: bool = False
    #: this resolve created the subject's profile (it has no data key yet, unless a racing call made one)
    created: bool = False


class IdentifierTakenError(Exception):
    """An identifier is already linked to another subject (rectification must not move it)."""


class SubjectsRepository:
    """Identifiers, subjects and their links in the subjects table.

    * ``IDENT#<mac>``/``LINK`` → subject: written only for an identifier the platform
      authenticated (or a verified rectification); the only way a call joins a history.
    * ``IDENT#<mac>``/``SEEN#<subject>`` (with ``calls``, a set of call ids): the identifier
      was on those calls of that subject without being authenticated — evidence on the call,
      never a key to the subject's other calls. ``whole`` marks an unverified subject (all
      its calls carried the identifier). Reverse ``SUBJECT#<id>``/``SEEN#<mac>``.
    * ``IDENT#<mac>``/``RIGHTS``: an objection or restriction recorded against the
      identifier itself, honoured on every later call that shows it (the cautious direction).
    """

    def __init__(self, *, dynamodb: Any, table: str, retention: RetentionPolicy) -> None:
        self._ddb = dynamodb
        self._table = table
        self._retention = retention

    def resolve(self, identities: list[CallerIdentity], now: datetime, call_id: str | None = None) -> SubjectProfile:
        """The subject a call belongs to, creating or linking only through authenticated identifiers.

        With an authenticated identifier, the call joins the subject of that identifier (a new
        subject's id derives from the first authenticated MAC, so two first calls racing each other
        converge); the other authenticated identifiers are linked to it. Without one, the call
        belongs to the unverified subject of exactly its identifier set. Unauthenticated
        identifiers are recorded on the call (``SEEN``) and link nothing.
        """
        from callguard.security.identity import unverified_subject_id

        macs = [i.mac for i in identities]
        auth = [i.mac for i in identities if i.authenticated]
        keys = [{"pk": {"S": f"IDENT#{m}"}, "sk": {"S": sk}} for m in dict.fromkeys(macs) for sk in ("LINK", "RIGHTS")]
        found = self._batch_get(keys)
        others: list[str] = []
        if auth:
            subject_id, others = self._join_authenticated(auth, found, now)
        else:
            subject_id = unverified_subject_id(macs)
        if call_id is not None:
            for identity in identities:
                if not identity.authenticated:
                    self.record_seen(identity.mac, subject_id, call_id, now, whole=not auth)

        # the profile carries the whole subject's expiry: identifier links, consent history and
        # subject links go with it (the retention purge erases the subject as one)
        expiry = expiry_attributes(self._retention, DataCategory.SUBJECTS, now)
        profile = self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression=(
                "SET subject_id = :sid, created_at = if_not_exists(created_at, :now), "
                "last_seen_at = :now, expires_at = :exp, expiry_key = :ek, category = :cat, #ttl = :ttl, "
                "authenticated = :auth"
            ),
            ExpressionAttributeValues={
                ":sid": {"S": subject_id},
                ":now": {"S": now.isoformat()},
                ":exp": expiry["expires_at"],
                ":ek": expiry["expiry_key"],
                ":cat": expiry["category"],
                ":ttl": expiry[ATTR_TTL],
                ":auth": {"BOOL": bool(auth)},
            },
            ExpressionAttributeNames={"#ttl": ATTR_TTL},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        rights = [found[(f"IDENT#{m}", "RIGHTS")] for m in macs if (f"IDENT#{m}", "RIGHTS") in found]
        self._carry_rights(subject_id, profile, rights, now)
        return SubjectProfile(
            subject_id=subject_id,
            objected="objected_at" in profile or any("objected_at" in r for r in rights),
            restricted="restricted_at" in profile or any("restricted_at" in r for r in rights),
            linked_subjects=tuple(others),
            authenticated=bool(auth),
            created=profile.get("created_at", {}).get("S") == now.isoformat(),
        )

    def _join_authenticated(
        self, auth: list[str], found: dict[tuple[str, str], dict[str, Any]], now: datetime
    ) -> tuple[str, list[str]]:
        """The subject of the authenticated identifiers (new: derived from the first), the free ones
        linked to it; other subjects they belong to (both proven) are linked both ways."""
        from callguard.security.identity import subject_id_from_mac

        linked = {m: found[(f"IDENT#{m}", "LINK")]["subject_id"]["S"] for m in auth if (f"IDENT#{m}", "LINK") in found}
        known = [linked[m] for m in auth if m in linked]
        subject_id = known[0] if known else subject_id_from_mac(auth[0])
        for mac in dict.fromkeys(auth):
            if mac in linked:
                continue
            try:
                self.link_identifier(subject_id, mac, now, only_if_free=True)
            except IdentifierTakenError:  # another call linked it meanwhile
                winner = self._batch_get([{"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": "LINK"}}])
                known.append(winner[(f"IDENT#{mac}", "LINK")]["subject_id"]["S"])
        others = sorted({s for s in known if s != subject_id})
        for other in others:
            for a, b in ((subject_id, other), (other, subject_id)):
                self._ddb.put_item(
                    TableName=self._table,
                    Item={"pk": {"S": f"SUBJECT#{a}"}, "sk": {"S": f"LINKED#{b}"}, "linked_at": {"S": now.isoformat()}},
                )
        return subject_id, others

    def _carry_rights(
        self, subject_id: str, profile: dict[str, Any], rights: list[dict[str, Any]], now: datetime
    ) -> None:
        """A right exercised for one of the identifiers holds for this history too, so every later
        step (analysis, live assistance, the agent view) sees it on the profile."""
        for flag in ("objected_at", "restricted_at"):
            if flag not in profile and any(flag in r for r in rights):
                self.set_flag(subject_id, flag, now)
                profile[flag] = {"S": now.isoformat()}

    def record_seen(self, mac: str, subject_id: str, call_id: str, now: datetime, *, whole: bool) -> None:
        """The unauthenticated identifier ``mac`` was on ``call_id`` of ``subject_id``."""
        update, put = self.seen_writes(mac, subject_id, call_id, now, whole=whole)
        self._ddb.update_item(**update["Update"])
        self._ddb.put_item(**put["Put"])

    def seen_writes(
        self, mac: str, subject_id: str, call_id: str, now: datetime, *, whole: bool
    ) -> list[dict[str, Any]]:
        """:meth:`record_seen` as ``TransactWriteItems`` entries (idempotent: a retry adds nothing new)."""
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": f"SEEN#{subject_id}"}},
                    "UpdateExpression": "ADD calls :c SET subject_id = :s, whole = :w, last_seen_at = :now",
                    "ExpressionAttributeValues": {
                        ":c": {"SS": [call_id]},
                        ":s": {"S": subject_id},
                        ":w": {"BOOL": whole},
                        ":now": {"S": now.isoformat()},
                    },
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": f"SEEN#{mac}"}},
                }
            },
        ]

    def forget_seen_call(self, mac: str, subject_id: str, call_id: str) -> None:
        """Take an erased call off the identifier's evidence (nothing when it is gone already)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": f"SEEN#{subject_id}"}},
                UpdateExpression="DELETE calls :c",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":c": {"SS": [call_id]}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def identifier_items(self, mac: str) -> list[dict[str, Any]]:
        """Everything recorded against one identifier: its link, where it was seen, its rights flags."""
        return partition_items(self._ddb, self._table, f"IDENT#{mac}")

    def find(self, identifier_macs: list[str]) -> str | None:
        """The subject any of the identifiers is *authenticated-linked* to, without creating anything."""
        keys = [{"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": "LINK"}} for mac in dict.fromkeys(identifier_macs)]
        found = self._batch_get(keys)
        for mac in identifier_macs:
            item = found.get((f"IDENT#{mac}", "LINK"))
            if item is not None:
                return str(item["subject_id"]["S"])
        return None

    def rights(self, identifier_macs: list[str]) -> tuple[bool, bool]:
        """(objected, restricted) as recorded against any of the identifiers themselves."""
        keys = [{"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": "RIGHTS"}} for mac in dict.fromkeys(identifier_macs)]
        items = list(self._batch_get(keys).values()) if keys else []
        return any("objected_at" in i for i in items), any("restricted_at" in i for i in items)

    def set_identifier_flag(self, mac: str, flag: str, now: datetime) -> None:
        """``objected_at``/``restricted_at`` against an identifier: applies to every call that shows it."""
        if flag not in {"objected_at", "restricted_at"}:
            raise ValueError("unknown flag")
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": "RIGHTS"}},
            UpdateExpression=f"SET {flag} = if_not_exists({flag}, :now)",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}},
        )

    def identifiers_of(self, subject_id: str) -> list[str]:
        """MACs of the identifiers linked to or seen on the subject."""
        return sorted(
            {
                i["sk"]["S"].split("#", 1)[1]
                for i in self.subject_items(subject_id)
                if i["sk"]["S"].startswith(("IDENT#", "SEEN#"))
            }
        )

    def latest_consent(self, subject_id: str) -> dict[str, bool] | None:
        items = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
            ExpressionAttributeValues={":p": {"S": f"SUBJECT#{subject_id}"}, ":c": {"S": "CONSENT#"}},
            ScanIndexForward=False,
            Limit=1,
        )["Items"]
        if not items:
            return None
        return {k: bool(v["BOOL"]) for k, v in items[0]["consent"]["M"].items()}

    def subject_items(self, subject_id: str) -> list[dict[str, Any]]:
        """Every item under ``SUBJECT#<id>``: profile, consent history, identifier and subject links."""
        return partition_items(self._ddb, self._table, f"SUBJECT#{subject_id}")

    def set_flag(self, subject_id: str, flag: str, now: datetime) -> None:
        """``objected_at`` or ``restricted_at`` on the subject's profile (processing stops at once)."""
        if flag not in {"objected_at", "restricted_at"}:
            raise ValueError("unknown flag")
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            UpdateExpression=f"SET {flag} = :now, subject_id = :sid",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}, ":sid": {"S": subject_id}},
        )

    def link_identifier(self, subject_id: str, mac: str, now: datetime, *, only_if_free: bool = True) -> None:
        """Link an authenticated (or verified) identifier to the subject, with its reverse link.

        Refuses (:class:`IdentifierTakenError`) when the identifier already belongs to another
        subject: an identifier never silently changes owner.
        """
        condition = "attribute_not_exists(pk) OR subject_id = :sid" if only_if_free else None
        link: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": {"S": f"IDENT#{mac}"},
                "sk": {"S": "LINK"},
                "subject_id": {"S": subject_id},
                "authenticated": {"BOOL": True},
                "linked_at": {"S": now.isoformat()},
            },
        }
        if condition:
            link["ConditionExpression"] = condition
            link["ExpressionAttributeValues"] = {":sid": {"S": subject_id}}
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Put": link},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": f"IDENT#{mac}"}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise IdentifierTakenError("the identifier belongs to another subject") from None
            raise

    def unlink_identifier(self, subject_id: str, mac: str) -> None:
        """The identifier no longer belongs to the subject: its link (if the subject's) and the
        evidence of it on the subject's calls go."""
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": "LINK"}},
                ConditionExpression="attribute_not_exists(pk) OR subject_id = :sid",
                ExpressionAttributeValues={":sid": {"S": subject_id}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
        for pk, sk in (
            (f"SUBJECT#{subject_id}", f"IDENT#{mac}"),
            (f"IDENT#{mac}", f"SEEN#{subject_id}"),
            (f"SUBJECT#{subject_id}", f"SEEN#{mac}"),
        ):
            self._ddb.delete_item(TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    @staticmethod
    def subject_id_of(pk: str) -> str:
        """The subject id in a ``SUBJECT#<id>`` partition key (as the expiry index returns it)."""
        return pk.removeprefix("SUBJECT#")

    def profile_expiry(self, subject_id: str) -> int | None:
        """When the subject's profile expires (epoch seconds), or ``None`` when it is gone."""
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else int(item["expires_at"]["N"])

    def delete_profile_if_expired(self, subject_id: str, cutoff: str) -> bool:
        """Delete the profile only if it still expires by ``cutoff`` (a subject seen again keeps it)."""
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
                ConditionExpression="expires_at <= :t",
                ExpressionAttributeValues={":t": {"N": cutoff}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return False
        return True

    def profile(self, subject_id: str) -> SubjectProfile:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"SUBJECT#{subject_id}"}, "sk": {"S": "PROFILE"}},
            ConsistentRead=True,
        ).get("Item", {})
        return SubjectProfile(subject_id, objected="objected_at" in item, restricted="restricted_at" in item)

    def state(self, subject_id: str, seen_macs: Iterable[str] = ()) -> SubjectState:
        """What the consent policy needs to know about the subject of a stored call: an objection or
        restriction on its profile, or recorded against any identifier seen on the call."""
        profile = self.profile(subject_id)
        objected, restricted = profile.objected, profile.restricted
        for mac in dict.fromkeys(seen_macs):  # a call shows few identifiers: one read each
            if objected and restricted:
                break
            rights = self._ddb.get_item(
                TableName=self._table, Key={"pk": {"S": f"IDENT#{mac}"}, "sk": {"S": "RIGHTS"}}, ConsistentRead=True
            ).get("Item", {})
            objected, restricted = objected or "objected_at" in rights, restricted or "restricted_at" in rights
        return SubjectState(known=True, objected=objected, restricted=restricted)

    def record_consent(
        self, subject_id: str, call_id: str, consent: dict[str, bool], now: datetime, source: str = "call"
    ) -> None:
        self._ddb.put_item(**self.consent_write(subject_id, call_id, consent, now, source)["Put"])

    def consent_write(
        self, subject_id: str, call_id: str, consent: dict[str, bool], now: datetime, source: str = "call"
    ) -> dict[str, Any]:
        """:meth:`record_consent` as a ``TransactWriteItems`` entry."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": f"SUBJECT#{subject_id}"},
                    "sk": {"S": f"CONSENT#{now.isoformat()}#{call_id}"},
                    "source": {"S": source},
                    "call_id": {"S": call_id},
                    "consent": {"M": {k: {"BOOL": v} for k, v in consent.items()}},
                    "recorded_at": {"S": now.isoformat()},
                },
            }
        }

    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        items: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self._table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                response = self._ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    items[(item["pk"]["S"], item["sk"]["S"])] = item
                request = response.get("UnprocessedKeys") or {}
        return items


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    subject_id: str
    fingerprint: str
    analysis: str
    enqueued: bool
    extra: dict[str, Any] = field(default_factory=dict)


class CallsRepository:
    def __init__(self, *, dynamodb: Any, table: str, retention: RetentionPolicy) -> None:
        self._ddb = dynamodb
        self._table = table
        self._retention = retention

    @property
    def dynamodb(self) -> Any:
        """The DynamoDB client (for a transaction that spans this table and another)."""
        return self._ddb

    @staticmethod
    def call_id_of(pk: str) -> str:
        """The call id in a ``CALL#<id>`` partition key."""
        return pk.removeprefix("CALL#")

    @staticmethod
    def _key(call_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "CALL"}}

    def get(self, call_id: str) -> CallRecord | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(call_id), ConsistentRead=True).get("Item")
        return None if item is None else self._record(item)

    @staticmethod
    def _record(item: dict[str, Any]) -> CallRecord:
        return CallRecord(
            call_id=item["call_id"]["S"],
            subject_id=item["subject_id"]["S"],
            fingerprint=item["fingerprint"]["S"],
            analysis=item["analysis_status"]["S"],
            enqueued="enqueued_at" in item,
            extra=item,
        )

    def put_new(self, attributes: dict[str, Any], now: datetime) -> CallRecord | None:
        """Store a new call; returns the existing record instead when the id is taken."""
        item = {
            **self._key(attributes["call_id"]["S"]),
            **attributes,
            "created_at": {"S": now.isoformat()},
            **expiry_attributes(self._retention, DataCategory.CALLS, now),
        }
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            old = (
                exc.response.get("Item")
                or self._ddb.get_item(
                    TableName=self._table, Key=self._key(attributes["call_id"]["S"]), ConsistentRead=True
                )["Item"]
            )
            return self._record(old)
        return None

    def mark_transcript(self, call_id: str, subject_id: str, bucket: str, key: str, now: datetime) -> bool:
        """Record the sealed transcript object for the transcripts retention category.

        Written before the object, once per call (the first write's expiry holds), so no
        transcript object exists that the purge cannot find. True when this call wrote it.
        """
        try:
            self._ddb.put_item(**self.transcript_marker_write(call_id, subject_id, bucket, key, now)["Put"])
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return False
        return True

    def transcript_marker_write(
        self, call_id: str, subject_id: str, bucket: str, key: str, now: datetime
    ) -> dict[str, Any]:
        """:meth:`mark_transcript` as a ``TransactWriteItems`` entry (cancels the transaction when the
        call's marker exists already)."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": f"CALL#{call_id}"},
                    "sk": {"S": "TRANSCRIPT"},
                    "call_id": {"S": call_id},
                    "subject_id": {"S": subject_id},
                    "object_bucket": {"S": bucket},
                    "object_key": {"S": key},
                    "created_at": {"S": now.isoformat()},
                    **expiry_attributes(self._retention, DataCategory.TRANSCRIPTS, now),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def delete_transcript_marker(self, call_id: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "TRANSCRIPT"}})

    def forget_transcript(self, call_id: str) -> None:
        """Drop the call's pointer to a purged transcript (the call item may be gone already)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(call_id),
                UpdateExpression="REMOVE transcript SET transcript_purged = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def close_followups(self, subject_id: str, except_call: str, now: datetime) -> int:
        closed = 0
        for pk, sk in self.subject_items(subject_id):
            if sk != "FOLLOWUP" or pk == f"CALL#{except_call}":
                continue
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": pk}, "sk": {"S": sk}},
                    UpdateExpression="SET followup_status = :closed, closed_at = :now",
                    ConditionExpression="followup_status = :open",
                    ExpressionAttributeValues={
                        ":closed": {"S": "closed"},
                        ":open": {"S": "open"},
                        ":now": {"S": now.isoformat()},
                    },
                )
                closed += 1
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise
        return closed

    def followups_due(self, due_before: str, limit: int = 100) -> list[dict[str, Any]]:
        """Open follow-ups due before ``due_before`` (ISO-8601), earliest first."""
        page = self._ddb.query(
            TableName=self._table,
            IndexName=GSI_BY_DUE,
            KeyConditionExpression="followup_status = :s AND due_at < :d",
            ExpressionAttributeValues={":s": {"S": "open"}, ":d": {"S": due_before}},
            Limit=limit,
        )
        items = [self.get_item(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
        return [
            {
                "followup_id": i["followup_id"]["S"],
                "call_id": i["call_id"]["S"],
                "due_at": i["due_at"]["S"],
                "reason": i["reason"]["S"],
                "status": i["followup_status"]["S"],
            }
            for i in items
            if i is not None
        ]

    def subject_items(self, subject_id: str, since: datetime | None = None) -> list[tuple[str, str]]:
        """``(pk, sk)`` of the subject's items (created since ``since``, if given) via the by-subject index."""
        condition, values = "subject_id = :s", {":s": {"S": subject_id}}
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
        return [(i["pk"]["S"], i["sk"]["S"]) for i in items]

    def recent_activity(self, subject_id: str, since: datetime) -> tuple[list[str], int]:
        """The ids of the subject's calls since ``since`` (sorted) and how many of its follow-ups are open."""
        keys = self.subject_items(subject_id, since)
        call_ids = sorted({self.call_id_of(pk) for pk, sk in keys if sk == "CALL"})
        open_followups = 0
        for pk, sk in keys:
            if sk == "FOLLOWUP" and (item := self.get_item(pk, sk)) and item["followup_status"]["S"] == "open":
                open_followups += 1
        return call_ids, open_followups

    def get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
        return None if item is None else dict(item)

    def put_decision(self, decision_id: str, subject_id: str | None, body: dict[str, Any], now: datetime) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"DECISION#{decision_id}"},
            "sk": {"S": "DECISION"},
            "decision": {"S": json.dumps(body, ensure_ascii=False, separators=(",", ":"))},
            "created_at": {"S": now.isoformat()},
            **expiry_attributes(self._retention, DataCategory.ROUTING_DECISIONS, now),
        }
        if subject_id:
            item["subject_id"] = {"S": subject_id}  # found again by access and erasure requests
        self._ddb.put_item(TableName=self._table, Item=item)

    @staticmethod
    def segment_meta(segments: list[dict[str, Any]]) -> dict[str, Any]:
        """Speaker and timing of segments as a DynamoDB list (never their text)."""
        return {
            "L": [
                {
                    "M": {
                        "speaker": {"S": s["speaker"]},
                        "start_ms": {"N": str(s["start_ms"])},
                        "end_ms": {"N": str(s["end_ms"])},
                    }
                }
                for s in segments
            ]
        }

    def append_segment_meta(self, call_id: str, segments: list[dict[str, Any]]) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=self._key(call_id),
            UpdateExpression="SET #segments = list_append(if_not_exists(#segments, :empty), :new)",
            ExpressionAttributeNames={"#segments": "segments"},  # a reserved word in DynamoDB
            ExpressionAttributeValues={":new": self.segment_meta(segments), ":empty": {"L": []}},
        )

    def replace_transcript(
        self,
        call_id: str,
        pointer: dict[str, str],
        previous: dict[str, str] | None,
        segments: list[dict[str, Any]],
    ) -> None:
        """Point the call at the new sealed transcript version — only if nobody else did meanwhile."""
        values: dict[str, Any] = {
            ":p": {"M": {k: {"S": v} for k, v in pointer.items()}},
            ":new": self.segment_meta(segments),
            ":empty": {"L": []},
        }
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
            Key=self._key(call_id),
            UpdateExpression="SET transcript = :p, #segments = list_append(if_not_exists(#segments, :empty), :new)",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ExpressionAttributeNames={"#segments": "segments", **({"#key": "key"} if previous is not None else {})},
        )

    def set_live_intent(self, call_id: str, intent: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=self._key(call_id),
            UpdateExpression="SET live_intent = :i",
            ExpressionAttributeValues={":i": {"S": intent}},
        )

    def append_live_sentiment(self, call_id: str, labels: list[str]) -> list[str]:
        attributes = self._ddb.update_item(
            TableName=self._table,
            Key=self._key(call_id),
            UpdateExpression="SET live_sentiments = list_append(if_not_exists(live_sentiments, :empty), :new)",
            ExpressionAttributeValues={":new": {"L": [{"S": label} for label in labels]}, ":empty": {"L": []}},
            ReturnValues="UPDATED_NEW",
        )["Attributes"]
        return [v["S"] for v in attributes["live_sentiments"]["L"]]

    def record_resolution(self, intent: str, phrases: list[str], now: datetime) -> None:
        """Count, per intent, the phrases with which agents closed calls (aggregates only)."""
        for phrase in phrases:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"STATS#{intent}"}, "sk": {"S": f"RESOLUTION#{phrase.lower()}"}},
                UpdateExpression="ADD calls :one SET phrase = :p, updated_at = :now",
                ExpressionAttributeValues={":one": {"N": "1"}, ":p": {"S": phrase}, ":now": {"S": now.isoformat()}},
            )

    def resolutions(self, intent: str, limit: int = 50) -> list[tuple[str, int]]:
        items = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :r)",
            ExpressionAttributeValues={":p": {"S": f"STATS#{intent}"}, ":r": {"S": "RESOLUTION#"}},
            Limit=limit,
        )["Items"]
        ranked = sorted(((i["phrase"]["S"], int(i["calls"]["N"])) for i in items), key=lambda x: -x[1])
        return ranked

    def mark_enqueued(self, call_id: str, now: datetime) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=self._key(call_id),
            UpdateExpression="SET enqueued_at = :now",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}},
        )

    def get_analysis(self, call_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "ANALYSIS"}},
            ConsistentRead=True,
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
        extra: list[dict[str, Any]] = []
        if followup is not None:
            extra.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": f"CALL#{call_id}"},
                            "sk": {"S": "FOLLOWUP"},
                            "followup_id": {"S": followup["followup_id"]},
                            "call_id": {"S": call_id},
                            "subject_id": {"S": followup["subject_id"]},
                            "created_at": {"S": now.isoformat()},
                            "due_at": {"S": followup["due_at"]},
                            "reason": {"S": followup["reason"]},
                            "followup_status": {"S": "open"},
                            **expiry_attributes(self._retention, DataCategory.FOLLOWUPS, now),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    *extra,
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": {"S": f"CALL#{call_id}"},
                                "sk": {"S": "ANALYSIS"},
                                "call_id": {"S": call_id},
                                "status": {"S": status},
                                "analysis": {"S": json.dumps(analysis, ensure_ascii=False, separators=(",", ":"))},
                                "created_at": {"S": now.isoformat()},
                                **expiry_attributes(self._retention, DataCategory.ANALYSES, now),
                                # found by access/erasure requests and held by legal holds
                                **({"subject_id": {"S": subject_id}} if subject_id else {}),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._key(call_id),
                            "UpdateExpression": "SET analysis_status = :s, analysed_at = :now",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":s": {"S": status}, ":now": {"S": now.isoformat()}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise
        return True


class TranscriptStore:
    """Sealed transcripts in S3 (SSE-KMS on top of the per-subject envelope)."""

    def __init__(self, *, s3: Any, bucket: str, kms_key_id: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._kms_key_id = kms_key_id

    @property
    def bucket(self) -> str:
        return self._bucket

    @staticmethod
    def key_for(subject_id: str, call_id: str) -> str:
        return f"transcripts/{subject_id}/{call_id}.sealed"

    def put(self, subject_id: str, call_id: str, sealed: bytes) -> dict[str, str]:
        key = self.key_for(subject_id, call_id)
        response = self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=sealed,
            ContentType="application/octet-stream",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self._kms_key_id,
            BucketKeyEnabled=True,
        )
        pointer = {"bucket": self._bucket, "key": key}
        if response.get("VersionId"):
            pointer["version_id"] = response["VersionId"]
        return pointer

    @staticmethod
    def _address(pointer: dict[str, str]) -> dict[str, str]:
        address = {"Bucket": pointer["bucket"], "Key": pointer["key"]}
        if "version_id" in pointer:
            address["VersionId"] = pointer["version_id"]
        return address

    def delete_version(self, pointer: dict[str, str]) -> None:
        self._s3.delete_object(**self._address(pointer))

    def get(self, pointer: dict[str, str]) -> bytes:
        return bytes(self._s3.get_object(**self._address(pointer))["Body"].read())


class AnalysisQueue:
    """The SQS queue that feeds the analysis function. Messages carry the call id only."""

    def __init__(self, *, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def enqueue(self, call_id: str) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"call_id": call_id}))
