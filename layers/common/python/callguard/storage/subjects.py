"""The subjects table: identifiers, subjects and their links (all keys pseudonymous).

* ``IDENT#<mac>``/``LINK`` → subject: written only for an identifier the platform
  authenticated (or a verified rectification); the only way a call joins a history.
  Reverse ``SUBJECT#<id>``/``IDENT#<mac>``.
* ``IDENT#<mac>``/``SEEN#<subject>`` (with ``calls``, a set of call ids): the identifier
  was on those calls of that subject without being authenticated — evidence on the call,
  never a key to the subject's other calls. ``whole`` marks an unverified subject (all
  its calls carried the identifier). Reverse ``SUBJECT#<id>``/``SEEN#<mac>``.
* ``IDENT#<mac>``/``RIGHTS``: an objection or restriction recorded against the
  identifier itself, honoured on every later call that shows it (the cautious direction).
* ``SUBJECT#<id>``/``PROFILE`` (objection, restriction, last seen); ``SUBJECT#<id>``/
  ``CONSENT#<ts>#<call>`` (consent history); ``SUBJECT#<id>``/``LINKED#<other>`` when one call
  joins two known subjects.

The profile carries the whole subject's expiry: identifier links, consent history and subject
links go with it (the retention purge erases the subject as one). Every key is built by one
class of this module (``_Keys``), in the repository's tenant's partitions (:class:`TenantScope`:
a listed tenant's partition keys begin with ``T#<tenant>#``, the default tenant's are v1's): the same
phone number calling two tenants is two subjects with disjoint items. Items come back as typed records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.names import ATTR_TTL
from callguard.policy.consent import SubjectState
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.security.identity import subject_id_from_mac, unverified_subject_id
from callguard.storage.dynamo import (
    BatchRead,
    ItemKey,
    TransactionCanceledError,
    Write,
    delete_keys,
    from_item,
    is_condition_failure,
    partition_items,
    write_together,
)
from callguard.storage.expiry import expiry_attributes
from callguard.storage.scope import V1, TenantScope

__all__ = [
    "CallerIdentity",
    "ConsentEntry",
    "IdentifierEvidence",
    "IdentifierTakenError",
    "Resolution",
    "SubjectProfile",
    "SubjectsRepository",
]

_IDENT = "IDENT#"
_SUBJECT = "SUBJECT#"
_SEEN = "SEEN#"
_LINKED = "LINKED#"
_CONSENT = "CONSENT#"
_FLAGS = ("objected_at", "restricted_at")


# -- keys: each built in exactly one place -----------------------------------------------------
@dataclass(frozen=True)
class _Keys:
    """Every key of the subjects table, in one tenant's partitions (:class:`TenantScope`): a listed
    tenant's partition keys begin with its prefix, the default tenant's are v1's; sort keys never change."""

    scope: TenantScope

    def identifier_partition(self, mac: str) -> str:
        return self.scope.key(f"{_IDENT}{mac}")

    def subject_partition(self, subject_id: str) -> str:
        return self.scope.key(f"{_SUBJECT}{subject_id}")

    def subject_id_of(self, partition: str) -> str:
        """The subject id of one of this tenant's subject partitions (:class:`ValueError` for another's)."""
        unscoped = self.scope.unscoped(partition)
        if unscoped is None or not unscoped.startswith(_SUBJECT):
            raise ValueError("the key is not a subject partition of this tenant")
        return unscoped.removeprefix(_SUBJECT)

    def link(self, mac: str) -> ItemKey:
        return ItemKey(self.identifier_partition(mac), "LINK")

    def rights(self, mac: str) -> ItemKey:
        return ItemKey(self.identifier_partition(mac), "RIGHTS")

    def seen(self, mac: str, subject_id: str) -> ItemKey:
        return ItemKey(self.identifier_partition(mac), f"{_SEEN}{subject_id}")

    def profile(self, subject_id: str) -> ItemKey:
        return ItemKey(self.subject_partition(subject_id), "PROFILE")

    def reverse_link(self, subject_id: str, mac: str) -> ItemKey:
        return ItemKey(self.subject_partition(subject_id), f"{_IDENT}{mac}")  # a sort key: never prefixed

    def reverse_seen(self, subject_id: str, mac: str) -> ItemKey:
        return ItemKey(self.subject_partition(subject_id), f"{_SEEN}{mac}")

    def linked(self, subject_id: str, other: str) -> ItemKey:
        return ItemKey(self.subject_partition(subject_id), f"{_LINKED}{other}")

    def consent(self, subject_id: str, recorded_at: str, call_id: str) -> ItemKey:
        return ItemKey(self.subject_partition(subject_id), f"{_CONSENT}{recorded_at}#{call_id}")


