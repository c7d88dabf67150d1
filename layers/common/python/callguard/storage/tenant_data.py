"""Everything one listed tenant owns, store by store, page by page: what offboarding sweeps.

A listed tenant's DynamoDB partition keys all begin with ``T#<tenant>#`` and its S3 keys with
``tenants/<tenant>/`` (:class:`~callguard.storage.scope.TenantScope`). :class:`TenantData` reads a
page of the tenant's item keys (a ``Scan`` filtered with ``begins_with`` on the partition key,
projecting the key only) or of its object versions and delete markers (``ListObjectVersions``
under the prefix), and deletes exactly the keys it was handed (``BatchWriteItem``,
``DeleteObjects`` by version). Deleting what is gone already succeeds, so a repeated page is
harmless. The default tenant has no prefix: its data is not sweepable here (refused).

:class:`OffboardingRuns` keeps one run per tenant in the privacy table, under a partition that
is **not** the tenant's (``OFFBOARDING#<tenant>``), so the journal and the certificate outlive
the tenant's data: the phase, the store and cursor being swept, the counts and key digests per
store, and the keys of the page being deleted (written *before* they are deleted, cleared by
the next page), so a retried step finishes the page it was in without counting it twice. Every
write is conditional on the run's version: a second execution racing the first loses, it never
adds its counts to the first's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from botocore.exceptions import ClientError

from callguard.storage.dynamo import delete_keys, is_condition_failure
from callguard.storage.scope import TenantScope
from callguard.storage.wire import from_item, to_attribute, to_item

__all__ = [
    "DIGEST_METHOD",
    "OffboardingRun",
    "OffboardingRuns",
    "RunConflictError",
    "Store",
    "TenantData",
    "add_digest",
    "key_digest",
]

OFFBOARDING: Final = "OFFBOARDING"
RUN_SK: Final = "RUN"
CERTIFICATE_SK: Final = "CERTIFICATE"
#: how the digest of the counted keys is made (the certificate names it)
DIGEST_METHOD: Final = (
    "sum modulo 2^256 of SHA-256 over each counted key (store name, then the key's canonical JSON), "
    "hex; order-independent, so it is the same however the sweep was paged or resumed"
)
_MODULUS = 1 << 256


@dataclass(frozen=True)
class Store:
    """A table (``kind="table"``, its partition key attribute and key attributes) or a bucket."""

    name: str
    kind: Literal["table", "bucket"]
    resource: str
    partition: str = ""
    key_attributes: tuple[str, ...] = ()


def key_digest(store: str, key: Mapping[str, Any]) -> int:
    """One counted key as a number (:data:`DIGEST_METHOD`)."""
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(f"{store}\x1f{canonical}".encode()).digest(), "big")


def add_digest(digest_hex: str, store: str, keys: Sequence[Mapping[str, Any]]) -> str:
    total = int(digest_hex or "0", 16)
    for key in keys:
        total = (total + key_digest(store, key)) % _MODULUS
    return f"{total:064x}"


Cursor = dict[str, Any] | None


class TenantData:
    """Pages of one listed tenant's keys in the stores, and their deletion (module docstring)."""

    def __init__(self, *, dynamodb: Any, s3: Any, scope: TenantScope) -> None:
        if scope.is_v1:
            raise ValueError("The default tenant's data carries no prefix; it cannot be swept by tenant.")
        self._ddb = dynamodb
        self._s3 = s3
        self._scope = scope

    def page(self, store: Store, cursor: Cursor, limit: int) -> tuple[list[dict[str, Any]], Cursor]:
        """Up to ``limit`` of the tenant's keys in ``store`` after ``cursor``, and the next cursor
        (``None``: the store is done). A key is a table item's key (wire format) or an object version
        (``{"Key": ..., "VersionId": ...}``, delete markers included)."""
        if store.kind == "table":
            return self._item_page(store, cursor, limit)
        return self._version_page(store, cursor, limit)

    def _item_page(self, store: Store, cursor: Cursor, limit: int) -> tuple[list[dict[str, Any]], Cursor]:
        names = {f"#k{n}": attribute for n, attribute in enumerate(store.key_attributes)}
        request: dict[str, Any] = {
            "TableName": store.resource,
            "FilterExpression": "begins_with(#k0, :prefix)",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":prefix": to_attribute(self._scope.prefix)},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = cursor
        response = self._ddb.scan(**request)
        keys = [{a: item[a] for a in store.key_attributes} for item in response.get("Items", [])]
        # the filter runs on the server: keep only what this scope owns (never another tenant's)
        keys = [k for k in keys if self._scope.owns(str(k[store.partition]["S"]))]
        return keys, response.get("LastEvaluatedKey") or None

    def _version_page(self, store: Store, cursor: Cursor, limit: int) -> tuple[list[dict[str, Any]], Cursor]:
        request: dict[str, Any] = {"Bucket": store.resource, "Prefix": self._scope.object_prefix, "MaxKeys": limit}
        if cursor:
            request.update(cursor)
        response = self._s3.list_object_versions(**request)
        keys = [
            {"Key": str(v["Key"]), "VersionId": str(v["VersionId"])}
            for v in [*response.get("Versions", []), *response.get("DeleteMarkers", [])]
            if self._scope.owns_object(str(v["Key"]))
        ]
        if not response.get("IsTruncated"):
            return keys, None
        return keys, {"KeyMarker": response["NextKeyMarker"], "VersionIdMarker": response["NextVersionIdMarker"]}

    def delete(self, store: Store, keys: Sequence[Mapping[str, Any]]) -> None:
        """Delete exactly ``keys`` (each one the scope owns; what is gone already is no error)."""
        if store.kind == "table":
            owned = [dict(k) for k in keys if self._scope.owns(str(k[store.partition]["S"]))]
            if len(owned) != len(keys):
                raise ValueError(f"{store.name}: a key to delete is not the tenant's")
            delete_keys(self._ddb, store.resource, owned)
            return
        if not all(self._scope.owns_object(str(k["Key"])) for k in keys):
            raise ValueError(f"{store.name}: an object to delete is not the tenant's")
        for start in range(0, len(keys), 1000):
            objects = [{"Key": k["Key"], "VersionId": k["VersionId"]} for k in keys[start : start + 1000]]
            response = self._s3.delete_objects(Bucket=store.resource, Delete={"Objects": objects, "Quiet": True})
            failed = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchVersion"]
            if failed:  # the codes only: a key could name a subject
                codes = sorted({str(e.get("Code")) for e in failed})
                raise RuntimeError(f"{store.name}: {len(failed)} object versions were not deleted ({', '.join(codes)})")


