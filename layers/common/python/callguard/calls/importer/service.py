"""One dropped file → one call, through the same ingestion as ``POST /v1/calls``.

The importer reads the object (never more than the size limit), parses it strictly, looks
the contact up in Connect for the caller's identifiers and consent, and hands a
:class:`~callguard.models.CallIn` to :class:`~callguard.ingest.IngestService` — the service the
API's handler uses, so consent, sealing, idempotency and analysis are the API's own.

* A bad file is copied to the quarantine prefix under its reason (nothing is ingested).
* The same file again answers the same call (ingest is idempotent on ``call_id``).
* The raw file is never kept by callguard: in a bucket the stack created, the imported
  object version is deleted once the sealed transcript is stored. (A Connect bucket belongs
  to Connect; callguard only reads it.)
* Contact Lens writes a raw and a redacted twin. The raw twin is imported; the redacted one
  only when the raw one cannot be read (or ``redacted_only``), and the call says so.
* **Tenants.** A file belongs to the tenant whose upload prefix it lands under, never to anything
  its content says: ``<import prefix>…`` (v1's keys) is the default tenant's, and
  ``tenants/<tenant>/<import prefix>…`` a listed tenant's (:func:`tenant_of_key`). The call is then
  ingested as that tenant — its scope, its pseudonyms, its subject keys, its retention — by that
  tenant's ingest service. A file under a tenant the deployment does not list is refused before
  it is read (``refused``, ``unknown_tenant``): nothing of it is read, copied or stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import ValidationError

from callguard.calls.ingest import IngestService
from callguard.errors import CallConflictError
from callguard.models import CallIn, is_call_id
from callguard.names import AGENT_ID_PATTERN
from callguard.security.tenancy import DEFAULT_TENANT
from callguard.storage.calls import ImportedOrigin

from .contacts import ContactDirectory, ContactFacts
from .formats import CONTACT_LENS, FORMATS, ImportedTranscript, RejectedFileError, parse
from .settings import TENANTS_PREFIX, ImportSettings, tenant_key, tenant_of_key

__all__ = [
    "FORMAT_METADATA",
    "TENANTS_PREFIX",
    "ImportOutcome",
    "ImportService",
    "contact_id_of",
    "raw_twin_key",
    "speaker_of",
    "tenant_key",
    "tenant_of_key",
]

#: object metadata ``make import FORMAT=…`` sets: the format the file must be in
FORMAT_METADATA = "callguard-format"
REASON_METADATA = "callguard-reason"
_SPEAKERS = {"AGENT": "agent", "CUSTOMER": "customer"}
_REDACTED_DIR = re.compile(r"/Redacted/")


def speaker_of(role: str) -> str:
    """AGENT → agent, CUSTOMER → customer; every other role (SYSTEM, CUSTOM_BOT, …) → bot."""
    return _SPEAKERS.get(role.upper(), "bot")


def raw_twin_key(key: str) -> str | None:
    """The raw twin of a Contact Lens redacted file's key (``…/Redacted/…_analysis_redacted_…``)."""
    if not _REDACTED_DIR.search(key):
        return None
    return _REDACTED_DIR.sub("/", key, count=1).replace("_analysis_redacted_", "_analysis_", 1)


class _GoneError(Exception):
    """The object is no longer there (a re-delivery after the import deleted it)."""


@dataclass(frozen=True)
class ImportOutcome:
    key: str
    status: Literal["imported", "quarantined", "skipped", "refused"]
    reason: str | None = None
    call_id: str | None = None
    analysis: str | None = None
    redacted_input: bool = False
    #: the tenant the file was imported for (``None``: refused before one was known)
    tenant: str | None = DEFAULT_TENANT


