"""Sealed transcripts in S3 (SSE-KMS on top of the per-subject envelope)."""

from __future__ import annotations

from typing import Any

__all__ = ["TranscriptStore"]


class TranscriptStore:
    """One object per call under ``transcripts/<subject>/<call>.sealed``; a pointer (``bucket``,
    ``key``, ``version_id``) names one version of it."""

    def __init__(self, *, s3: Any, bucket: str, kms_key_id: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._kms_key_id = kms_key_id

    @property
    def bucket(self) -> str:
        return self._bucket

    @staticmethod
    def key_for(subject_id: str, call_id: str) -> str:
        return f"{TranscriptStore.prefix_for(subject_id)}{call_id}.sealed"

    @staticmethod
    def prefix_for(subject_id: str) -> str:
        """Where all of one subject's transcripts are kept."""
        return f"transcripts/{subject_id}/"

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
