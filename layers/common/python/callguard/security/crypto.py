"""Per-subject data keys and envelope sealing (crypto-shredding).

Each subject gets its own AES-256 data key from KMS ``GenerateDataKey``; only the
wrapped copy is stored, in the keys table. Text is sealed with AES-256-GCM and the
call id as associated data, so a sealed blob cannot be replayed under another call.
Deleting the wrapped key makes every copy of the subject's sealed data unreadable
(backups and old object versions included).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SealedDataError", "SubjectKeyShreddedError", "SubjectKeyring"]

_VERSION = b"\x01"
_NONCE_BYTES = 12


class SubjectKeyShreddedError(Exception):
    """The subject's data key is gone: its sealed data can never be read again."""


class SealedDataError(Exception):
    """A sealed blob is malformed or was tampered with."""


class SubjectKeyring:
    """Creates, unwraps (cached for one invocation) and uses per-subject data keys."""

    def __init__(self, *, kms: Any, dynamodb: Any, keys_table: str, cmk_id: str) -> None:
        self._kms = kms
        self._ddb = dynamodb
        self._table = keys_table
        self._cmk_id = cmk_id
        self._cache: dict[str, bytes] = {}

    def clear(self) -> None:
        """Forget unwrapped keys (called at the start of every invocation)."""
        self._cache.clear()

    @staticmethod
    def _context(subject_id: str) -> dict[str, str]:
        return {"callguard:subject_id": subject_id}

    def _load(self, subject_id: str) -> bytes | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"subject_id": {"S": subject_id}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        response = self._kms.decrypt(
            CiphertextBlob=item["wrapped_key"]["B"],
            KeyId=self._cmk_id,
            EncryptionContext=self._context(subject_id),
        )
        return bytes(response["Plaintext"])

    def existing_key(self, subject_id: str) -> bytes:
        """The subject's key; :class:`SubjectKeyShreddedError` when there is none."""
        key = self._cache.get(subject_id) or self._load(subject_id)
        if key is None:
            raise SubjectKeyShreddedError("the subject's data key does not exist")
        self._cache[subject_id] = key
        return key

    def data_key(self, subject_id: str) -> bytes:
        """The subject's key, created on first use (race-safe)."""
        cached = self._cache.get(subject_id)
        if cached is not None:
            return cached
        key = self._load(subject_id)
        if key is None:
            generated = self._kms.generate_data_key(
                KeyId=self._cmk_id, KeySpec="AES_256", EncryptionContext=self._context(subject_id)
            )
            try:
                self._ddb.put_item(
                    TableName=self._table,
                    Item={
                        "subject_id": {"S": subject_id},
                        "wrapped_key": {"B": generated["CiphertextBlob"]},
                        "created_at": {"S": datetime.now(UTC).isoformat()},
                    },
                    ConditionExpression="attribute_not_exists(subject_id)",
                )
                key = bytes(generated["Plaintext"])
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                key = self._load(subject_id)  # another writer won the race: use its key
                if key is None:  # pragma: no cover - deleted between the two calls
                    raise SubjectKeyShreddedError("the subject's data key was shredded") from None
        self._cache[subject_id] = key
        return key

    def new_key_write(self, subject_id: str) -> dict[str, Any]:
        """For a subject just created: a fresh data key, used (cached) from now on, and the
        ``TransactWriteItems`` entry that stores its wrapped copy (only if the subject has none), for
        the caller to write with the subject's other records. If that transaction is cancelled by this
        entry, another writer's key won: :meth:`forget` this one and use :meth:`data_key`."""
        generated = self._kms.generate_data_key(
            KeyId=self._cmk_id, KeySpec="AES_256", EncryptionContext=self._context(subject_id)
        )
        self._cache[subject_id] = bytes(generated["Plaintext"])
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "subject_id": {"S": subject_id},
                    "wrapped_key": {"B": generated["CiphertextBlob"]},
                    "created_at": {"S": datetime.now(UTC).isoformat()},
                },
                "ConditionExpression": "attribute_not_exists(subject_id)",
            }
        }

    def forget(self, subject_id: str) -> None:
        """Drop one subject's cached key (a key of :meth:`new_key_write` that was never stored)."""
        self._cache.pop(subject_id, None)

    def seal(self, subject_id: str, plaintext: bytes, aad: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.data_key(subject_id)).encrypt(nonce, plaintext, aad.encode())
        return _VERSION + nonce + sealed

    def open(self, subject_id: str, blob: bytes, aad: str) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise SealedDataError("sealed data has an unknown format")
        key = self.existing_key(subject_id)
        try:
            return AESGCM(key).decrypt(blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :], aad.encode())
        except Exception as exc:  # cryptography raises InvalidTag without a message
            raise SealedDataError("sealed data failed authentication") from exc

    def fingerprint(self, subject_id: str, data: bytes) -> str:
        """Keyed fingerprint (HMAC-SHA256 under a key derived from the subject's key).

        Lets us recognise a repeated request body without storing a guessable hash of
        personal data; it dies with the subject's key.
        """
        mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"callguard:fingerprint").derive(
            self.data_key(subject_id)
        )
        return hmac.new(mac_key, data, hashlib.sha256).hexdigest()
