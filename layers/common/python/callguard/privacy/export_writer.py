"""Streams one JSON document into S3 with bounded memory.

Bytes are buffered and sent as multipart-upload parts of at least :data:`PART_BYTES`
(S3's minimum is 5 MiB for every part but the last); a document smaller than one part is
a single ``PutObject``. On any error the upload is aborted, so no half-written export is
ever visible.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

__all__ = ["PART_BYTES", "S3JsonWriter"]

PART_BYTES = 8 * 1024 * 1024


class S3JsonWriter:
    def __init__(self, s3: Any, bucket: str, key: str, kms_key_id: str, part_bytes: int = PART_BYTES) -> None:
        self._s3, self._bucket, self._key, self._kms = s3, bucket, key, kms_key_id
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.bytes_written = 0

    def _encryption(self) -> dict[str, Any]:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self._kms, "BucketKeyEnabled": True}

    def write(self, text: str) -> None:
        data = text.encode()
        self._buffer += data
        self.bytes_written += len(data)
        if len(self._buffer) >= self._part_bytes:
            self._flush()

    def value(self, value: Any) -> None:
        """One JSON value (pretty enough to read, compact enough to page through)."""
        self.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def _flush(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType="application/json", **self._encryption()
            )["UploadId"]
        number = len(self._parts) + 1
        etag = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer)
        )["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})
        self._buffer.clear()

    def close(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=bytes(self._buffer),
                ContentType="application/json",
                **self._encryption(),
            )
            return
        if self._buffer:
            self._flush()
        self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    def abort(self) -> None:
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)

    def __enter__(self) -> S3JsonWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