# -- records ---------------------------------------------------------------------------------------
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
    #: this resolve creates the subject's profile (it has no data key yet, unless a racing call made one)
    created: bool = False


class IdentifierTakenError(Exception):
    """An identifier is already linked to another subject (rectification must not move it)."""


class ProfileChangedError(Exception):
    """The profile changed between its read and the write that refreshes it (an objection or a
    restriction arrived): nothing was written; resolve again."""


@dataclass(frozen=True)
class _Flags:
    """The rights flags present on a profile, or recorded against identifiers."""

    objected: bool = False
    restricted: bool = False

    @classmethod
    def of(cls, items: Iterable[Mapping[str, Any]]) -> _Flags:
        items = list(items)
        return cls(any("objected_at" in i for i in items), any("restricted_at" in i for i in items))

    def names(self) -> set[str]:
        return {name for name, on in zip(_FLAGS, (self.objected, self.restricted), strict=True) if on}


@dataclass(frozen=True)
class Sighting:
    """What one consistent read found about a call's identifiers: their authenticated links, the
    rights recorded against them, and the profile of the subject the call most likely belongs to."""

    identities: tuple[CallerIdentity, ...]
    links: Mapping[str, str]
    rights: _Flags
    candidate: str
    #: the flags on the candidate's profile; ``None`` when it has no profile
    candidate_profile: _Flags | None


@dataclass(frozen=True)
class Resolution:
    """The subject of a call, and the write that refreshes its profile (for the caller's transaction)."""

    profile: SubjectProfile
    profile_write: Write


@dataclass(frozen=True)
class SeenEntry:
    subject_id: str
    calls: tuple[str, ...]
    #: the identifier was on every call of an unverified subject (its whole history)
    whole: bool


@dataclass(frozen=True)
class IdentifierEvidence:
    """Everything recorded against one identifier: its authenticated link, where it was seen."""

    linked_subject: str | None = None
    seen: tuple[SeenEntry, ...] = ()


@dataclass(frozen=True)
class ConsentEntry:
    key: ItemKey
    recorded_at: str
    source: str
    call_id: str | None
    consent: Mapping[str, bool] = field(default_factory=dict)


