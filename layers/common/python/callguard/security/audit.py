"""Append-only, hash-chained audit log of reads of personal data and privacy actions.

Entries live in one partition per UTC day (:mod:`callguard.storage.audit`) with a sequence
number as sort key. Each entry stores the SHA-256 of its canonical content together
with the previous entry's hash, so altering, deleting or reordering an entry breaks
the chain from that point (:func:`verify`). Appends are race-safe: the next sequence
number is written conditionally and retried on conflict. No content is logged —
who, what, which resource, when.

One chain per tenant (``scope``): a tenant's reads and privacy actions are chained, verified,
anchored and purged as that controller's log, never interleaved with another's (README "Tenants").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callguard.retention.policy import RetentionPolicy
from callguard.storage.audit import AuditEntries, AuditRecord
from callguard.storage.scope import V1, TenantScope

__all__ = ["GENESIS", "AuditLog", "ChainBreak", "chain_digest"]

GENESIS = "0" * 64


def chain_digest(previous: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{previous}|{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    partition: str
    sequence: int
    problem: str


@dataclass
class AuditLog:
    dynamodb: Any
    table: str
    retention: RetentionPolicy
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: whose chain (the default tenant's: v1's partitions)
    scope: TenantScope = V1
    #: the log's items (built from the fields above)
    store: AuditEntries = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.store = AuditEntries(self.dynamodb, self.table, self.retention, self.scope)

    def append(self, *, actor: str, action: str, resource: str, attempts: int = 8) -> int:
        now = self.clock()
        day = now.date().isoformat()
        entry = {"actor": actor, "action": action, "resource": resource, "at": now.isoformat()}
        for _ in range(attempts):
            head = self.store.head(day)
            sequence = head.sequence + 1 if head else 1
            previous = head.hash if head else GENESIS
            if self.store.put(day, sequence, entry, previous, chain_digest(previous, entry), now):
                return sequence
        raise RuntimeError("audit log append lost too many races")

    def entries(self, day: str) -> list[AuditRecord]:
        """Every entry of ``day`` (yyyy-mm-dd), in order."""
        return self.store.day(day)

    def verify(self, day: str) -> ChainBreak | None:
        """The first break in the chain of ``day`` (yyyy-mm-dd), or None when intact."""
        partition = self.store.partition(day)
        previous, expected = GENESIS, 1
        for record in self.entries(day):
            if record.sequence != expected:
                return ChainBreak(partition, expected, "missing entry")
            if record.prev_hash != previous:
                return ChainBreak(partition, record.sequence, "previous hash does not match")
            if chain_digest(previous, record.entry) != record.hash:
                return ChainBreak(partition, record.sequence, "entry altered")
            previous, expected = record.hash, expected + 1
        return None