@dataclass
class ImportService:
    s3: Any
    ingest: IngestService
    settings: ImportSettings
    contacts: ContactDirectory
    #: the stack created the bucket: imported objects are deleted (the raw file is never kept)
    owned_bucket: bool
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: the deployment's tenants (``default`` alone: v1's single-tenant import)
    tenants: frozenset[str] = frozenset({DEFAULT_TENANT})
    #: a listed tenant's ingest service (its scope, pseudonyms and keys); ``ingest`` is the default tenant's
    ingest_of: Callable[[str], IngestService] | None = None
    _last_modified: datetime | None = None
    _version_read: str | None = None
    _tenant_ingest: IngestService | None = None

    def _ingest(self) -> IngestService:
        return self._tenant_ingest or self.ingest

    def handle(self, bucket: str, key: str, version_id: str | None = None) -> ImportOutcome:
        s = self.settings
        self._version_read, self._last_modified, self._tenant_ingest = None, None, None  # of this object only
        if key.startswith(s.quarantine_prefix):
            return ImportOutcome(key, "skipped", "outside_prefix")
        tenant, below = tenant_of_key(key)
        if not any(below.startswith(p) for p in s.prefixes):
            return ImportOutcome(key, "skipped", "outside_prefix", tenant=tenant)
        if tenant is None or tenant not in self.tenants or (tenant != DEFAULT_TENANT and self.ingest_of is None):
            return ImportOutcome(key, "refused", "unknown_tenant", tenant=None)  # never opened
        if tenant != DEFAULT_TENANT:
            assert self.ingest_of is not None  # nosec B101 - checked just above
            self._tenant_ingest = self.ingest_of(tenant)
        outcome = self._handle(bucket, key, version_id)
        return outcome if tenant == DEFAULT_TENANT else replace(outcome, tenant=tenant)

    def _handle(self, bucket: str, key: str, version_id: str | None) -> ImportOutcome:
        s = self.settings
        redacted_key = raw_twin_key(key) is not None
        if s.redacted_only and not redacted_key:
            return ImportOutcome(key, "skipped", "raw_twin_not_read")  # never even opened
        try:
            raw, expected, version_id = self._read(bucket, key, version_id)
        except _GoneError:
            return ImportOutcome(key, "skipped", "gone")  # imported (and deleted) already
        except RejectedFileError as exc:  # refused before parsing (size, named format)
            return self._quarantine(bucket, key, self._version_read or version_id, exc.reason)
        call: CallIn | None = None
        try:
            transcript = parse(raw, expected=expected, key_says_redacted=redacted_key)
            if transcript.redacted and not s.redacted_only and self._raw_twin_readable(bucket, key):
                self._forget(bucket, key, version_id)  # the raw twin's event imports the call
                return ImportOutcome(key, "skipped", "raw_twin_imported", redacted_input=True)
            call, imported = self._call(transcript, self._last_modified)
            accepted = self._ingest().ingest(call, imported=imported)
        except RejectedFileError as exc:
            return self._quarantine(bucket, key, version_id, exc.reason)
        except CallConflictError:
            assert call is not None  # nosec B101 - only ingest raises it
            if self._other_twin(transcript, call.call_id):
                self._forget(bucket, key, version_id)
                return ImportOutcome(key, "skipped", "twin_already_imported", call_id=call.call_id)
            return self._quarantine(bucket, key, version_id, "call_id_conflict")
        self._forget(bucket, key, version_id)
        return ImportOutcome(
            key, "imported", call_id=accepted.call_id, analysis=accepted.analysis, redacted_input=transcript.redacted
        )

    def _read(self, bucket: str, key: str, version_id: str | None) -> tuple[bytes, str | None, str | None]:
        """The object's bytes (never more than the limit), the format it was dropped as, its version."""
        limit = self.settings.max_object_bytes
        address = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        try:
            obj = self.s3.get_object(**address)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "NoSuchVersion", "404"}:
                raise _GoneError from None
            raise
        version_id = obj.get("VersionId") or version_id
        self._version_read = version_id
        self._last_modified = obj.get("LastModified")
        body = obj["Body"]
        try:
            if int(obj.get("ContentLength", 0)) > limit or len(raw := body.read(limit + 1)) > limit:
                error = RejectedFileError("too_large", "The file is larger than the import limit.")
                raise error
        finally:
            body.close()
        expected = (obj.get("Metadata") or {}).get(FORMAT_METADATA)
        if expected is not None and expected not in FORMATS:
            raise RejectedFileError("format_mismatch", "Unknown format named in the object metadata.")
        return raw, expected, version_id

    # -- mapping --------------------------------------------------------------------------
    def _call(self, transcript: ImportedTranscript, written: datetime | None) -> tuple[CallIn, ImportedOrigin]:
        contact_id = self._contact_id(transcript)
        facts = self._facts(transcript.instance_id or self.settings.instance_id, contact_id)
        turns = [t for t in transcript.turns if t.text.strip()]
        started, ended = self._times(transcript, facts, written)
        language = (transcript.language_code or "").split("-")[0].lower()
        body: dict[str, Any] = {
            "call_id": contact_id,
            "started_at": started,
            "ended_at": ended,
            "channel": transcript.channel,
            "caller": {
                k: v
                for k, v in {"phone": facts.phone, "customer_id": facts.customer_id, "email": facts.email}.items()
                if v
            },
            "consent": {
                "recording": facts.recording,
                "ai_analysis": facts.ai_analysis,
                "ai_disclosure_given": facts.ai_disclosure_given,
            },
            "segments": [
                {"speaker": speaker_of(t.role), "start_ms": t.start_ms, "end_ms": t.end_ms, "text": t.text}
                for t in turns
            ],
        }
        if re.fullmatch(r"[a-z]{2}", language):
            body["language"] = language
        if facts.agent_id and re.match(AGENT_ID_PATTERN, facts.agent_id):
            body["agent_id"] = facts.agent_id
        if not body["caller"]:
            raise RejectedFileError("no_caller_identifier", "The contact carries no identifier of the caller.")
        if facts.verification is not None:
            body["caller"]["verification"] = facts.verification
        try:
            call = CallIn.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RejectedFileError("not_ingestible", f"{where}: {first['msg']}") from None
        return call, _imported_origin(transcript, [t.sentiment for t in turns], self.settings)

    def _contact_id(self, transcript: ImportedTranscript) -> str:
        return contact_id_of(transcript, self.settings)

    def _facts(self, instance_id: str | None, contact_id: str) -> ContactFacts:
        # a Transcribe result names no instance: without one configured its contact cannot be found
        facts = self.contacts.lookup(instance_id, contact_id) if instance_id else None
        if facts is None:
            raise RejectedFileError("contact_not_found", "Connect does not know the file's contact.")
        return facts

    def _times(
        self, transcript: ImportedTranscript, facts: ContactFacts, written: datetime | None
    ) -> tuple[datetime, datetime]:
        duration = timedelta(milliseconds=transcript.duration_ms)
        started = facts.started_at or transcript.first_message_at
        if started is None:  # a Transcribe result of a contact Connect has no times for
            started = (written or self.clock()) - duration
        ended = facts.ended_at or started + duration
        return started.astimezone(UTC), max(ended, started).astimezone(UTC)

    # -- twins, quarantine, clean-up ------------------------------------------------------------
    def _raw_twin_readable(self, bucket: str, key: str) -> bool:
        twin = raw_twin_key(key)
        if twin is None:
            return False
        try:
            self.s3.head_object(Bucket=bucket, Key=twin)
        except ClientError:
            return False  # missing or not readable (403): the redacted twin is what we get
        return True

    def _other_twin(self, transcript: ImportedTranscript, call_id: str) -> bool:
        existing = self._ingest().calls.get(call_id)
        if existing is None:
            return False
        imported = existing.imported
        mine = "redacted" if transcript.redacted else "raw"
        return imported is not None and imported.format == transcript.format and imported.output != mine

    def _quarantine(self, bucket: str, key: str, version_id: str | None, reason: str) -> ImportOutcome:
        source = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        self.s3.copy_object(
            Bucket=bucket,
            Key=f"{self.settings.quarantine_prefix}{reason}/{key}",
            CopySource=source,
            MetadataDirective="REPLACE",
            Metadata={REASON_METADATA: reason},
        )
        self._forget(bucket, key, version_id)
        return ImportOutcome(key, "quarantined", reason)

    def _forget(self, bucket: str, key: str, version_id: str | None) -> None:
        if self.owned_bucket and version_id:
            self.s3.delete_object(Bucket=bucket, Key=key, VersionId=version_id)


