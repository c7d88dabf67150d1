"""Least-privilege statements for the data plane, shared by the capability constructs.

Each helper adds exact actions on exact resources to a function's managed policy, so
no construct reaches for a broad ``grant*`` (which would add wildcards and indexes).
"""

from __future__ import annotations

from aws_cdk import Stack

from infra.constructs.data_plane import DataPlane
from infra.constructs.function import CallguardFunction
from infra.constructs.keys import ProjectKeys
from infra.grants import Cond, conditions
from infra.nag import acknowledge, objects_wildcard

__all__ = [
    "LISTED_TENANTS_TRANSCRIPTS",
    "acknowledge_subject_objects",
    "allow_read_transcripts",
    "allow_table_key",
    "allow_unseal",
    "transcript_prefixes",
]


def allow_table_key(fn: CallguardFunction, keys: ProjectKeys) -> None:
    """Read and write KMS-encrypted tables: DynamoDB calls ``kms:Decrypt`` on the table's key as the
    principal that reads or writes it. Only through DynamoDB (``kms:ViaService``), never directly."""
    fn.allow(["kms:Decrypt"], [keys.data.key_arn], conditions(Cond.VIA_DYNAMODB, Stack.of(fn).region))


def allow_unseal(fn: CallguardFunction, data: DataPlane, keys: ProjectKeys) -> None:
    """Read a subject's wrapped data key and unwrap it with the CMK."""
    fn.allow(["dynamodb:GetItem"], [data.subject_keys.table_arn])
    # only with a subject id in the encryption context: the data key unwraps subjects' keys, nothing else
    fn.allow(["kms:Decrypt"], [keys.data.key_arn], conditions(Cond.SUBJECT_CONTEXT, Stack.of(fn).region))


#: where a listed tenant's transcripts are (``callguard.storage.scope``: ``tenants/<tenant>/transcripts/…``)
LISTED_TENANTS_TRANSCRIPTS = "tenants/*/transcripts/"


def transcript_prefixes(*, tenants: bool) -> tuple[str, ...]:
    """The key prefixes of transcript objects: v1's, and the listed tenants' in a deployment with tenants."""
    return ("transcripts/", LISTED_TENANTS_TRANSCRIPTS) if tenants else ("transcripts/",)


def allow_read_transcripts(fn: CallguardFunction, data: DataPlane, keys: ProjectKeys, *, tenants: bool = False) -> None:
    """Read sealed transcripts (``tenants``: the listed tenants' too)."""
    prefixes = transcript_prefixes(tenants=tenants)
    fn.allow(["s3:GetObject", "s3:GetObjectVersion"], [data.transcripts.arn_for_objects(f"{p}*") for p in prefixes])
    fn.allow(["kms:Decrypt"], [keys.data.key_arn], conditions(Cond.VIA_S3, Stack.of(fn).region))  # SSE-KMS
    acknowledge(
        fn.policy,
        "Sealed transcripts are keyed transcripts/<subject>/<call>; the function reads the one object version "
        "the call item points to and can open it only with that subject's data key.",
        *(objects_wildcard(data.transcripts, p) for p in prefixes),
    )


#: where a listed tenant's exports are (``callguard.storage.exports.ExportObjects``: ``tenants/<tenant>/exports/…``)
LISTED_TENANTS_EXPORTS = "tenants/*/exports/"


def acknowledge_subject_objects(fn: CallguardFunction, data: DataPlane, reason: str, *, tenants: bool = False) -> None:
    """A function that removes a subject's objects (purge, erasure) holds the object wildcards under the
    exports/ and transcripts/ prefixes (``tenants``: the listed tenants' exports and transcripts too): the keys
    name the subject, and the function learns them at run time."""
    exports = ("exports/", LISTED_TENANTS_EXPORTS) if tenants else ("exports/",)
    acknowledge(
        fn.policy,
        reason,
        *(objects_wildcard(data.exports, p) for p in exports),
        *(objects_wildcard(data.transcripts, p) for p in transcript_prefixes(tenants=tenants)),
    )
