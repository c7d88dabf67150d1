"""The bookkeeping of subject-data exports (Art. 15/20) in the privacy table.

Items (every key is built here):

* ``EXPORT#<request id>``/``EXPORT`` — the marker of an export object, written before the
  object, in the exports retention category: the retention purge finds every export by it.
* ``DOWNLOAD#<sha-256 of a ticket>``/``DOWNLOAD`` — a single-use download ticket (only its hash),
  who it was issued to, until when it is valid, and who used it when.

and the export objects' S3 keys (:class:`ExportObjects`): ``exports/<subject>/<request id>.json`` and its
parts. A listed tenant's partition keys begin with ``T#<tenant>#`` and its objects with
``tenants/<tenant>/`` (:class:`TenantScope`); the default tenant's are v1's. A ticket of one tenant is
therefore never found by another: it answers as an unknown ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from callguard.names import ATTR_TTL
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.expiry import expiry_attributes
from callguard.storage.scope import V1, TenantScope
from callguard.storage.wire import partition, to_item

__all__ = ["DownloadTickets", "ExportMarker", "ExportMarkers", "ExportObjects"]

EXPORT = "EXPORT"
DOWNLOAD = "DOWNLOAD"
#: a used or expired ticket stays this long for the record, then DynamoDB's TTL removes it
TICKET_KEPT_SECONDS = 86400


@dataclass(frozen=True)
class ExportObjects:
    """Where a tenant's export objects are (S3 keys of the exports bucket, built here only)."""

    scope: TenantScope = V1

    def of_subject(self, subject_id: str) -> str:
        """The prefix of every export object kept under a subject (erased with the subject)."""
        return self.scope.object_key(f"exports/{subject_id}/")

    def document(self, owner: str, request_id: str) -> str:
        """The export document of a request, under its owner's prefix."""
        return f"{self.of_subject(owner)}{request_id}.json"

    def parts(self, owner: str, request_id: str) -> str:
        """The prefix of the export's parts, collected page by page before the document is assembled."""
        return f"{self.of_subject(owner)}{request_id}/part-"


@dataclass(frozen=True)
class ExportMarker:
    """Where an export object is and whose it is (``subject_id``: ``None`` for an unknown requester)."""

    request_id: str
    bucket: str
    key: str
    subject_id: str | None = None


@dataclass
class ExportMarkers:
    dynamodb: Any
    table: str
    retention: RetentionPolicy
    scope: TenantScope = V1

    def put(self, marker: ExportMarker, now: datetime) -> None:
        values = {
            "pk": self.scope.key(partition(EXPORT, marker.request_id)),
            "sk": EXPORT,
            "request_id": marker.request_id,
            "object_bucket": marker.bucket,
            "object_key": marker.key,
            "subject_id": marker.subject_id or None,
        }
        item = {**to_item(values), **expiry_attributes(self.retention, DataCategory.EXPORTS, now, self.scope)}
        self.dynamodb.put_item(TableName=self.table, Item=item)


@dataclass
class DownloadTickets:
    dynamodb: Any
    table: str
    scope: TenantScope = V1

    def _key(self, ticket_hash: str) -> dict[str, Any]:
        return to_item({"pk": self.scope.key(partition(DOWNLOAD, ticket_hash)), "sk": DOWNLOAD})

    def issue(self, ticket_hash: str, request_id: str, issued_to: str, now: datetime, valid_seconds: int) -> None:
        valid_until = int(now.timestamp()) + valid_seconds
        values = {
            "request_id": request_id,
            "issued_to": issued_to,
            "issued_at": now.isoformat(),
            "valid_until": valid_until,
            ATTR_TTL: valid_until + TICKET_KEPT_SECONDS,
        }
        self.dynamodb.put_item(TableName=self.table, Item={**self._key(ticket_hash), **to_item(values)})

    def redeem(self, ticket_hash: str, request_id: str, used_by: str, now: datetime) -> bool:
        """Use the ticket once, for ``request_id``, while valid: ``False`` when it is unknown, used,
        expired or another request's (nothing to tell apart)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(ticket_hash),
                UpdateExpression="SET used_at = :now, used_by = :actor",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(used_at) "
                "AND request_id = :rid AND valid_until >= :t",
                ExpressionAttributeValues=to_item(
                    {":now": now.isoformat(), ":actor": used_by, ":rid": request_id, ":t": int(now.timestamp())}
                ),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
