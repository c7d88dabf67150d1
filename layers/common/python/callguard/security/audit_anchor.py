"""Signed anchors for the audit chain: what the roles that write the log cannot forge.

The hash chain of one day (:mod:`callguard.security.audit`) shows an altered or reordered entry, but a
writer that deletes the latest entries, or rewrites an entry and recomputes every hash after
it, leaves a chain that is intact again. Anchors close that gap:

* **Day anchors.** Once a UTC day is over (plus :data:`CLOSE_GRACE` for late writers), the
  anchoring function checks the day's chain and signs ``{day, entries, head}`` together with the
  previous day's head and the digest of the previous day's anchor, so days are linked and a
  deleted or rewritten day no longer matches. Days with no entries are anchored too (``entries:
  0``), so deleting a whole day is seen.
* **Checkpoints.** During the day it signs ``{day, entries, head}`` of the entries so far, so the
  latest entries of the current day are covered up to the last checkpoint.
* The signature is ECDSA P-256 by an asymmetric KMS key (``SIGN_VERIFY``) that only the
  anchoring function may use; the signed documents go to a bucket with S3 Object Lock in
  compliance mode, where no one (root included) can delete or overwrite a version before its
  retention ends. :func:`AuditAnchors.verify` reads every version, so a replayed old anchor put
  on top of a newer one is seen as well.

Nothing personal is in an anchor: days, counts and hashes.

Each tenant's chain is anchored on its own (one :class:`AuditAnchors` per tenant, built by
``wiring.build_audit_anchors``): the default tenant's anchors keep v1's keys (``days/<day>.json``,
``checkpoints/<day>/…``); a listed tenant's live under ``tenants/<tenant>/`` and name the tenant in
the signed document, so one tenant's anchor can never stand in for another's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from callguard.retention.policy import DataCategory
from callguard.security.audit import GENESIS, AuditLog
from callguard.storage.scope import V1, TenantScope

__all__ = [
    "CLOSE_GRACE",
    "SIGNING_ALGORITHM",
    "AnchorReport",
    "AuditAnchors",
    "AuditChainBrokenError",
    "DeploymentAnchorReport",
    "DeploymentAnchors",
    "Verdict",
    "canonical_json",
]

SIGNING_ALGORITHM = "ECDSA_SHA_256"
#: a day is closed (and anchored) this long after its end, so a write that began before midnight lands first
CLOSE_GRACE = timedelta(minutes=5)
#: at most this many days are closed in one run (a long outage is caught up over several runs)
MAX_DAYS_PER_RUN = 400
DAYS_PREFIX = "days/"
CHECKPOINTS_PREFIX = "checkpoints/"


class AuditChainBrokenError(RuntimeError):
    """The anchoring function refuses to sign a chain that does not verify."""


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _document_digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document)).hexdigest()


def day_key(day: str, scope: TenantScope = V1) -> str:
    """The anchor of ``day`` of ``scope``'s chain."""
    return scope.object_key(f"{DAYS_PREFIX}{day}.json")


def checkpoint_key(day: str, entries: int, scope: TenantScope = V1) -> str:
    return scope.object_key(f"{CHECKPOINTS_PREFIX}{day}/{entries:09d}.json")


@dataclass(frozen=True)
class _Head:
    entries: int
    head: str
    hashes: tuple[str, ...]


@dataclass
class AnchorReport:
    days: list[str] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"days_anchored": self.days, "checkpoint": self.checkpoint}