class RunConflictError(RuntimeError):
    """Another execution changed the run in between: this step's page is not counted (retry)."""


@dataclass
class OffboardingRun:
    """One tenant's offboarding as far as it has got (see :class:`OffboardingRuns`)."""

    tenant: str
    run_id: str
    started_at: str
    phase: str
    version: int = 0
    #: index of the store being swept in the phase's list, and the cursor inside it
    store_index: int = 0
    cursor: Cursor = None
    #: the page counted but perhaps not yet deleted: (store name, keys)
    pending_store: str = ""
    pending: list[dict[str, Any]] = field(default_factory=list)
    #: store name → {"removed": n, "digest": hex} / {"remaining": n}
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    #: phase → when it ended (ISO-8601)
    ended: dict[str, str] = field(default_factory=dict)
    certificate: dict[str, Any] | None = None


class OffboardingRuns:
    """The run journal and the certificates, in the privacy table outside every tenant's prefix."""

    def __init__(self, *, dynamodb: Any, table: str) -> None:
        self._ddb = dynamodb
        self._table = table

    @staticmethod
    def _key(tenant: str, sort: str) -> dict[str, Any]:
        """The one place an offboarding key is built: the processor's partition, never ``T#…``."""
        return {"pk": to_attribute(f"{OFFBOARDING}#{tenant}"), "sk": to_attribute(sort)}

    def get(self, tenant: str) -> OffboardingRun | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(tenant, RUN_SK), ConsistentRead=True).get("Item")
        if item is None:
            return None
        data = json.loads(from_item(item)["state"])
        return OffboardingRun(**data)

    def save(self, run: OffboardingRun, now: datetime) -> OffboardingRun:
        """Write ``run`` as the next version; :class:`RunConflictError` if someone wrote in between."""
        state = {**run.__dict__, "version": run.version + 1}
        values = {"state": json.dumps(state, sort_keys=True, separators=(",", ":")), "version": run.version + 1,
                  "updated_at": now.isoformat()}  # fmt: skip
        condition = "attribute_not_exists(pk)" if run.version == 0 else "version = :v"
        extra = {} if run.version == 0 else {"ExpressionAttributeValues": {":v": to_attribute(run.version)}}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={**self._key(run.tenant, RUN_SK), **to_item(values)},
                ConditionExpression=condition,
                **extra,
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            raise RunConflictError("another execution changed this tenant's offboarding run") from None
        return OffboardingRun(**state)

    def put_certificate(self, tenant: str, run_id: str, certificate: dict[str, Any]) -> dict[str, Any]:
        """Store the run's certificate once; a second write keeps the first (returned)."""
        key = self._key(tenant, f"{CERTIFICATE_SK}#{run_id}")
        body = json.dumps(certificate, sort_keys=True, separators=(",", ":"))
        try:
            self._ddb.put_item(TableName=self._table, Item={**key, **to_item({"certificate": body})},
                               ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            stored = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True)["Item"]
            kept: dict[str, Any] = json.loads(from_item(stored)["certificate"])
            return kept
        return certificate

    def certificates(self, tenant: str) -> list[dict[str, Any]]:
        """Every certificate issued for ``tenant``, oldest first."""
        items = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
            ExpressionAttributeValues={
                ":p": to_attribute(f"{OFFBOARDING}#{tenant}"),
                ":c": to_attribute(f"{CERTIFICATE_SK}#"),
            },
            ConsistentRead=True,
        )["Items"]
        return [json.loads(from_item(i)["certificate"]) for i in items]