def contact_id_of(transcript: ImportedTranscript, settings: ImportSettings) -> str:
    """The contact id a file is about — the ``call_id`` it is stored under."""
    if transcript.format == CONTACT_LENS:
        if settings.instance_id and transcript.instance_id != settings.instance_id:
            raise RejectedFileError("foreign_instance", "The file belongs to another Connect instance.")
        contact_id = transcript.contact_id or ""
    else:
        match = re.search(settings.transcribe_contact_id_pattern, transcript.job_name or "")
        contact_id = match.group("contact_id") if match else ""
    if not is_call_id(contact_id):
        raise RejectedFileError("invalid_call_id", "The file names no usable contact id.")
    return contact_id


def _imported_origin(
    transcript: ImportedTranscript, sentiments: list[str | None], settings: ImportSettings
) -> ImportedOrigin:
    """Where the call came from and what the provider already analysed — derived values only, no text."""
    insights = transcript.insights
    reuse = settings.reuse_provider_sentiment and bool(sentiments) and all(sentiments)
    return ImportedOrigin(
        format=transcript.format,
        version=transcript.version,
        output="redacted" if transcript.redacted else "raw",
        sentiment_by_role=dict(insights.sentiment_by_role),
        categories=tuple(insights.categories),
        issues=tuple(insights.issues),
        outcomes=tuple(insights.outcomes),
        action_items=tuple(insights.action_items),
        turn_sentiment=tuple(str(label) for label in sentiments) if reuse else None,
    )
