"""Pseudonymous subject ids from normalised identifiers (KMS HMAC, GenerateMac).

A raw identifier is never a key or an index value: each one is turned into an
identifier MAC, and the MAC of the most stable identifier of the first call that
introduced the subject becomes its ``subject_id``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

__all__ = ["UNVERIFIED_PREFIX", "Pseudonymizer", "subject_id_from_mac", "unverified_subject_id"]

#: subjects made of calls whose identifiers nobody authenticated start with this prefix
UNVERIFIED_PREFIX = "sub_u_"

_MAC_ALGORITHM = "HMAC_SHA_256"
_MAC_BYTES = 20  # 160 bits kept: ample against collisions, shorter keys


def _encode(mac: bytes) -> str:
    return base64.b32encode(mac[:_MAC_BYTES]).decode("ascii").rstrip("=").lower()


def subject_id_from_mac(identifier_mac: str) -> str:
    """The id of a subject first established through the authenticated identifier ``identifier_mac``."""
    return f"sub_{identifier_mac}"


def unverified_subject_id(identifier_macs: Iterable[str]) -> str:
    """The subject of calls that carried exactly these identifiers, none of them authenticated.

    Derived from the set (order-free), so calls with the same unproven identifiers share a
    history (a repeat caller with the same caller ID), while a call that adds or changes an
    identifier starts another one: an unproven identifier never joins someone else's calls.
    """
    digest = hashlib.sha256("|".join(sorted(set(identifier_macs))).encode()).digest()
    return UNVERIFIED_PREFIX + _encode(digest)


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