class SubjectsRepository:
    """Identifiers, subjects and their links in the subjects table (see the module docstring)."""

    def __init__(self, *, dynamodb: Any, table: str, retention: RetentionPolicy, scope: TenantScope = V1) -> None:
        self._ddb = dynamodb
        self._table = table
        self._retention = retention
        self._scope = scope
        self._k = _Keys(scope)

    @property
    def scope(self) -> TenantScope:
        """The tenant whose subjects this repository reads and writes."""
        return self._scope

    # -- resolving the subject of a call -------------------------------------------------------------
    @staticmethod
    def candidate(identities: Iterable[CallerIdentity]) -> str:
        """The subject a call most likely belongs to, before anything is read: the subject of its
        first authenticated identifier, or the unverified subject of exactly its identifiers."""
        identities = list(identities)
        auth = [i.mac for i in identities if i.authenticated]
        return subject_id_from_mac(auth[0]) if auth else unverified_subject_id(i.mac for i in identities)

    def prefetch(self, batch: BatchRead, identities: Iterable[CallerIdentity]) -> Callable[[], Sighting]:
        """The identifiers' links and rights and the candidate's profile, read with ``batch``."""
        identities = tuple(identities)
        macs = list(dict.fromkeys(i.mac for i in identities))
        links = {mac: batch.add(self._table, self._k.link(mac).wire()) for mac in macs}
        rights = [batch.add(self._table, self._k.rights(mac).wire()) for mac in macs]
        candidate = self.candidate(identities)
        profile = batch.add(self._table, self._k.profile(candidate).wire())

        def sighting() -> Sighting:
            found_profile = profile()
            return Sighting(
                identities=identities,
                links={mac: str(item["subject_id"]["S"]) for mac, read in links.items() if (item := read())},
                rights=_Flags.of(item for read in rights if (item := read()) is not None),
                candidate=candidate,
                candidate_profile=None if found_profile is None else _Flags.of([found_profile]),
            )

        return sighting

    def sight(self, identities: Iterable[CallerIdentity]) -> Sighting:
        """:meth:`prefetch` on its own (one ``BatchGetItem``)."""
        batch = BatchRead(self._ddb)
        sighting = self.prefetch(batch, identities)
        batch.run()
        return sighting()

    def resolve(self, sighting: Sighting, now: datetime) -> Resolution:
        """The subject a call belongs to, creating or linking only through authenticated identifiers.

        With an authenticated identifier, the call joins the subject of that identifier (a new
        subject's id derives from the first authenticated MAC, so two first calls racing each other
        converge); the other authenticated identifiers are linked to it (written now). Without one,
        the call belongs to the unverified subject of exactly its identifier set. The profile is not
        written here: :attr:`Resolution.profile_write` refreshes it (its expiry, rights recorded
        against the identifiers) only if no objection or restriction arrived since it was read —
        otherwise the transaction it is part of fails with it (:meth:`profile_changed`).
        """
        auth = [i.mac for i in sighting.identities if i.authenticated]
        others: list[str] = []
        if auth:
            subject_id, others = self._join_authenticated(auth, sighting.links, now)
        else:
            subject_id = sighting.candidate
        found = sighting.candidate_profile if subject_id == sighting.candidate else self._profile_flags(subject_id)
        on_profile = found or _Flags()
        return Resolution(
            profile=SubjectProfile(
                subject_id=subject_id,
                objected=on_profile.objected or sighting.rights.objected,
                restricted=on_profile.restricted or sighting.rights.restricted,
                linked_subjects=tuple(others),
                authenticated=bool(auth),
                created=found is None,
            ),
            profile_write=self._profile_write(subject_id, on_profile, sighting.rights, bool(auth), now),
        )

    @staticmethod
    def profile_changed(cancelled: TransactionCanceledError, index: int) -> bool:
        """Whether the transaction failed on the profile write at position ``index``."""
        return index < len(cancelled.reasons) and cancelled.reasons[index] is not None

    def _profile_flags(self, subject_id: str) -> _Flags | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=self._k.profile(subject_id).wire(), ConsistentRead=True
        ).get("Item")
        return None if item is None else _Flags.of([item])

    def _profile_write(self, subject_id: str, found: _Flags, rights: _Flags, auth: bool, now: datetime) -> Write:
        """Refresh the profile's expiry and last sighting; a right exercised for one of the
        identifiers holds for this history too, so every later step (analysis, live assistance, the
        agent view) sees it on the profile. Conditional on the flags the read did not see being
        still absent."""
        expiry = expiry_attributes(self._retention, DataCategory.SUBJECTS, now, self._scope)
        assignments = [
            "subject_id = :sid",
            "created_at = if_not_exists(created_at, :now)",
            "last_seen_at = :now",
            "expires_at = :exp",
            "expiry_key = :ek",
            "category = :cat",
            "#ttl = :ttl",
            "authenticated = :auth",
        ]
        carried = sorted(rights.names() - found.names())
        assignments += [f"{flag} = :now" for flag in carried]
        unseen = [flag for flag in _FLAGS if flag not in found.names() and flag not in carried]
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._k.profile(subject_id).wire(),
            "UpdateExpression": "SET " + ", ".join(assignments),
            "ExpressionAttributeValues": {
                ":sid": {"S": subject_id},
                ":now": {"S": now.isoformat()},
                ":exp": expiry["expires_at"],
                ":ek": expiry["expiry_key"],
                ":cat": expiry["category"],
                ":ttl": expiry[ATTR_TTL],
                ":auth": {"BOOL": auth},
            },
            "ExpressionAttributeNames": {"#ttl": ATTR_TTL},
        }
        if unseen:
            update["ConditionExpression"] = " AND ".join(f"attribute_not_exists({flag})" for flag in unseen)
        return Write({"Update": update})

    def _join_authenticated(self, auth: list[str], links: Mapping[str, str], now: datetime) -> tuple[str, list[str]]:
        """The subject of the authenticated identifiers (new: derived from the first), the free ones
        linked to it; other subjects they belong to (both proven) are linked both ways."""
        known = [links[m] for m in auth if m in links]
        subject_id = known[0] if known else subject_id_from_mac(auth[0])
        for mac in dict.fromkeys(auth):
            if mac not in links:
                known += self._claim(subject_id, mac, now)
        others = sorted({s for s in known if s != subject_id})
        for other in others:
            self._link_subjects(subject_id, other, now)
        return subject_id, others

    def _claim(self, subject_id: str, mac: str, now: datetime) -> list[str]:
        """Link a free identifier to the subject; the subject that linked it meanwhile, if another call won."""
        try:
            self.link_identifier(subject_id, mac, now, only_if_free=True)
        except IdentifierTakenError:
            return [self._linked_subject(mac)]
        return []

    def _linked_subject(self, mac: str) -> str:
        item = self._ddb.get_item(TableName=self._table, Key=self._k.link(mac).wire(), ConsistentRead=True)["Item"]
        return str(item["subject_id"]["S"])

    def _link_subjects(self, subject_id: str, other: str, now: datetime) -> None:
        for a, b in ((subject_id, other), (other, subject_id)):
            self._ddb.put_item(
                TableName=self._table, Item={**self._k.linked(a, b).wire(), "linked_at": {"S": now.isoformat()}}
            )

    # -- evidence of unauthenticated identifiers ------------------------------------------------------
    def seen_writes(self, mac: str, subject_id: str, call_id: str, now: datetime, *, whole: bool) -> list[Write]:
        """The unauthenticated identifier ``mac`` was on ``call_id`` of ``subject_id``, as transaction
        entries (idempotent: a retry adds nothing new)."""
        return [
            Write(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._k.seen(mac, subject_id).wire(),
                        "UpdateExpression": "ADD calls :c SET subject_id = :s, whole = :w, last_seen_at = :now",
                        "ExpressionAttributeValues": {
                            ":c": {"SS": [call_id]},
                            ":s": {"S": subject_id},
                            ":w": {"BOOL": whole},
                            ":now": {"S": now.isoformat()},
                        },
                    }
                }
            ),
            Write({"Put": {"TableName": self._table, "Item": self._k.reverse_seen(subject_id, mac).wire()}}),
        ]

    def forget_seen_call(self, mac: str, subject_id: str, call_id: str) -> None:
        """Take an erased call off the identifier's evidence (nothing when it is gone already)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._k.seen(mac, subject_id).wire(),
                UpdateExpression="DELETE calls :c",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":c": {"SS": [call_id]}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise

    def evidence(self, mac: str) -> IdentifierEvidence:
        """Everything recorded against one identifier: its link and where it was seen."""
        linked, seen = None, []
        for data in map(from_item, partition_items(self._ddb, self._table, self._k.identifier_partition(mac))):
            if data["sk"] == "LINK":
                linked = str(data["subject_id"])
            elif data["sk"].startswith(_SEEN):
                calls = tuple(sorted(data.get("calls", ())))
                seen.append(SeenEntry(data["sk"].removeprefix(_SEEN), calls, bool(data.get("whole", False))))
        return IdentifierEvidence(linked, tuple(seen))

    # -- reading ----------------------------------------------------------------------------------
    def find(self, identifier_macs: list[str]) -> str | None:
        """The subject any of the identifiers is *authenticated-linked* to, without creating anything."""
        batch = BatchRead(self._ddb)
        links = {mac: batch.add(self._table, self._k.link(mac).wire()) for mac in dict.fromkeys(identifier_macs)}
        batch.run()
        for mac in identifier_macs:
            item = links[mac]()
            if item is not None:
                return str(item["subject_id"]["S"])
        return None

    def rights(self, identifier_macs: list[str]) -> tuple[bool, bool]:
        """(objected, restricted) as recorded against any of the identifiers themselves."""
        batch = BatchRead(self._ddb)
        reads = [batch.add(self._table, self._k.rights(mac).wire()) for mac in dict.fromkeys(identifier_macs)]
        batch.run()
        flags = _Flags.of(item for read in reads if (item := read()) is not None)
        return flags.objected, flags.restricted

    def identifiers_of(self, subject_id: str) -> list[str]:
        """MACs of the identifiers linked to or seen on the subject."""
        return sorted(
            {
                str(key.sk).split("#", 1)[1]
                for key in self._subject_keys(subject_id)
                if str(key.sk).startswith((_IDENT, _SEEN))
            }
        )

    def latest_consent(self, subject_id: str) -> dict[str, bool] | None:
        items = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
            ExpressionAttributeValues={":p": {"S": self._k.subject_partition(subject_id)}, ":c": {"S": _CONSENT}},
            ScanIndexForward=False,
            Limit=1,
        )["Items"]
        if not items:
            return None
        return {k: bool(v) for k, v in from_item(items[0])["consent"].items()}

    def consent_history(self, subject_id: str) -> list[ConsentEntry]:
        """The subject's consent records, oldest first."""
        return [
            ConsentEntry(
                key=ItemKey(data["pk"], data["sk"]),
                recorded_at=data["recorded_at"],
                source=data["source"],
                call_id=data.get("call_id"),
                consent={k: bool(v) for k, v in data["consent"].items()},
            )
            for data in map(from_item, self._subject_items(subject_id))
            if data["sk"].startswith(_CONSENT)
        ]

    def linked_subjects(self, subject_id: str) -> list[str]:
        """Subjects linked to this one (two authenticated identifiers of both met on one call)."""
        return [
            str(k.sk).removeprefix(_LINKED) for k in self._subject_keys(subject_id) if str(k.sk).startswith(_LINKED)
        ]

    def _subject_items(self, subject_id: str) -> list[dict[str, Any]]:
        return partition_items(self._ddb, self._table, self._k.subject_partition(subject_id))

    def _subject_keys(self, subject_id: str) -> list[ItemKey]:
        return [ItemKey.of(i) for i in self._subject_items(subject_id)]

    def profile(self, subject_id: str) -> SubjectProfile:
        flags = self._profile_flags(subject_id) or _Flags()
        return SubjectProfile(subject_id, objected=flags.objected, restricted=flags.restricted)

    def profile_expiry(self, subject_id: str) -> int | None:
        """When the subject's profile expires (epoch seconds), or ``None`` when it is gone."""
        item = self._ddb.get_item(
            TableName=self._table, Key=self._k.profile(subject_id).wire(), ConsistentRead=True
        ).get("Item")
        return None if item is None else int(item["expires_at"]["N"])

    def state(self, subject_id: str, seen_macs: Iterable[str] = ()) -> SubjectState:
        """What the consent policy needs to know about the subject of a stored call: an objection or
        restriction on its profile, or recorded against any identifier seen on the call."""
        profile = self.profile(subject_id)
        objected, restricted = profile.objected, profile.restricted
        for mac in dict.fromkeys(seen_macs):  # a call shows few identifiers: one read each
            if objected and restricted:
                break
            rights = self._ddb.get_item(TableName=self._table, Key=self._k.rights(mac).wire(), ConsistentRead=True).get(
                "Item", {}
            )
            objected, restricted = objected or "objected_at" in rights, restricted or "restricted_at" in rights
        return SubjectState(known=True, objected=objected, restricted=restricted)

    # -- writing -------------------------------------------------------------------------------------
    def set_identifier_flag(self, mac: str, flag: str, now: datetime) -> None:
        """``objected_at``/``restricted_at`` against an identifier: applies to every call that shows it."""
        if flag not in _FLAGS:
            raise ValueError("unknown flag")
        self._ddb.update_item(
            TableName=self._table,
            Key=self._k.rights(mac).wire(),
            UpdateExpression=f"SET {flag} = if_not_exists({flag}, :now)",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}},
        )

    def set_flag(self, subject_id: str, flag: str, now: datetime) -> None:
        """``objected_at`` or ``restricted_at`` on the subject's profile (processing stops at once)."""
        if flag not in _FLAGS:
            raise ValueError("unknown flag")
        self._ddb.update_item(
            TableName=self._table,
            Key=self._k.profile(subject_id).wire(),
            UpdateExpression=f"SET {flag} = :now, subject_id = :sid",
            ExpressionAttributeValues={":now": {"S": now.isoformat()}, ":sid": {"S": subject_id}},
        )

    def record_consent(
        self, subject_id: str, call_id: str, consent: dict[str, bool], now: datetime, source: str = "call"
    ) -> None:
        self.consent_write(subject_id, call_id, consent, now, source).run(self._ddb)

    def consent_write(
        self, subject_id: str, call_id: str, consent: Mapping[str, bool], now: datetime, source: str = "call"
    ) -> Write:
        """:meth:`record_consent` as a transaction entry."""
        return Write(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **self._k.consent(subject_id, now.isoformat(), call_id).wire(),
                        "source": {"S": source},
                        "call_id": {"S": call_id},
                        "consent": {"M": {k: {"BOOL": v} for k, v in consent.items()}},
                        "recorded_at": {"S": now.isoformat()},
                    },
                }
            }
        )

    def link_identifier(self, subject_id: str, mac: str, now: datetime, *, only_if_free: bool = True) -> None:
        """Link an authenticated (or verified) identifier to the subject, with its reverse link.

        Refuses (:class:`IdentifierTakenError`) when the identifier already belongs to another
        subject: an identifier never silently changes owner.
        """
        link: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **self._k.link(mac).wire(),
                "subject_id": {"S": subject_id},
                "authenticated": {"BOOL": True},
                "linked_at": {"S": now.isoformat()},
            },
        }
        if only_if_free:
            link["ConditionExpression"] = "attribute_not_exists(pk) OR subject_id = :sid"
            link["ExpressionAttributeValues"] = {":sid": {"S": subject_id}}
        reverse = {"TableName": self._table, "Item": self._k.reverse_link(subject_id, mac).wire()}
        try:
            write_together(self._ddb, [Write({"Put": link}), Write({"Put": reverse})])
        except TransactionCanceledError:
            raise IdentifierTakenError("the identifier belongs to another subject") from None

    def unlink_identifier(self, subject_id: str, mac: str) -> None:
        """The identifier no longer belongs to the subject: its link (if the subject's) and the
        evidence of it on the subject's calls go."""
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=self._k.link(mac).wire(),
                ConditionExpression="attribute_not_exists(pk) OR subject_id = :sid",
                ExpressionAttributeValues={":sid": {"S": subject_id}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
        for key in (
            self._k.reverse_link(subject_id, mac),
            self._k.seen(mac, subject_id),
            self._k.reverse_seen(subject_id, mac),
        ):
            self._ddb.delete_item(TableName=self._table, Key=key.wire())

    # -- erasing ---------------------------------------------------------------------------------------
    def subject_id_of(self, key: ItemKey) -> str:
        """The subject id of a profile's key (as the expiry index returns it); :class:`ValueError` for a
        key of another tenant's partitions."""
        return self._k.subject_id_of(key.pk)

    def record_keys(self, subject_id: str, *, keep_profile: bool = False) -> list[ItemKey]:
        """Keys of the subject's own record: profile, consent history, subject links, and the
        identifier links and identifier evidence in both directions."""
        own = self._subject_keys(subject_id)
        return [k for k in own if not (keep_profile and k.sk == "PROFILE")] + self._forward_keys(subject_id, own)

    def _forward_keys(self, subject_id: str, own: list[ItemKey]) -> list[ItemKey]:
        """The identifier-side items the subject's reverse entries point to."""
        keys = []
        for key in own:
            if str(key.sk).startswith(_IDENT):
                keys.append(self._k.link(str(key.sk).removeprefix(_IDENT)))
            elif str(key.sk).startswith(_SEEN):
                keys.append(self._k.seen(str(key.sk).removeprefix(_SEEN), subject_id))
        return keys

    def count_records(self, subject_id: str) -> int:
        """How many items of the subject's record exist (its own, and the identifier-side ones)."""
        own = self._subject_keys(subject_id)
        forward = sum(
            1
            for key in self._forward_keys(subject_id, own)
            if "Item" in self._ddb.get_item(TableName=self._table, Key=key.wire(), ConsistentRead=True)
        )
        return len(own) + forward

    def delete(self, keys: list[ItemKey]) -> int:
        """Delete items of this table by key (batched, unprocessed items retried)."""
        return delete_keys(self._ddb, self._table, [k.wire() for k in keys])

    def delete_profile_if_expired(self, subject_id: str, cutoff: int) -> bool:
        """Delete the profile only if it still expires by ``cutoff`` (a subject seen again keeps it)."""
        try:
            self._ddb.delete_item(
                TableName=self._table,
                Key=self._k.profile(subject_id).wire(),
                ConditionExpression="expires_at <= :t",
                ExpressionAttributeValues={":t": {"N": str(cutoff)}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            return False
        return True
