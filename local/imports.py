"""``make import``: drop Contact Lens / Transcribe files into the running stack's import bucket
and report what became of each — the call id, or the quarantine reason.

The file takes the real path: S3 → EventBridge rule (moto) → import queue → the SQS poller →
the importer function. This module only puts the object and then watches its effects: the
importer deletes the object once it is handled, and a bad file's copy appears under the
quarantine prefix with its reason.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from callguard.calls.importer import ImportSettings, RejectedFileError, parse
from callguard.calls.importer.service import FORMAT_METADATA, contact_id_of
from callguard.calls.importer.settings import tenant_key
from callguard.security.tenancy import DEFAULT_TENANT
from callguard.storage.scope import TenantScope
from local.stack import STATE_FILE

__all__ = ["ImportResult", "drop_files"]


@dataclass(frozen=True)
class ImportResult:
    path: Path
    call_id: str | None
    reason: str | None


def _clients(state: dict[str, Any]) -> tuple[Any, Any]:
    import boto3

    session = boto3.Session(
        aws_access_key_id="local",
        # B106 accepted: the embedded stack's dummy credentials
        aws_secret_access_key="local",  # noqa: S106  # nosec B106
        region_name="eu-central-1",
    )
    url = state["aws_url"]
    return session.client("s3", endpoint_url=url), session.client("dynamodb", endpoint_url=url)


def _prefix(settings: ImportSettings, raw: bytes, fmt: str | None) -> str:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        document = {}
    channel = str(document.get("Channel", "")) if isinstance(document, dict) else ""
    wanted = {"VOICE": "Voice", "CHAT": "Chat"}.get(channel, "")
    transcribe = fmt == "transcribe" or (isinstance(document, dict) and "JobName" in document)
    for prefix in settings.prefixes:
        if (transcribe and "CallAnalytics" in prefix) or (not transcribe and wanted and wanted in prefix):
            return prefix
    return settings.prefixes[0]


def drop_files(
    paths: list[Path],
    fmt: str | None = None,
    *,
    tenant: str = DEFAULT_TENANT,
    state_file: Path = STATE_FILE,
    timeout: float = 60,
) -> list[ImportResult]:
    if not state_file.exists():
        raise RuntimeError("no local stack is running (start it with `make local`)")
    state = json.loads(state_file.read_text())
    if not state.get("import_bucket"):
        raise RuntimeError("the running stack has no importer; restart it after `make synth`")
    if tenant not in (state.get("tenants") or {DEFAULT_TENANT: {}}):
        raise RuntimeError(f"the running stack serves no tenant {tenant!r}")
    settings = ImportSettings.model_validate(state["import_settings"])
    bucket = state["import_bucket"]
    s3, dynamodb = _clients(state)
    dropped = []
    for path in paths:
        raw = path.read_bytes()
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        key = tenant_key(tenant, f"{_prefix(settings, raw, fmt)}{day}/{uuid.uuid4().hex[:12]}_{path.name}")
        s3.put_object(Bucket=bucket, Key=key, Body=raw, Metadata={FORMAT_METADATA: fmt} if fmt else {})
        dropped.append((path, key, raw))
    scope = TenantScope(tenant)
    return [
        _outcome(s3, dynamodb, state, settings, bucket, path, key, raw, timeout, scope) for path, key, raw in dropped
    ]


def _outcome(
    s3: Any,
    dynamodb: Any,
    state: dict[str, Any],
    settings: ImportSettings,
    bucket: str,
    path: Path,
    key: str,
    raw: bytes,
    timeout: float,
    scope: TenantScope,
) -> ImportResult:
    deadline = time.monotonic() + timeout
    while True:  # the importer deletes the object (from the stack's own bucket) once it is handled
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            break
        if time.monotonic() > deadline:
            return ImportResult(path, None, "timeout")
        time.sleep(0.2)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=settings.quarantine_prefix).get("Contents", [])
    for item in listing:
        if item["Key"].endswith("/" + key):
            reason = item["Key"][len(settings.quarantine_prefix) :].split("/", 1)[0]
            return ImportResult(path, None, reason)
    try:
        call_id = contact_id_of(parse(raw), settings)
    except RejectedFileError as exc:
        return ImportResult(path, None, exc.reason)
    found = dynamodb.get_item(
        TableName=state["calls_table"], Key={"pk": {"S": scope.key(f"CALL#{call_id}")}, "sk": {"S": "CALL"}}
    ).get("Item")
    return ImportResult(path, call_id if found else None, None if found else "not_stored")
