"""Retention purge (Art. 5(1)(e) storage limitation): each data category goes when its period ends.

The purge reads the expiry index — ``<category>#<shard>`` → ``expires_at`` — of the four
tables that hold expiring data, never the tables themselves, so its cost grows with what
expires, not with how much is stored. It deletes through the deletion path of erasure
requests (:class:`~callguard.privacy.subject_data.SubjectData`): batched item deletes, every
version of an object, crypto-shredding for subjects.

* Items of a subject under legal hold or restriction (Art. 18) stay; they are counted, and
  their TTL backstop is pushed out so DynamoDB does not remove them either.
* It stops between pages when ``should_stop()`` says so (the Lambda's remaining time) and
  reports ``complete: false``; the next run reads the index again and carries on. Every
  step is idempotent, so a run that died half-way is simply repeated.
* The report holds counts per category, the instant and the duration — nothing personal.

Retention periods apply to items as written: shortening a period applies to new data.

**Per tenant and category.** A deployment with tenants runs one :class:`RetentionPurge` per tenant
(:class:`DeploymentPurge`, one scheduled run over every tenant): each reads only its tenant's expiry
partitions (``T#<tenant>#<category>#<shard>``; the default tenant's are v1's), so an item is
purged only by its own tenant's run, when the period its own tenant's retention stamped on it has
passed; each checks holds and restrictions of its own tenant only (its stores are that tenant's),
and each keeps its own report (the default tenant's under v1's key, in v1's shape).

* A tenant whose purge fails does not stop the others: its report is kept with ``complete: false``
  and the error's type (never its message), the remaining tenants are purged, and then the run
  fails as a whole (:class:`TenantPurgeFailedError`), so the purge's error alarm fires and the next
  scheduled run tries that tenant again. Nothing is skipped silently.
* Time is shared: with ``remaining_ms`` each tenant may use at most its share of what is left
  when it starts (what it leaves unused goes to the tenants after it), so one tenant's backlog
  cannot keep the others from being purged; a tenant that runs out reports ``complete: false``
  and carries on in the next run.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from callguard.privacy.subject_data import SubjectData
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.calls import CallsRepository
from callguard.storage.dynamo import ItemKey
from callguard.storage.expiry import ExpiredItem, ExpiryIndex, PurgeReports
from callguard.storage.holds import LegalHolds
from callguard.storage.requests import PrivacyRequests
from callguard.storage.subjects import SubjectsRepository

__all__ = [
    "CategoryCounts",
    "DeploymentPurge",
    "PurgeReport",
    "PurgeRun",
    "PurgeTables",
    "RetentionPurge",
    "TenantPurgeFailedError",
]

PAGE_SIZE = 100
#: how far the TTL backstop of a held item is pushed beyond the purge instant
HELD_BACKSTOP_SECONDS = 30 * 86400


class _Kind(StrEnum):
    ITEMS = "items"  # delete the item
    OBJECTS = "objects"  # a marker item: every version of its S3 object, then the marker
    SUBJECTS = "subjects"  # a subject's profile: shred the key, erase the subject's record


@dataclass(frozen=True)
class PurgeTables:
    calls: str
    subjects: str
    privacy: str
    audit: str


@dataclass
class CategoryCounts:
    #: index entries read whose expiry had passed
    expired: int = 0
    #: items (for subjects: subjects) deleted
    deleted: int = 0
    #: kept because the subject is under legal hold or restriction
    held: int = 0
    #: object versions (incl. delete markers) removed from S3
    object_versions: int = 0


@dataclass
class PurgeReport:
    run_id: str
    as_of: str
    started_at: str
    complete: bool = False
    duration_ms: int = 0
    items_read: int = 0
    categories: dict[str, CategoryCounts] = field(default_factory=dict)
    #: expired audit entries kept because their day has no signed anchor yet (a metric; the stored
    #: report keeps its documented shape)
    audit_unanchored: int = 0
    #: entries in this tenant's expiry partitions of items another tenant owns, left alone (a metric: a
    #: store wrote another tenant's expiry key; the stored report keeps its documented shape)
    foreign: int = 0
    #: the type of the error that stopped this run (never its message); ``None``: none did
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        report = asdict(self)
        del report["audit_unanchored"], report["foreign"]
        if self.error is None:  # v1's shape
            del report["error"]
        return report

    @property
    def deleted(self) -> int:
        return sum(c.deleted for c in self.categories.values())


@dataclass
class RetentionPurge:
    index: ExpiryIndex
    reports: PurgeReports
    tables: PurgeTables
    data: SubjectData
    calls: CallsRepository
    subjects: SubjectsRepository
    requests: PrivacyRequests
    holds: LegalHolds
    retention: RetentionPolicy
    page_size: int = PAGE_SIZE
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: whether an audit day (yyyy-mm-dd) has its signed day anchor; audit entries of days without
    #: one are never removed, so the purge cannot be used to erase unanchored history
    anchored: Callable[[str], bool] = lambda day: False
    _held: dict[str, bool] = field(default_factory=dict, init=False)
    _holds: set[str] | None = field(default=None, init=False)

    def sources(self) -> list[tuple[DataCategory, str, _Kind]]:
        t = self.tables
        return [
            (DataCategory.EXPORTS, t.privacy, _Kind.OBJECTS),
            (DataCategory.TRANSCRIPTS, t.calls, _Kind.OBJECTS),
            (DataCategory.CALLS, t.calls, _Kind.ITEMS),
            (DataCategory.ROUTING_DECISIONS, t.calls, _Kind.ITEMS),
            (DataCategory.FOLLOWUPS, t.calls, _Kind.ITEMS),
            (DataCategory.ANALYSES, t.calls, _Kind.ITEMS),
            (DataCategory.SUBJECTS, t.subjects, _Kind.SUBJECTS),
            (DataCategory.PRIVACY_REQUESTS, t.privacy, _Kind.ITEMS),
            (DataCategory.AUDIT, t.audit, _Kind.ITEMS),
        ]

    def run(self, as_of: datetime, should_stop: Callable[[], bool] = lambda: False) -> PurgeReport:
        started, clock0 = self.clock(), time.monotonic()
        report = PurgeReport(run_id=uuid.uuid4().hex, as_of=as_of.isoformat(), started_at=started.isoformat())
        self._held.clear()
        self._holds = None
        cutoff = int(as_of.timestamp())
        report.complete = True
        try:
            for category, table, kind in self.sources():
                counts = report.categories.setdefault(str(category), CategoryCounts())
                if not self._purge_category(category, table, kind, cutoff, counts, report, should_stop):
                    report.complete = False
                    break
        except Exception as exc:  # the report of what was done is kept (if the store takes it), then it fails
            report.complete, report.error = False, type(exc).__name__
            report.duration_ms = int((time.monotonic() - clock0) * 1000)
            with contextlib.suppress(Exception):
                self._record(report)
            raise
        report.duration_ms = int((time.monotonic() - clock0) * 1000)
        self._record(report)
        return report

    # -- reading the index -------------------------------------------------------------------
    def _purge_category(
        self,
        category: DataCategory,
        table: str,
        kind: _Kind,
        cutoff: int,
        counts: CategoryCounts,
        report: PurgeReport,
        should_stop: Callable[[], bool],
    ) -> bool:
        pages = self.index.expired(table, category, cutoff, self.page_size)
        while True:
            if should_stop():
                return False
            page = next(pages, None)
            if page is None:
                return True
            report.items_read += page.scanned
            report.foreign += page.foreign
            items = page.items
            counts.expired += len(items)
            if category is DataCategory.AUDIT:
                items = self._anchored_only(items, report)
            held: list[ExpiredItem] = []
            keep: list[ExpiredItem] = []
            for item in items:
                (held if self._is_held(item.subject_id) else keep).append(item)
            counts.held += len(held)
            self.index.push_backstop(table, [i.key for i in held], cutoff + HELD_BACKSTOP_SECONDS)
            if keep:
                self._delete(table, kind, keep, cutoff, counts)

    def _anchored_only(self, items: list[ExpiredItem], report: PurgeReport) -> list[ExpiredItem]:
        days: dict[str, bool] = {}
        kept = []
        for item in items:
            day = item.audit_day
            if day not in days:
                days[day] = self.anchored(day)
            if days[day]:
                kept.append(item)
            else:
                report.audit_unanchored += 1
        return kept

    def _held_by_holds(self) -> set[str]:
        """Subjects that a standing legal hold reaches (holds are stored by identifier; a single
        call a hold reaches keeps its whole history, the cautious side for a purge)."""
        held: set[str] = set()
        for hold in self.holds.standing():
            scope = self.data.scope(hold.identifiers)
            held.update(scope.subjects)
            held.update(scope.calls.values())
        return held

    def _is_held(self, subject_id: str | None) -> bool:
        """Legal hold or restriction on the subject or any subject linked to it."""
        if subject_id is None:
            return False
        if self._holds is None:
            self._holds = self._held_by_holds()
        if subject_id not in self._held:
            closure = self.data.closure(subject_id)
            held = any(s in self._holds or self.subjects.profile(s).restricted for s in closure)
            for s in closure:
                self._held[s] = held
            self._held.setdefault(subject_id, held)
        return self._held[subject_id]

    # -- deleting ----------------------------------------------------------------------------
    def _delete(self, table: str, kind: _Kind, items: list[ExpiredItem], cutoff: int, c: CategoryCounts) -> None:
        keys = [i.key for i in items]
        if kind is _Kind.ITEMS:
            c.deleted += self._delete_items(table, keys)
        elif kind is _Kind.OBJECTS:
            c.object_versions += self._delete_objects(items)
            for item in items:  # whoever pointed at the object learns it is gone
                self._forget(item)
            c.deleted += self._delete_items(table, keys)
        else:
            for item in items:
                c.deleted += self._purge_subject(self.subjects.subject_id_of(item.key), cutoff)

    def _delete_items(self, table: str, keys: list[ItemKey]) -> int:
        return self.data.deleting(lambda batch: self.index.delete(table, batch), keys)

    def _delete_objects(self, markers: list[ExpiredItem]) -> int:
        by_bucket: dict[str, list[dict[str, str]]] = {}
        for marker in markers:
            if marker.object_bucket is not None and marker.object_key is not None:
                versions = self.data.object_versions(marker.object_bucket, marker.object_key)
                by_bucket.setdefault(marker.object_bucket, []).extend(versions)
        return sum(self.data.delete_versions(bucket, versions) for bucket, versions in by_bucket.items())

    def _forget(self, marker: ExpiredItem) -> None:
        if marker.key.sk == "TRANSCRIPT":
            self.calls.forget_purged_transcript(marker.key)
        elif marker.key.sk == "EXPORT" and marker.request_id is not None:
            self.requests.mark_export_purged(marker.request_id, self.clock())

    def _purge_subject(self, subject_id: str, cutoff: int) -> int:
        """Erase a subject not seen for its retention period: key, links, consent history, profile.

        The profile goes last and only if it is still expired, so a run that stops half-way
        leaves the profile in the index for the next run, and a subject seen again meanwhile
        keeps its profile.
        """
        expires = self.subjects.profile_expiry(subject_id)
        if expires is None or expires > cutoff:
            return 0  # gone already, or refreshed after the index was read
        self.data.shred_keys([subject_id])
        self.data.erase_subject_record(subject_id, keep_profile=True)
        return int(self.subjects.delete_profile_if_expired(subject_id, cutoff))

    # -- accountability ----------------------------------------------------------------------
    def _record(self, report: PurgeReport) -> None:
        """Keep the report (counts only) with the privacy records, for the accountability period."""
        self.reports.put(report.run_id, report.to_dict(), self.clock())


# -- one scheduled run over every tenant ---------------------------------------------------------------
class TenantPurgeFailedError(RuntimeError):
    """The purge of one or more tenants failed; the other tenants were purged. The message names
    tenant ids and error types only; ``run`` holds what the run did."""

    def __init__(self, run: PurgeRun) -> None:
        self.run = run
        failed = ", ".join(f"{t} ({e})" for t, e in sorted(run.failed.items()))
        super().__init__(f"The retention purge failed for tenant(s) {failed}; the other tenants were purged.")


@dataclass
class PurgeRun:
    """What one scheduled run did: each tenant's report, and the tenants whose purge failed."""

    reports: dict[str, PurgeReport] = field(default_factory=dict)
    #: tenant → the type of the error its purge stopped with
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every tenant's purge ran to its end."""
        return not self.failed and all(r.complete for r in self.reports.values())

    @property
    def default(self) -> PurgeReport | None:
        from callguard.security.tenancy import DEFAULT_TENANT

        return self.reports.get(DEFAULT_TENANT)

    def totals(self) -> dict[str, CategoryCounts]:
        """Counts per category over every tenant (the run's metrics)."""
        totals: dict[str, CategoryCounts] = {}
        for report in self.reports.values():
            for category, counts in report.categories.items():
                total = totals.setdefault(category, CategoryCounts())
                total.expired += counts.expired
                total.deleted += counts.deleted
                total.held += counts.held
                total.object_versions += counts.object_versions
        return totals

    @property
    def items_read(self) -> int:
        return sum(r.items_read for r in self.reports.values())

    @property
    def deleted(self) -> int:
        return sum(r.deleted for r in self.reports.values())

    @property
    def audit_unanchored(self) -> int:
        return sum(r.audit_unanchored for r in self.reports.values())

    @property
    def foreign(self) -> int:
        return sum(r.foreign for r in self.reports.values())

    def to_dict(self) -> dict[str, Any]:
        """The default tenant's report in v1's shape; with listed tenants, ``tenants`` beside it holds
        each listed tenant's report (by tenant id)."""
        from callguard.security.tenancy import DEFAULT_TENANT

        default = self.default
        out = default.to_dict() if default is not None else {}
        listed = {t: r.to_dict() for t, r in sorted(self.reports.items()) if t != DEFAULT_TENANT}
        if listed:
            out["tenants"] = listed
        return out


