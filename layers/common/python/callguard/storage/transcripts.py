"""Sealed transcripts in S3 (SSE-KMS on top of the per-subject envelope)."""

from __future__ import annotations

from typing import Any

from callguard.storage.scope import V1, TenantScope

__all__ = ["TranscriptStore"]


class TranscriptStore:
    """One object per call under ``transcripts/<subject>/<call>.sealed`` (a listed tenant's under
    ``tenants/<tenant>/transcripts/…``, :meth:`TenantScope.object_key`); a pointer (``bucket``,
    ``key``, ``version_id``) names one version of it. A store serves one tenant: it reads and
    deletes only objects of that tenant."""

    def __init__(self, *, s3: Any, bucket: str, kms_key_id: str, scope: TenantScope = V1) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._kms_key_id = kms_key_id
        self._scope = scope

    @property
    def bucket(self) -> str:
        return self._bucket

    def key_for(self, subject_id: str, call_id: str) -> str:
        return f"{self.prefix_for(subject_id)}{call_id}.sealed"

    def prefix_for(self, subject_id: str) -> str:
        """Where all of one subject's transcripts are kept (the one place a transcript key is built)."""
        return self._scope.object_key(f"transcripts/{subject_id}/")

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

    def _address(self, pointer: dict[str, str]) -> dict[str, str]:
        if not self._scope.owns_object(pointer["key"]):
            raise LookupError("The transcript is not this tenant's.")  # never: pointers are this tenant's
        address = {"Bucket": pointer["bucket"], "Key": pointer["key"]}
        if "version_id" in pointer:
            address["VersionId"] = pointer["version_id"]
        return address

    def delete_version(self, pointer: dict[str, str]) -> None:
        self._s3.delete_object(**self._address(pointer))

    def get(self, pointer: dict[str, str]) -> bytes:
        return bytes(self._s3.get_object(**self._address(pointer))["Body"].read())
