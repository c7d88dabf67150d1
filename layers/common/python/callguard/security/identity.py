"""Pseudonymous subject ids from normalised identifiers (KMS HMAC, GenerateMac).

A raw identifier is never a key or an index value: each one is turned into an
identifier MAC, and the MAC of the most stable identifier of the first call that
introduced the subject becomes its ``subject_id``.

Subjects are per tenant (controller): a listed tenant's identifiers are MACed with the tenant in
the message (:func:`mac_message`), so the same phone number calling two brands is two subjects and
one tenant's pseudonym of a number says nothing about another's. The default tenant's message is
v1's ``kind:value``, so a single-tenant deployment's subject ids are v1's.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

from callguard.security.tenancy import DEFAULT_TENANT

__all__ = [
    "IDENTIFIER_KINDS",
    "UNVERIFIED_PREFIX",
    "Pseudonymizer",
    "mac_message",
    "subject_id_from_mac",
    "unverified_subject_id",
]

#: subjects made of calls whose identifiers nobody authenticated start with this prefix
UNVERIFIED_PREFIX = "sub_u_"

_MAC_ALGORITHM = "HMAC_SHA_256"
_MAC_BYTES = 20  # 160 bits kept: ample against collisions, shorter keys


#: a listed tenant's MAC messages start with this, then the tenant id and a unit separator: no v1
#: message (``<kind>:<value>``, kinds are lower-case words) can start so, and no tenant id holds \x1f
_TENANT_DOMAIN = "callguard:tenant:"
_SEPARATOR = "\x1f"


#: the identifier kinds of the contract (``callguard.models.IdentifierKind``, kept in step by a test):
#: a closed set, none of them ``callguard``
IDENTIFIER_KINDS = frozenset({"customer_id", "phone", "email"})


def mac_message(tenant: str, kind: str, value: str) -> bytes:
    """What is MACed for ``kind:value`` of ``tenant``: v1's ``kind:value`` for the default tenant,
    ``callguard:tenant:<tenant>\x1f<kind>:<value>`` for a listed one. Only the contract's identifier
    kinds are MACed, so no default-tenant message (it starts with a kind) is a listed tenant's."""
    if kind not in IDENTIFIER_KINDS:
        raise ValueError("not an identifier kind of the contract")
    if tenant == DEFAULT_TENANT:
        return f"{kind}:{value}".encode()
    if not tenant or _SEPARATOR in tenant or ":" in tenant:
        raise ValueError("a tenant id holds no separator")
    return f"{_TENANT_DOMAIN}{tenant}{_SEPARATOR}{kind}:{value}".encode()


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
    """MACs of ``kind:value`` of one tenant under a KMS HMAC key, cached per invocation."""

    def __init__(self, kms: Any, key_id: str, tenant: str = DEFAULT_TENANT) -> None:
        self._kms = kms
        self._key_id = key_id
        self._tenant = tenant
        self._cache: dict[tuple[str, str], str] = {}

    @property
    def tenant(self) -> str:
        return self._tenant

    def clear(self) -> None:
        self._cache.clear()

    def mac(self, kind: str, value: str) -> str:
        cached = self._cache.get((kind, value))
        if cached is not None:
            return cached
        response = self._kms.generate_mac(
            KeyId=self._key_id,
            MacAlgorithm=_MAC_ALGORITHM,
            Message=mac_message(self._tenant, kind, value),
        )
        encoded = _encode(response["Mac"])
        self._cache[(kind, value)] = encoded
        return encoded
