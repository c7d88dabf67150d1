"""Per-subject data keys and envelope sealing (crypto-shredding).

Each subject gets its own AES-256 data key from KMS ``GenerateDataKey``; only the
wrapped copy is stored, in the keys table. Text is sealed with AES-256-GCM and the
call id as associated data, so a sealed blob cannot be replayed under another call.
Deleting the wrapped key makes every copy of the subject's sealed data unreadable
(backups and old object versions included).

A listed tenant's keys are wrapped with the tenant in the KMS encryption context beside the
subject id (``callguard:tenant``); KMS binds the context to the wrapped key, so a keyring acting
for one tenant cannot unwrap another tenant's key (nor a default-tenant key), and the data key's
policy refuses any tenant the deployment does not list. The default tenant's context is v1's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from callguard.security.tenancy import DEFAULT_TENANT
from callguard.storage.dynamo import BatchRead, Write
from callguard.storage.keys import KeyTakenError, SubjectKeysStore, WrappedKey

__all__ = ["TENANT_CONTEXT_KEY", "SealedDataError", "SubjectKeyShreddedError", "SubjectKeyring", "encryption_context"]

#: the encryption-context key naming a listed tenant (the data key's policy refuses unlisted ones)
TENANT_CONTEXT_KEY = "callguard:tenant"


def encryption_context(tenant: str, subject_id: str) -> dict[str, str]:
    """The KMS encryption context of ``subject_id``'s data key: v1's for the default tenant."""
    context = {"callguard:subject_id": subject_id}
    if tenant != DEFAULT_TENANT:
        context[TENANT_CONTEXT_KEY] = tenant
    return context


_VERSION = b"\x01"
_NONCE_BYTES = 12


class SubjectKeyShreddedError(Exception):
    """The subject's data key is gone: its sealed data can never be read again."""


class SealedDataError(Exception):
    """A sealed blob is malformed or was tampered with."""


class SubjectKeyring:
    """Creates, unwraps (cached for one invocation) and uses per-subject data keys; the wrapped
    copies live in the keys table (:class:`~callguard.storage.keys.SubjectKeysStore`)."""

    def __init__(self, *, kms: Any, keys: SubjectKeysStore, cmk_id: str, tenant: str = DEFAULT_TENANT) -> None:
        self._kms = kms
        self._keys = keys
        self._cmk_id = cmk_id
        self._tenant = tenant
        self._cache: dict[str, bytes] = {}
        #: wrapped keys read ahead with other items (:meth:`prefetch`), unwrapped when first used
        self._prefetched: dict[str, Callable[[], WrappedKey | None]] = {}

    @property
    def tenant(self) -> str:
        return self._tenant

    def clear(self) -> None:
        """Forget unwrapped keys (called at the start of every invocation)."""
        self._cache.clear()
        self._prefetched.clear()

    def _context(self, subject_id: str) -> dict[str, str]:
        return encryption_context(self._tenant, subject_id)

    def prefetch(self, batch: BatchRead, subject_id: str) -> None:
        """Read the subject's wrapped key with the other items of ``batch`` (unwrapped on first use)."""
        if subject_id not in self._cache:
            self._prefetched[subject_id] = self._keys.prefetch(batch, subject_id)

    def _load(self, subject_id: str) -> bytes | None:
        read = self._prefetched.pop(subject_id, None)
        stored = read() if read is not None else self._keys.get(subject_id)
        if stored is None:
            return None
        response = self._kms.decrypt(
            CiphertextBlob=stored.wrapped,
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

    def has_key(self, subject_id: str) -> bool:
        """Whether the subject's wrapped key is stored (read now, never from the cache)."""
        return self._keys.get(subject_id) is not None

    def data_key(self, subject_id: str) -> bytes:
        """The subject's key, created on first use (race-safe)."""
        cached = self._cache.get(subject_id)
        if cached is not None:
            return cached
        key = self._load(subject_id)
        if key is None:
            generated = self._generate(subject_id)
            try:
                self._keys.put_new(subject_id, generated["CiphertextBlob"])
                key = bytes(generated["Plaintext"])
            except KeyTakenError:
                key = self._load(subject_id)  # another writer won the race: use its key
                if key is None:  # pragma: no cover - deleted between the two calls
                    raise SubjectKeyShreddedError("the subject's data key was shredded") from None
        self._cache[subject_id] = key
        return key

    def _generate(self, subject_id: str) -> dict[str, Any]:
        generated: dict[str, Any] = self._kms.generate_data_key(
            KeyId=self._cmk_id, KeySpec="AES_256", EncryptionContext=self._context(subject_id)
        )
        return generated

    def new_key_write(self, subject_id: str) -> Write:
        """For a subject just created: a fresh data key, used (cached) from now on, and the
        transaction entry that stores its wrapped copy (only if the subject has none), for the
        caller to write with the subject's other records. If that transaction is cancelled by this
        entry, another writer's key won: :meth:`forget` this one and use :meth:`data_key`."""
        generated = self._generate(subject_id)
        self._cache[subject_id] = bytes(generated["Plaintext"])
        self._prefetched.pop(subject_id, None)
        return self._keys.new_key_write(subject_id, generated["CiphertextBlob"])

    def forget(self, subject_id: str) -> None:
        """Drop one subject's cached key (a key of :meth:`new_key_write` that was never stored)."""
        self._cache.pop(subject_id, None)
        self._prefetched.pop(subject_id, None)

    def shred(self, subject_id: str) -> bool:
        """Delete the subject's wrapped key (crypto-shredding): every sealed copy of its data is
        unreadable from now on. True when there was one."""
        self.forget(subject_id)
        return self._keys.shred(subject_id)

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
