"""Settings of the Contact Lens / Transcribe Call Analytics import, one typed model.

``infra/config.py`` embeds it (``import`` block of the ``callguard`` context); the stack hands
it to the importer as one JSON environment variable, which the function reads back here.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callguard.security.tenancy import DEFAULT_TENANT, TENANT_ID_PATTERN

__all__ = ["TENANTS_PREFIX", "AttributeNames", "ImportSettings", "tenant_key", "tenant_of_key"]

#: where a listed tenant's files are dropped: ``tenants/<tenant>/`` before the import prefix
TENANTS_PREFIX = "tenants/"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


def tenant_key(tenant: str, key: str) -> str:
    """Where ``tenant`` drops a file that the default tenant would drop at ``key`` (v1's key)."""
    return key if tenant == DEFAULT_TENANT else f"{TENANTS_PREFIX}{tenant}/{key}"


def tenant_of_key(key: str) -> tuple[str | None, str]:
    """(the tenant a dropped file belongs to, its key below the tenant's prefix): ``("default", key)``
    outside ``tenants/``; ``(None, …)`` for a ``tenants/`` key that names no valid tenant id. The
    tenant comes from where the file was put, never from what it contains."""
    if not key.startswith(TENANTS_PREFIX):
        return DEFAULT_TENANT, key
    tenant, separator, rest = key[len(TENANTS_PREFIX) :].partition("/")
    if not separator or not _TENANT_ID.match(tenant) or tenant == DEFAULT_TENANT:
        return None, rest
    return tenant, rest


_ATTRIBUTE = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")]
_PREFIX = Annotated[str, Field(pattern=r"^[A-Za-z0-9!_.*'()/\-]{0,200}$")]


class AttributeNames(BaseModel):
    """Names of the Connect contact attributes that carry the caller's identifiers and consent.

    Set them in the contact flow (``Set contact attributes``). A consent attribute counts as
    given only when its value is one of ``true``, ``yes``, ``1`` (any case); absent means no.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: _ATTRIBUTE = "callguard_customer_id"
    phone: _ATTRIBUTE = "callguard_phone"
    email: _ATTRIBUTE = "callguard_email"
    consent_recording: _ATTRIBUTE = "callguard_consent_recording"
    consent_ai_analysis: _ATTRIBUTE = "callguard_consent_ai_analysis"
    ai_disclosure_given: _ATTRIBUTE = "callguard_ai_disclosure_given"
    #: which identifiers the flow authenticated (comma-separated kinds, e.g. ``customer_id``) and
    #: how (``ivr_pin``, ``app_login``, ``agent_kba``, ``sso``): only those link the call to a history
    verified_identifiers: _ATTRIBUTE = "callguard_verified_identifiers"
    verification_method: _ATTRIBUTE = "callguard_verification_method"


class ImportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    #: an existing bucket (e.g. the Connect instance's) to import from; ``None``: the stack
    #: creates an import bucket of its own
    bucket_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")] | None = None
    #: KMS key of an existing bucket's SSE-KMS encryption (the importer needs kms:Decrypt on it)
    bucket_kms_key_arn: Annotated[str, Field(pattern=r"^arn:aws:kms:[a-z0-9-]+:\d{12}:key/[\w-]+$")] | None = None
    #: key prefixes the importer reads (Contact Lens writes ``Analysis/Voice/`` and ``Analysis/Chat/``)
    prefixes: tuple[_PREFIX, ...] = ("Analysis/Voice/", "Analysis/Chat/", "CallAnalytics/")
    #: where bad files are copied to, with their reason, inside the same bucket
    quarantine_prefix: _PREFIX = "callguard-quarantine/"
    #: the Connect instance whose contacts are looked up (DescribeContact, GetContactAttributes)
    connect_instance_arn: (
        Annotated[str, Field(pattern=r"^arn:aws:connect:[a-z0-9-]+:\d{12}:instance/[0-9a-f-]{36}$")] | None
    ) = None
    attributes: AttributeNames = Field(default_factory=AttributeNames)
    #: read only the redacted twins (the importer is then granted nothing else)
    redacted_only: bool = False
    #: use the sentiment Contact Lens / Transcribe already computed instead of a second Comprehend call
    reuse_provider_sentiment: bool = True
    #: files larger than this are quarantined unread
    max_object_bytes: Annotated[int, Field(ge=1024, le=200 * 1024 * 1024)] = 20 * 1024 * 1024
    #: how the contact id is found in a Transcribe job name (group ``contact_id``); default: a UUID
    transcribe_contact_id_pattern: str = r"(?P<contact_id>[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})"
    #: days a quarantined copy is kept in a bucket the stack created
    quarantine_days: Annotated[int, Field(ge=1, le=90)] = 14

    @field_validator("transcribe_contact_id_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error:
            raise ValueError("transcribe_contact_id_pattern is not a regular expression") from None
        if "contact_id" not in compiled.groupindex:
            raise ValueError("transcribe_contact_id_pattern needs a named group 'contact_id'")
        return value

    @field_validator("prefixes")
    @classmethod
    def _some_prefix(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("the import needs at least one key prefix")
        return value

    @model_validator(mode="after")
    def _quarantine_apart(self) -> ImportSettings:
        # a quarantined copy inside an import prefix would be imported again, forever
        q = self.quarantine_prefix
        if not q or any(q.startswith(p) or p.startswith(q) for p in self.prefixes):
            raise ValueError("quarantine_prefix must be non-empty and outside every import prefix")
        # tenants/<tenant>/ is where listed tenants drop their files: the default tenant's prefixes stay outside
        if any(p.startswith(TENANTS_PREFIX) or TENANTS_PREFIX.startswith(p) for p in (*self.prefixes, q)):
            raise ValueError(f"import and quarantine prefixes must lie outside {TENANTS_PREFIX!r} (the tenants' own)")
        return self

    @property
    def instance_id(self) -> str | None:
        return self.connect_instance_arn.rsplit("/", 1)[1] if self.connect_instance_arn else None

    def to_env(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_env(cls, raw: str | None) -> ImportSettings:
        return cls.model_validate(json.loads(raw)) if raw else cls()