@dataclass
class Verdict:
    """The outcome of :meth:`AuditAnchors.verify`: problems make it fail, notes do not."""

    day: str
    entries: int = 0
    anchored_entries: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class AuditAnchors:
    log: AuditLog
    s3: Any
    kms: Any
    bucket: str
    key_id: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    close_grace: timedelta = CLOSE_GRACE

    @property
    def scope(self) -> TenantScope:
        """Whose chain these anchors sign (the log's tenant)."""
        return self.log.scope

    def _signed_fields(self) -> dict[str, Any]:
        """What a listed tenant's anchor names besides v1's fields: the tenant (the default tenant's
        documents keep v1's shape)."""
        return {} if self.scope.is_v1 else {"tenant": self.scope.tenant}

    def _of_this_chain(self, document: dict[str, Any]) -> bool:
        return document.get("tenant") == (None if self.scope.is_v1 else self.scope.tenant)

    # -- reading the log ---------------------------------------------------------------------
    def _chain(self, day: str) -> _Head:
        broken = self.log.verify(day)
        if broken is not None:
            raise AuditChainBrokenError(
                f"the audit chain of {day} is broken at entry {broken.sequence}: {broken.problem}"
            )
        hashes = tuple(record.hash for record in self.log.entries(day))
        return _Head(len(hashes), hashes[-1] if hashes else GENESIS, hashes)

    def _first_day(self) -> str | None:
        """The earliest day with entries: the earliest expiry in the expiry index (every entry of the
        audit category has the same retention, so the earliest to expire was written first)."""
        earliest = self.log.store.earliest_expiry()
        if earliest is None:
            return None
        written = datetime.fromtimestamp(earliest, UTC) - timedelta(days=self.log.retention.days(DataCategory.AUDIT))
        return (written.date() - timedelta(days=1)).isoformat()  # a day of slack for rounding

    def _last_closed_day(self, now: datetime) -> date:
        return (now - self.close_grace).date() - timedelta(days=1)

    # -- S3 ------------------------------------------------------------------------------------
    def _versions(self, key: str) -> Iterator[dict[str, Any]]:
        """Every stored version of ``key`` (delete markers hide nothing from the verifier)."""
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            for version in page.get("Versions", []):
                if version["Key"] == key:
                    body = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=version["VersionId"])["Body"]
                    yield json.loads(body.read())

    def _keys(self, prefix: str) -> list[str]:
        keys: set[str] = set()
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.update(v["Key"] for v in page.get("Versions", []))
        return sorted(keys)

    def _latest_day_anchor(self) -> dict[str, Any] | None:
        keys = self._keys(self.scope.object_key(DAYS_PREFIX))
        if not keys:
            return None
        signed = json.loads(self.s3.get_object(Bucket=self.bucket, Key=keys[-1])["Body"].read())
        if not self._signature_valid(signed):
            raise AuditChainBrokenError(f"the latest day anchor ({keys[-1]}) is not signed by the anchor key")
        document: dict[str, Any] = signed["anchor"]
        return document

    def is_anchored(self, day: str) -> bool:
        """Whether ``day`` has a day anchor (what the purge asks before removing expired entries)."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=day_key(day, self.scope))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    # -- signing -------------------------------------------------------------------------------
    def _put(self, key: str, document: dict[str, Any]) -> None:
        signature = self.kms.sign(
            KeyId=self.key_id,
            Message=hashlib.sha256(canonical_json(document)).digest(),
            MessageType="DIGEST",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )["Signature"]
        body = {"anchor": document, "signature": base64.b64encode(signature).decode(), "algorithm": SIGNING_ALGORITHM}
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=canonical_json(body),
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
        )

    def _signature_valid(self, signed: dict[str, Any]) -> bool:
        try:
            document, signature = signed["anchor"], base64.b64decode(signed["signature"], validate=True)
        except (KeyError, TypeError, ValueError):
            return False
        if not isinstance(document, dict):
            return False
        try:
            answer = self.kms.verify(
                KeyId=self.key_id,
                Message=hashlib.sha256(canonical_json(document)).digest(),
                MessageType="DIGEST",
                Signature=signature,
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"KMSInvalidSignatureException", "ValidationException"}:
                return False
            raise
        return bool(answer.get("SignatureValid"))

    # -- the anchoring function -----------------------------------------------------------------
    def anchor(self) -> AnchorReport:
        """Close every day not yet anchored up to yesterday, in order, then checkpoint today."""
        now = self.clock()
        report = AnchorReport()
        previous = self._latest_day_anchor()
        last_closed = self._last_closed_day(now)
        if previous is not None:
            start = date.fromisoformat(previous["day"]) + timedelta(days=1)
        else:
            first = self._first_day()
            start = date.fromisoformat(first) if first else last_closed
        day = start
        while day <= last_closed and len(report.days) < MAX_DAYS_PER_RUN:
            previous = self._anchor_day(day.isoformat(), previous, now)
            report.days.append(day.isoformat())
            day += timedelta(days=1)
        today = now.date().isoformat()
        head = self._chain(today)
        if head.entries and not self._versions_exist(checkpoint_key(today, head.entries, self.scope)):
            document = {"kind": "checkpoint", "day": today, "entries": head.entries, "head": head.head,
                        "at": now.isoformat(), **self._signed_fields()}  # fmt: skip
            self._put(checkpoint_key(today, head.entries, self.scope), document)
            report.checkpoint = {"day": today, "entries": head.entries}
        return report

    def _versions_exist(self, key: str) -> bool:
        return bool(self._keys(key))

    def _anchor_day(self, day: str, previous: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        head = self._chain(day)
        document = {
            "kind": "day",
            "day": day,
            "entries": head.entries,
            "head": head.head,
            "previous_day": previous["day"] if previous else None,
            "previous_head": previous["head"] if previous else None,
            "previous_anchor": _document_digest(previous) if previous else None,
            "at": now.isoformat(),
            **self._signed_fields(),
        }
        self._put(day_key(day, self.scope), document)
        return document

    # -- verification ---------------------------------------------------------------------------
    def _signed_anchors(self, key: str, verdict: Verdict) -> list[dict[str, Any]]:
        documents = []
        for signed in self._versions(key):
            if not self._signature_valid(signed):
                verdict.problems.append(f"an anchor at {key} does not carry a valid signature of the anchor key")
                continue
            documents.append(signed["anchor"])
        return documents

    def verify(self, day: str) -> Verdict:
        """Entries, links, signatures and anchors of ``day`` (and its link to the day before)."""
        verdict = Verdict(day)
        date.fromisoformat(day)  # ValueError for a malformed day, before any call
        broken = self.log.verify(day)
        if broken is not None:
            verdict.problems.append(f"the chain breaks at entry {broken.sequence}: {broken.problem}")
            return verdict
        hashes = [record.hash for record in self.log.entries(day)]
        verdict.entries = len(hashes)
        head = hashes[-1] if hashes else GENESIS
        self._check_checkpoints(day, hashes, verdict)
        anchors = self._signed_anchors(day_key(day, self.scope), verdict)
        closed = date.fromisoformat(day) <= self._last_closed_day(self.clock())
        if not anchors:
            if closed:
                verdict.problems.append(
                    f"{day} has no signed day anchor: its entries cannot be proven complete "
                    "(run the anchoring function, or the day was before anchoring began)"
                )
            else:
                verdict.notes.append(
                    f"{day} is not closed yet: entries after the last checkpoint "
                    f"({verdict.anchored_entries} of {verdict.entries}) are covered by the next checkpoint only"
                )
                before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
                for link in self._signed_anchors(day_key(before, self.scope), verdict):
                    self._check_prior(before, link, verdict)
            return verdict
        for document in anchors:
            self._check_day_anchor(day, document, hashes, head, verdict)
        if len({_document_digest(d) for d in anchors}) > 1:
            verdict.problems.append(f"{day} has more than one signed day anchor: an anchor was replayed or re-signed")
        verdict.anchored_entries = max(verdict.anchored_entries, anchors[0].get("entries", 0))
        return verdict

    def _check_checkpoints(self, day: str, hashes: list[str], verdict: Verdict) -> None:
        for key in self._keys(self.scope.object_key(f"{CHECKPOINTS_PREFIX}{day}/")):
            for document in self._signed_anchors(key, verdict):
                entries = document.get("entries")
                if (
                    document.get("kind") != "checkpoint"
                    or document.get("day") != day
                    or not self._of_this_chain(document)
                    or key != checkpoint_key(day, entries if isinstance(entries, int) else -1, self.scope)
                ):
                    verdict.problems.append(f"the checkpoint at {key} is not one of {day}: a replayed anchor")
                    continue
                if not isinstance(entries, int) or entries < 1:
                    continue  # unreachable: the key check above needs a positive count
                if entries > len(hashes):
                    verdict.problems.append(
                        f"a signed checkpoint counts {entries} entries, the log has {len(hashes)}: entries were deleted"
                    )
                elif hashes[entries - 1] != document.get("head"):
                    verdict.problems.append(
                        f"entry {entries} does not match its signed checkpoint: the log was rewritten"
                    )
                else:
                    verdict.anchored_entries = max(verdict.anchored_entries, entries)

    def _check_day_anchor(
        self, day: str, document: dict[str, Any], hashes: list[str], head: str, verdict: Verdict
    ) -> None:
        if document.get("kind") != "day" or document.get("day") != day or not self._of_this_chain(document):
            verdict.problems.append(f"the day anchor of {day} is an anchor of something else: a replayed anchor")
            return
        if document.get("entries") != len(hashes):
            verdict.problems.append(
                f"the signed day anchor counts {document.get('entries')} entries, the log has {len(hashes)}"
            )
        elif document.get("head") != head:
            verdict.problems.append("the head of the day does not match its signed anchor: the log was rewritten")
        previous_day = document.get("previous_day")
        if previous_day is None:
            verdict.notes.append(f"{day} is the first anchored day")
            return
        if previous_day != (date.fromisoformat(day) - timedelta(days=1)).isoformat():
            verdict.problems.append(f"the day anchor of {day} links to {previous_day}, not to the day before")
            return
        previous = self._signed_anchors(day_key(previous_day, self.scope), verdict)
        if not previous:
            verdict.problems.append(f"the anchor of the day before ({previous_day}) is missing")
            return
        link = previous[0]
        if document.get("previous_anchor") != _document_digest(link) or document.get("previous_head") != link.get(
            "head"
        ):
            verdict.problems.append(f"the link from {day} to {previous_day} does not match that day's anchor")
        self._check_prior(previous_day, link, verdict)

    def _check_prior(self, previous_day: str, link: dict[str, Any], verdict: Verdict) -> None:
        """The day before must still hold exactly what its anchor signed (a deleted day shows here)."""
        prior = self.log.verify(previous_day)
        prior_hashes = [record.hash for record in self.log.entries(previous_day)]
        if (
            prior is not None
            or len(prior_hashes) != link.get("entries")
            or ((prior_hashes[-1] if prior_hashes else GENESIS) != link.get("head"))
        ):
            verdict.problems.append(f"the entries of the day before ({previous_day}) no longer match its anchor")


# -- one scheduled run over every tenant's chain -------------------------------------------------------
@dataclass
class DeploymentAnchors:
    """The anchoring function's run: every tenant's chain in turn, ``default`` first. A broken chain
    of one tenant is never signed, but does not keep the other tenants' chains from being anchored:
    they are, and then the run fails (:class:`AuditChainBrokenError`, naming the tenants only)."""

    tenants: tuple[str, ...]
    build: Callable[[str], AuditAnchors]

    def anchor(self) -> DeploymentAnchorReport:
        report = DeploymentAnchorReport()
        for tenant in self.tenants:
            try:
                report.reports[tenant] = self.build(tenant).anchor()
            except AuditChainBrokenError:
                report.broken.append(tenant)
        if report.broken:
            raise AuditChainBrokenError(
                f"the audit chain of tenant(s) {', '.join(report.broken)} does not verify and was not signed; "
                "the other tenants' chains were anchored"
            )
        return report


@dataclass
class DeploymentAnchorReport:
    reports: dict[str, AnchorReport] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)

    @property
    def days(self) -> list[str]:
        """Every day anchored, over every tenant (a day counts once per tenant)."""
        return [day for report in self.reports.values() for day in report.days]

    @property
    def checkpoints(self) -> int:
        """Tenants whose chain got a checkpoint in this run."""
        return sum(report.checkpoint is not None for report in self.reports.values())

    def to_dict(self) -> dict[str, Any]:
        """The default tenant's report in v1's shape; with listed tenants, ``tenants`` beside it."""
        default = self.reports.get(V1.tenant)
        out = default.to_dict() if default is not None else AnchorReport().to_dict()
        listed = {t: r.to_dict() for t, r in sorted(self.reports.items()) if t != V1.tenant}
        if listed:
            out["tenants"] = listed
        return out