@dataclass
class DeploymentPurge:
    """One scheduled run: the purge of every tenant of the deployment, in turn (module docstring)."""

    #: the deployment's tenants, ``default`` first
    tenants: tuple[str, ...]
    #: the purge of one tenant (its stores, its expiry partitions, its holds, its reports)
    build: Callable[[str], RetentionPurge]

    def run(
        self,
        as_of: datetime,
        should_stop: Callable[[], bool] = lambda: False,
        remaining_ms: Callable[[], int] | None = None,
    ) -> PurgeRun:
        """Purge every tenant as of ``as_of``; :class:`TenantPurgeFailedError` after the last one if any
        failed (its ``run`` attribute holds what was done)."""
        run = PurgeRun()
        if len(self.tenants) == 1:  # v1: one tenant, whose failure is the run's own
            run.reports[self.tenants[0]] = self.build(self.tenants[0]).run(as_of, should_stop=should_stop)
            return run
        for position, tenant in enumerate(self.tenants):
            stop = self._share(should_stop, remaining_ms, len(self.tenants) - position)
            try:
                run.reports[tenant] = self.build(tenant).run(as_of, should_stop=stop)
            except Exception as exc:
                run.failed[tenant] = type(exc).__name__
        if run.failed:
            raise TenantPurgeFailedError(run)
        return run

    @staticmethod
    def _share(
        should_stop: Callable[[], bool], remaining_ms: Callable[[], int] | None, tenants_left: int
    ) -> Callable[[], bool]:
        """``should_stop``, and with ``remaining_ms`` also: this tenant has used its share of the time."""
        if remaining_ms is None or tenants_left <= 1:
            return should_stop
        at_start = remaining_ms()
        until = at_start - at_start // tenants_left
        return lambda: should_stop() or remaining_ms() <= until
