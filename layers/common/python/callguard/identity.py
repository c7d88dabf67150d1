"""Pseudonymous subject ids from normalised identifiers (KMS HMAC, GenerateMac).

A raw identifier is never a key or an index value: each one is turned into an
identifier MAC, and the MAC of the most stable identifier of the first call that
introduced the subject becomes its ``subject_id``.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["Pseudonymizer", "subject_id_from_mac"]

_MAC_ALGORITHM = "HMAC_SHA_256"
_MAC_BYTES = 20  # 160 bits kept: ample against collisions, shorter keys


def _encode(mac: bytes) -> str:
    return base64.b32encode(mac[:_MAC_BYTES]).decode("ascii").rstrip("=").lower()


def subject_id_from_mac(identifier_mac: str) -> str:
    return f"sub_{identifier_mac}"


class Pseudonymizer:
    """MACs of ``kind:value`` under a KMS HMAC key, cached per invocation."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id
        self._cache: dict[tuple[str, str], str] = {}

    def clear(self) -> None:
        self._cache.clear()

    def mac(self, kind: str, value: str) -> str:
        cached = self._cache.get((kind, value))
        if cached is not None:
            return cached
        response = self._kms.generate_mac(
            KeyId=self._key_id,
            MacAlgorithm=_MAC_ALGORITHM,
            Message=f"{kind}:{value}".encode(),
        )
        encoded = _encode(response["Mac"])
        self._cache[(kind, value)] = encoded
        return encoded
