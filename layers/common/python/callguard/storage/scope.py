"""Where one tenant's data lives: the prefix of every partition key, index key and S3 key it owns.

A deployment without a tenant list has one tenant, ``default``, and its data keeps v1's keys
exactly (``CALL#cc-1``, ``transcripts/<subject>/<call>.sealed``): :data:`V1` adds nothing. A listed
tenant's keys all begin with ``T#<tenant>#`` (DynamoDB partition keys and index keys) or
``tenants/<tenant>/`` (S3), so

* two tenants may both use ``cc-1``: ``CALL#cc-1`` and ``T#acme#CALL#cc-1`` are two calls;
* a read for another tenant's object builds a key the object does not have, and finds nothing
  (the API answers 404, never 403: existence does not leak);
* a job that scans a table on behalf of one tenant keeps only what :meth:`TenantScope.owns`;
* offboarding deletes exactly the partitions that begin with the tenant's prefix.

No v1 key can begin with ``T#`` (call ids, request ids and hold ids never contain ``#``, the other
partitions begin with a fixed upper-case kind), so the default tenant's partitions and a listed
tenant's never collide. Every store takes a scope and builds every key through it: one function per
aggregate adds the prefix, and nothing outside :mod:`callguard.storage` sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from callguard.security.tenancy import DEFAULT_TENANT, TENANT_ID_PATTERN

__all__ = ["V1", "TenantScope"]

#: the first characters of every key a listed tenant owns
LISTED_PREFIX: Final = "T#"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


@dataclass(frozen=True)
class TenantScope:
    """The keys of one tenant's data (see the module docstring)."""

    tenant: str = DEFAULT_TENANT

    def __post_init__(self) -> None:
        if not _TENANT_ID.match(self.tenant):
            raise ValueError("A tenant scope needs a valid tenant id.")

    @property
    def is_v1(self) -> bool:
        """The default tenant: v1's keys, unprefixed."""
        return self.tenant == DEFAULT_TENANT

    @property
    def prefix(self) -> str:
        """What begins every partition and index key of this tenant (``""`` for the default tenant)."""
        return "" if self.is_v1 else f"{LISTED_PREFIX}{self.tenant}#"

    def key(self, partition: str) -> str:
        """``partition`` (a v1 partition or index key) as this tenant stores it."""
        return f"{self.prefix}{partition}"

    def owns(self, stored: str) -> bool:
        """Whether a stored partition or index key belongs to this tenant."""
        if self.is_v1:
            return not stored.startswith(LISTED_PREFIX)
        return stored.startswith(self.prefix)

    def unscoped(self, stored: str) -> str | None:
        """The v1 form of a stored key this tenant owns; ``None`` for another tenant's key."""
        return stored[len(self.prefix) :] if self.owns(stored) else None

    # -- S3 -------------------------------------------------------------------------------------
    @property
    def object_prefix(self) -> str:
        """What begins every S3 key of this tenant (``""`` for the default tenant)."""
        return "" if self.is_v1 else f"tenants/{self.tenant}/"

    def object_key(self, key: str) -> str:
        """A v1 S3 key as this tenant stores it."""
        return f"{self.object_prefix}{key}"

    def owns_object(self, stored: str) -> bool:
        if self.is_v1:
            return not stored.startswith("tenants/")
        return stored.startswith(self.object_prefix)


#: the default tenant's scope: v1's keys
V1: Final = TenantScope()
