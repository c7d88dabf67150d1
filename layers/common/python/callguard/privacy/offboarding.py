"""Offboarding a tenant: crypto-shred its subject keys, delete every item and object version it
owns, verify that nothing of it is left, and issue a certificate (issue #18).

The processor runs it (an operator, never a tenant's token) for a tenant the deployment lists;
the default tenant is refused (v1's data has no tenant prefix) and so is a tenant the
deployment does not list. The steps, each a state of the offboarding state machine and each
resumable, in this order:

1. :meth:`Offboarding.start` opens the tenant's run (or resumes the open one) and records it in
   the processor's audit log;
2. :meth:`Offboarding.shred_keys` deletes the tenant's wrapped subject keys first: from then on
   nothing sealed under them opens, in a backup or an old object version either;
3. :meth:`Offboarding.delete_data` deletes the tenant's items in every table and every object
   version and delete marker under its prefix in every bucket;
4. :meth:`Offboarding.verify` scans every store afresh and lists every bucket: a store that still
   holds something of the tenant sends the run back to deletion and fails the step
   (:class:`TenantDataRemainsError`);
5. :meth:`Offboarding.certify` writes the certificate (counts per store, times, the verification,
   the digest of the counted keys; no personal data) outside the tenant's prefix, where it
   outlives the tenant, and appends its hash to the processor's audit log.

Each sweeping step works through a bounded number of pages per invocation and answers
``{"more": true}`` until its phase is done (the state machine loops), with its progress (never a
key) in the answer. A page's keys are journaled before they are deleted
(:class:`~callguard.storage.tenant_data.OffboardingRuns`): a retried step finishes that page and
counts it once; a second execution of the same run loses the conditional write and counts
nothing. A re-run after a certificate opens a new run, which finds (and certifies) only what was
written since.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from callguard.security.audit import AuditLog
from callguard.security.tenancy import DEFAULT_TENANT, TENANT_ID_PATTERN
from callguard.storage.tenant_data import (
    DIGEST_METHOD,
    OffboardingRun,
    OffboardingRuns,
    Store,
    TenantData,
    add_digest,
)

__all__ = [
    "PHASES",
    "Offboarding",
    "TenantDataRemainsError",
    "TenantNotOffboardableError",
]

#: the phases in order; each sweeping phase names the stores it goes through
SHRED, DELETE, VERIFY, CERTIFY, CERTIFIED = "shred", "delete", "verify", "certify", "certified"
PHASES: Final = (SHRED, DELETE, VERIFY, CERTIFY, CERTIFIED)
ACTOR: Final = "system:tenant-offboarding"


class TenantNotOffboardableError(Exception):
    """The default tenant, a tenant the deployment does not list, or no valid tenant id at all (never an
    API answer: the operator's workflow fails under this name)."""


class TenantDataRemainsError(Exception):
    """Verification found data of the tenant after deletion (the message names stores and counts)."""


def _tenant_id(tenant: object) -> str:
    import re

    if not isinstance(tenant, str) or not re.match(TENANT_ID_PATTERN, tenant):
        raise TenantNotOffboardableError("No valid tenant id was given.")
    return tenant


@dataclass
class Offboarding:
    """One listed tenant's offboarding (module docstring). ``keys`` is the subject keys table;
    ``stores`` every other table and bucket that can hold the tenant's data."""

    tenant: str
    data: TenantData
    runs: OffboardingRuns
    audit: AuditLog
    keys: Store
    stores: Sequence[Store]
    #: keys read per page (DynamoDB: items evaluated per Scan call; S3: versions per listing)
    page_size: int = 100
    #: pages per invocation of a sweeping step (then it answers ``more`` and the machine loops)
    pages_per_step: int = 50
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- the steps ---------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Open the tenant's run, or resume the one a failed or stopped execution left open."""
        run = self.runs.get(self.tenant)
        if run is not None and run.phase != CERTIFIED:
            return self._answer(run, resumed=True)
        now = self.clock()
        run_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"
        opened = OffboardingRun(tenant=self.tenant, run_id=run_id, started_at=now.isoformat(), phase=SHRED)
        if run is not None:  # the last run was certified: the next one replaces its journal entry
            opened.version = run.version
        opened = self.runs.save(opened, now)
        self.audit.append(actor=ACTOR, action="tenant_offboarding_started", resource=self._resource(run_id))
        return self._answer(opened, resumed=False)

    def shred_keys(self) -> dict[str, Any]:
        """Delete the tenant's wrapped subject keys (crypto-shredding), a bounded number of pages."""
        return self._sweep(SHRED, [self.keys], delete=True, then=DELETE)

    def delete_data(self) -> dict[str, Any]:
        """Delete the tenant's items and object versions in every other store, a bounded number of pages."""
        return self._sweep(DELETE, list(self.stores), delete=True, then=VERIFY)

    def verify(self) -> dict[str, Any]:
        """Scan every store afresh; anything of the tenant left sends the run back to deletion."""
        answer = self._sweep(VERIFY, [self.keys, *self.stores], delete=False, then=CERTIFY)
        if answer["more"]:
            return answer
        run = self._run()
        left = {name: n for name, n in run.remaining.items() if n}
        if left:
            run.phase, run.store_index, run.cursor, run.remaining = DELETE, 0, None, {}
            self.runs.save(run, self.clock())
            listed = ", ".join(f"{name}: {n}" for name, n in sorted(left.items()))
            raise TenantDataRemainsError(f"Verification found data of the tenant left ({listed}); deletion reopened.")
        return answer

    def certify(self) -> dict[str, Any]:
        """Write the certificate where it outlives the tenant and chain its hash into the audit log."""
        run = self._run()
        if run.phase == CERTIFIED and run.certificate is not None:
            return run.certificate
        if run.phase != CERTIFY:
            raise RuntimeError(f"the run is in phase {run.phase}, not ready for its certificate")
        if run.certificate is None:  # fixed once, so a retry certifies the same content
            run.certificate = self._certificate(run)
            run = self.runs.save(run, self.clock())
        certificate = self.runs.put_certificate(self.tenant, run.run_id, run.certificate or {})
        digest = hashlib.sha256(json.dumps(certificate, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        resource = f"{self._resource(run.run_id)}/certificate/sha256:{digest}"
        day = self.clock().date().isoformat()
        if not any(r.entry.get("resource") == resource for r in self.audit.entries(day)):
            self.audit.append(actor=ACTOR, action="tenant_offboarded", resource=resource)
        run.phase = CERTIFIED
        self.runs.save(run, self.clock())
        return certificate

    # -- sweeping ------------------------------------------------------------------------------
    def _run(self) -> OffboardingRun:
        run = self.runs.get(self.tenant)
        if run is None:
            raise RuntimeError("no offboarding run is open for this tenant (the start step opens it)")
        return run

    def _sweep(self, phase: str, stores: list[Store], *, delete: bool, then: str) -> dict[str, Any]:
        run = self._run()
        if PHASES.index(run.phase) > PHASES.index(phase):  # a retry of a phase that ended already
            return self._answer(run, more=False)
        if run.phase != phase:
            raise RuntimeError(f"the run is in phase {run.phase}, not {phase}")
        by_name = {s.name: s for s in stores}
        if run.pending:  # a page counted by an attempt that did not get to delete it (all of it)
            self.data.delete(by_name[run.pending_store], run.pending)
        for _ in range(self.pages_per_step):
            if run.store_index >= len(stores):
                break
            store = stores[run.store_index]
            keys, cursor = self.data.page(store, run.cursor, self.page_size)
            if delete:
                counted = run.removed.setdefault(store.name, {"kind": store.kind, "removed": 0, "digest": "0" * 64})
                counted["removed"] += len(keys)
                counted["digest"] = add_digest(counted["digest"], store.name, keys)
                run.pending_store, run.pending = store.name, keys
            else:
                run.remaining[store.name] = run.remaining.get(store.name, 0) + len(keys)
            run.cursor = cursor
            if cursor is None:
                run.store_index += 1
            run = self.runs.save(run, self.clock())  # journaled before deleted: counted once
            if delete and keys:
                self.data.delete(store, keys)
        more = run.store_index < len(stores)
        if not more:
            run.phase, run.store_index, run.cursor, run.pending_store, run.pending = then, 0, None, "", []
            run.ended[phase] = self.clock().isoformat()
            run = self.runs.save(run, self.clock())
        return self._answer(run, more=more, phase=phase)

    # -- answers and the certificate -------------------------------------------------------------
    def _resource(self, run_id: str) -> str:
        return f"offboarding/{self.tenant}/{run_id}"

    @staticmethod
    def _answer(run: OffboardingRun, *, more: bool = False, phase: str | None = None, **extra: Any) -> dict[str, Any]:
        """What a step hands the state machine: progress only (counts), never a key."""
        return {
            "tenant": run.tenant,
            "run_id": run.run_id,
            "phase": phase or run.phase,
            "more": more,
            "removed_so_far": sum(int(s["removed"]) for s in run.removed.values()),
            **extra,
        }

    def _certificate(self, run: OffboardingRun) -> dict[str, Any]:
        digest = 0
        for counted in run.removed.values():
            digest = (digest + int(counted["digest"], 16)) % (1 << 256)
        stores = {
            s.name: {
                "kind": s.kind,
                "removed": int(run.removed.get(s.name, {}).get("removed", 0)),
                "keys_digest": run.removed.get(s.name, {}).get("digest", "0" * 64),
                "remaining_after_verification": int(run.remaining.get(s.name, 0)),
            }
            for s in [self.keys, *self.stores]
        }
        return {
            "certificate": "tenant offboarding (crypto-shredding and deletion, Art. 28(3)(g) GDPR)",
            "tenant": self.tenant,
            "run_id": run.run_id,
            "started_at": run.started_at,
            "keys_shredded_at": run.ended.get(SHRED),
            "data_deleted_at": run.ended.get(DELETE),
            "verified_at": run.ended.get(VERIFY),
            "certified_at": self.clock().isoformat(),
            "subject_keys_shredded": stores[self.keys.name]["removed"],
            "stores": stores,
            "verification": {
                "result": "passed",
                "method": "a fresh scan of every table (partition keys beginning with the tenant's prefix) and a "
                "listing of every object version and delete marker under the tenant's prefix in every bucket",
                "remaining": sum(s["remaining_after_verification"] for s in stores.values()),
            },
            "keys_digest": f"{digest:064x}",
            "digest_method": DIGEST_METHOD,
            "crypto_shredding": "the tenant's wrapped subject keys were deleted before any other data; sealed "
            "copies in backups and old object versions cannot be opened",
            "backups": "point-in-time recovery of the tables ages out within the configured window",
        }


def offboardable(tenant: object, listed: Sequence[str]) -> str:
    """``tenant`` if the deployment lists it and it is not the default tenant; else refused."""
    tenant_id = _tenant_id(tenant)
    if tenant_id == DEFAULT_TENANT:
        raise TenantNotOffboardableError(
            "The default tenant cannot be offboarded: its data carries no tenant prefix (v1's keys)."
        )
    if tenant_id not in listed:
        raise TenantNotOffboardableError("The deployment does not list this tenant.")
    return tenant_id
