"""Who may do what: one row per function role and per privacy workflow step.

The capability constructs grant from this table (:func:`apply_grants`), and
``tests/infra/test_grants.py`` reads every role's effective permissions back out of the
synthesized template and compares them with it, so a step can never quietly hold more than
its row. The rows are the product's least-privilege promises, in short:

* only ``shred_subject_key`` and the retention ``purge`` delete subject keys (crypto-shredding);
* only ``delete_subject_data`` (and the purge) delete calls, subjects' records, idempotency
  records and transcript versions;
* the bookkeeping steps (``await_verification``, ``await_approval``, ``route_request``, ``complete_request``,
  ``mark_rejected``, ``mark_failed``) touch the privacy request item and nothing else but the
  audit chain, where writers may only append (``PutItem`` guarded by ``attribute_not_exists``,
  ``Query`` for the head; no ``UpdateItem``, ``DeleteItem`` or ``BatchWriteItem``);
* tenant offboarding (only with tenants listed, :data:`TENANT_GRANTS`): only its shred step deletes
  subject keys, its batch writes may touch only listed tenants' ``T#…`` partitions
  (``dynamodb:LeadingKeys``) and its object deletions only versions under ``tenants/``;
* only ``audit_anchor`` reads the whole audit log to sign it and writes the anchors bucket;
  only the purge deletes audit entries, and only for days that carry a signed anchor.

Resources are symbolic (:class:`Res`); conditions too (:class:`Cond`), so the data key is
used for a subject's key only with that subject's id in the encryption context, and for S3
objects only through S3.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_cdk import Stack

from callguard.names import GSI_BY_EXPIRY, GSI_BY_SUBJECT

if TYPE_CHECKING:
    from aws_cdk import aws_s3 as s3

    from infra.constructs.function import CallguardFunction
    from infra.constructs.platform import Platform

__all__ = [
    "GRANTS",
    "OFFBOARDING_ROLES",
    "PRIVACY_STEP_ROLES",
    "TENANT_GRANTS",
    "Cond",
    "Grant",
    "Res",
    "apply_grants",
    "listed_tenant_arns",
    "resource_arns",
]


class Res(StrEnum):
    CALLS = "calls"
    CALLS_BY_SUBJECT = "calls/index/by_subject"
    CALLS_BY_EXPIRY = "calls/index/by_expiry"
    SUBJECTS = "subjects"
    SUBJECTS_BY_EXPIRY = "subjects/index/by_expiry"
    SUBJECT_KEYS = "subject_keys"
    IDEMPOTENCY = "idempotency"
    PRIVACY = "privacy"
    PRIVACY_BY_EXPIRY = "privacy/index/by_expiry"
    AUDIT = "audit"
    AUDIT_BY_EXPIRY = "audit/index/by_expiry"
    TRANSCRIPTS_BUCKET = "transcripts"
    TRANSCRIPT_OBJECTS = "transcripts/transcripts/*"
    #: the listed tenants' objects (``tenants/<tenant>/…``), never the default tenant's v1 keys
    TRANSCRIPT_TENANT_OBJECTS = "transcripts/tenants/*"
    EXPORTS_BUCKET = "exports"
    EXPORT_OBJECTS = "exports/exports/*"
    EXPORT_TENANT_OBJECTS = "exports/tenants/*"
    ANCHORS_BUCKET = "anchors"
    ANCHOR_OBJECTS = "anchors/*"
    DATA_KEY = "key:data"
    EXPORTS_KEY = "key:exports"
    SUBJECT_ID_KEY = "key:subject_ids"
    AUDIT_KEY = "key:audit"
    ANCHOR_KEY = "key:audit_anchor"


class Cond(StrEnum):
    #: the data key wraps/unwraps a subject's data key: only with a subject id in the encryption context
    SUBJECT_CONTEXT = "subject_context"
    #: the data key seals a privacy request's changes: only with the request id in the context
    REQUEST_CONTEXT = "request_context"
    #: the key is used by S3 on the caller's behalf (SSE-KMS objects), nowhere else
    VIA_S3 = "via_s3"
    #: the key is used by SQS on the caller's behalf (the encrypted analysis queue)
    VIA_SQS = "via_sqs"
    #: the key is used by DynamoDB on the caller's behalf (reading and writing KMS-encrypted tables)
    VIA_DYNAMODB = "via_dynamodb"
    #: a batch write may touch only partitions of listed tenants (``T#…``): never the default tenant's
    #: v1 items nor the processor's own (the offboarding journal and certificates)
    LISTED_TENANT_PARTITIONS = "listed_tenant_partitions"


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    resources: tuple[Res, ...]
    condition: Cond | None = None


def _g(actions: str, *resources: Res, condition: Cond | None = None) -> Grant:
    return Grant(tuple(sorted(f"{a.split(':')[0]}:{a.split(':')[1]}" for a in actions.split())), resources, condition)


# -- building blocks -----------------------------------------------------------------------------
#: DynamoDB calls kms:Decrypt on the table's key as the principal that reads or writes the table
_TABLE_KEY = _g("kms:Decrypt", Res.DATA_KEY, condition=Cond.VIA_DYNAMODB)
_REQUEST_READ = _g("dynamodb:GetItem", Res.PRIVACY)
_REQUEST_RW = _g("dynamodb:GetItem dynamodb:UpdateItem", Res.PRIVACY)
_AUDIT_APPEND = _g("dynamodb:PutItem dynamodb:Query", Res.AUDIT)
_CLOSURE = _g("dynamodb:GetItem dynamodb:Query", Res.SUBJECTS)
#: what the erasure steps count before and after (``SubjectData.inventory``)
_INVENTORY = (
    _CLOSURE,
    _g("dynamodb:GetItem", Res.SUBJECT_KEYS),
    _g("dynamodb:Query", Res.CALLS, Res.CALLS_BY_SUBJECT),
    _g("dynamodb:Scan", Res.IDEMPOTENCY),
    _g("s3:ListBucketVersions", Res.TRANSCRIPTS_BUCKET, Res.EXPORTS_BUCKET),
)
_S3_DATA_KEY = _g("kms:Decrypt", Res.DATA_KEY, condition=Cond.VIA_S3)  # sealed transcript objects
_S3_EXPORTS_KEY = _g("kms:Decrypt kms:GenerateDataKey", Res.EXPORTS_KEY, condition=Cond.VIA_S3)

#: one row per privacy workflow step (a role each)
PRIVACY_STEP_GRANTS: dict[str, tuple[Grant, ...]] = {
    "await_verification": (_REQUEST_RW,),
    "await_approval": (_REQUEST_RW,),  # four-eyes: the approval token on the request item, nothing else
    "route_request": (_REQUEST_READ,),
    "complete_request": (_REQUEST_RW, _AUDIT_APPEND),
    "mark_rejected": (_REQUEST_RW, _AUDIT_APPEND),
    "mark_failed": (_REQUEST_RW, _AUDIT_APPEND),
    "check_legal_hold": (_g("dynamodb:GetItem dynamodb:Query", Res.PRIVACY), _CLOSURE),
    "collect_subject_data": (
        _g("dynamodb:GetItem dynamodb:PutItem dynamodb:Query dynamodb:UpdateItem", Res.PRIVACY),
        _CLOSURE,
        _g("dynamodb:GetItem dynamodb:Query", Res.CALLS, Res.CALLS_BY_SUBJECT),
        _g("dynamodb:GetItem", Res.SUBJECT_KEYS),
        _g("kms:Decrypt", Res.DATA_KEY, condition=Cond.SUBJECT_CONTEXT),
        _g("s3:GetObject s3:GetObjectVersion", Res.TRANSCRIPT_OBJECTS),
        _g("s3:PutObject", Res.EXPORT_OBJECTS),
        _S3_DATA_KEY,
        _S3_EXPORTS_KEY,
    ),
    "assemble_export": (
        _REQUEST_RW,
        _CLOSURE,  # the export names the subject's linked subjects (found by the recorded-call proof)
        _g("s3:ListBucket s3:ListBucketVersions", Res.EXPORTS_BUCKET),
        _g(
            "s3:AbortMultipartUpload s3:DeleteObject s3:DeleteObjectVersion s3:GetObject s3:PutObject",
            Res.EXPORT_OBJECTS,
        ),
        _S3_EXPORTS_KEY,
    ),
    # the steps that change a subject's data record that they execute in the audit chain (append only)
    "shred_subject_key": (_REQUEST_RW, _AUDIT_APPEND, *_INVENTORY, _g("dynamodb:DeleteItem", Res.SUBJECT_KEYS)),
    "delete_subject_data": (
        _g("dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem", Res.PRIVACY),
        *_INVENTORY,
        _g("dynamodb:BatchWriteItem", Res.SUBJECTS, Res.CALLS, Res.IDEMPOTENCY),
        _g("s3:DeleteObject s3:DeleteObjectVersion", Res.TRANSCRIPT_OBJECTS, Res.EXPORT_OBJECTS),
    ),
    "verify_erasure": (_REQUEST_RW, *_INVENTORY),
    "apply_restriction": (
        _REQUEST_RW,
        _AUDIT_APPEND,
        _g("dynamodb:GetItem dynamodb:Query dynamodb:UpdateItem", Res.SUBJECTS),
    ),
    "record_objection": (
        _REQUEST_RW,
        _AUDIT_APPEND,
        _g("dynamodb:GetItem dynamodb:PutItem dynamodb:Query dynamodb:UpdateItem", Res.SUBJECTS),
    ),
    "apply_rectification": (
        _REQUEST_RW,
        _AUDIT_APPEND,
        _g("kms:Decrypt", Res.DATA_KEY, condition=Cond.REQUEST_CONTEXT),
        _g("kms:GenerateMac", Res.SUBJECT_ID_KEY),
        _g("dynamodb:DeleteItem dynamodb:GetItem dynamodb:PutItem dynamodb:Query dynamodb:UpdateItem", Res.SUBJECTS),
        # no new identifier may belong to another subject (its authenticated link)
        _g("dynamodb:BatchGetItem", Res.SUBJECTS),
    ),
}

#: what tenant offboarding's steps read and write: the run journal and certificates (``OFFBOARDING#<tenant>``)
_RUN = _g("dynamodb:GetItem dynamodb:PutItem", Res.PRIVACY)
_TENANT_TABLES = (Res.CALLS, Res.SUBJECTS, Res.IDEMPOTENCY, Res.PRIVACY, Res.AUDIT)
_TENANT_BUCKETS = _g("s3:ListBucketVersions", Res.TRANSCRIPTS_BUCKET, Res.EXPORTS_BUCKET)

#: one row per step of the tenant offboarding workflow (a role each; only with tenants listed)
OFFBOARDING_GRANTS: dict[str, tuple[Grant, ...]] = {
    "start_offboarding": (_RUN, _AUDIT_APPEND),
    # the only offboarding step that deletes subject keys, and only listed tenants' (crypto-shredding first)
    "shred_tenant_keys": (
        _RUN,
        _g("dynamodb:Scan", Res.SUBJECT_KEYS),
        _g("dynamodb:BatchWriteItem", Res.SUBJECT_KEYS, condition=Cond.LISTED_TENANT_PARTITIONS),
    ),
    "delete_tenant_data": (
        _RUN,
        _g("dynamodb:Scan", *_TENANT_TABLES),
        _g("dynamodb:BatchWriteItem", *_TENANT_TABLES, condition=Cond.LISTED_TENANT_PARTITIONS),
        _TENANT_BUCKETS,
        _g("s3:DeleteObjectVersion", Res.TRANSCRIPT_TENANT_OBJECTS, Res.EXPORT_TENANT_OBJECTS),
    ),
    "verify_tenant_gone": (_RUN, _g("dynamodb:Scan", Res.SUBJECT_KEYS, *_TENANT_TABLES), _TENANT_BUCKETS),
    "issue_offboarding_certificate": (_RUN, _AUDIT_APPEND),
}

#: the role name of each offboarding step in :data:`GRANTS`
OFFBOARDING_ROLES = {step: f"offboarding.{step}" for step in OFFBOARDING_GRANTS}

#: the role name of each step in :data:`GRANTS`
PRIVACY_STEP_ROLES = {step: f"privacy_steps.{step}" for step in PRIVACY_STEP_GRANTS}

GRANTS: dict[str, tuple[Grant, ...]] = {
    **{PRIVACY_STEP_ROLES[step]: (*grants, _TABLE_KEY) for step, grants in PRIVACY_STEP_GRANTS.items()},
    "purge": (
        _TABLE_KEY,
        _g(
            "dynamodb:Query",
            Res.CALLS_BY_EXPIRY,
            Res.SUBJECTS_BY_EXPIRY,
            Res.PRIVACY_BY_EXPIRY,
            Res.AUDIT_BY_EXPIRY,
        ),
        _g("dynamodb:BatchWriteItem dynamodb:UpdateItem", Res.CALLS),
        _g("dynamodb:BatchWriteItem", Res.AUDIT),  # expired entries, only of anchored days
        _g(
            "dynamodb:BatchWriteItem dynamodb:DeleteItem dynamodb:GetItem dynamodb:Query dynamodb:UpdateItem",
            Res.SUBJECTS,
        ),
        _g("dynamodb:BatchWriteItem dynamodb:PutItem dynamodb:Query dynamodb:UpdateItem", Res.PRIVACY),
        _g("dynamodb:DeleteItem", Res.SUBJECT_KEYS),  # crypto-shredding of expired subjects
        _g("s3:ListBucketVersions", Res.TRANSCRIPTS_BUCKET, Res.EXPORTS_BUCKET),
        _g("s3:DeleteObject s3:DeleteObjectVersion", Res.TRANSCRIPT_OBJECTS, Res.EXPORT_OBJECTS),
        _g("s3:ListBucket", Res.ANCHORS_BUCKET),  # is the day anchored? (a listing of days/: names only)
    ),
    "audit_anchor": (
        _TABLE_KEY,
        _g("dynamodb:Query", Res.AUDIT, Res.AUDIT_BY_EXPIRY),
        _g("s3:ListBucket s3:ListBucketVersions", Res.ANCHORS_BUCKET),
        _g("s3:GetObject s3:GetObjectVersion s3:PutObject", Res.ANCHOR_OBJECTS),
        _g("kms:Decrypt kms:GenerateDataKey", Res.AUDIT_KEY, condition=Cond.VIA_S3),
        _g("kms:Sign kms:Verify", Res.ANCHOR_KEY),
    ),
}


#: the rows of the roles only a deployment with listed tenants has (tests/infra judge them on that template)
TENANT_GRANTS: dict[str, tuple[Grant, ...]] = {
    OFFBOARDING_ROLES[step]: (*grants, _TABLE_KEY) for step, grants in OFFBOARDING_GRANTS.items()
}


def resource_arns(platform: Platform, *, anchors: s3.IBucket | None = None) -> dict[Res, str]:
    d, k = platform.data, platform.keys
    arns: dict[Res, str] = {
        Res.CALLS: d.calls.table_arn,
        Res.CALLS_BY_SUBJECT: f"{d.calls.table_arn}/index/{GSI_BY_SUBJECT}",
        Res.CALLS_BY_EXPIRY: f"{d.calls.table_arn}/index/{GSI_BY_EXPIRY}",
        Res.SUBJECTS: d.subjects.table_arn,
        Res.SUBJECTS_BY_EXPIRY: f"{d.subjects.table_arn}/index/{GSI_BY_EXPIRY}",
        Res.SUBJECT_KEYS: d.subject_keys.table_arn,
        Res.IDEMPOTENCY: d.idempotency.table_arn,
        Res.PRIVACY: d.privacy.table_arn,
        Res.PRIVACY_BY_EXPIRY: f"{d.privacy.table_arn}/index/{GSI_BY_EXPIRY}",
        Res.AUDIT: d.audit.table_arn,
        Res.AUDIT_BY_EXPIRY: f"{d.audit.table_arn}/index/{GSI_BY_EXPIRY}",
        Res.TRANSCRIPTS_BUCKET: d.transcripts.bucket_arn,
        Res.TRANSCRIPT_OBJECTS: d.transcripts.arn_for_objects("transcripts/*"),
        Res.EXPORTS_BUCKET: d.exports.bucket_arn,
        Res.EXPORT_OBJECTS: d.exports.arn_for_objects("exports/*"),
        Res.TRANSCRIPT_TENANT_OBJECTS: d.transcripts.arn_for_objects("tenants/*"),
        Res.EXPORT_TENANT_OBJECTS: d.exports.arn_for_objects("tenants/*"),
        Res.DATA_KEY: k.data.key_arn,
        Res.EXPORTS_KEY: k.exports.key_arn,
        Res.SUBJECT_ID_KEY: k.subject_ids.key_arn,
        Res.AUDIT_KEY: k.audit.key_arn,
        Res.ANCHOR_KEY: k.audit_anchor.key_arn,
    }
    if anchors is not None:
        arns[Res.ANCHORS_BUCKET] = anchors.bucket_arn
        arns[Res.ANCHOR_OBJECTS] = anchors.arn_for_objects("*")
    return arns


def conditions(condition: Cond, region: str) -> dict[str, Any]:
    if condition is Cond.SUBJECT_CONTEXT:
        return {"Null": {"kms:EncryptionContext:callguard:subject_id": "false"}}
    if condition is Cond.REQUEST_CONTEXT:
        return {"Null": {"kms:EncryptionContext:callguard:request_id": "false"}}
    if condition is Cond.LISTED_TENANT_PARTITIONS:
        return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["T#*"]}}
    service = {Cond.VIA_S3: "s3", Cond.VIA_SQS: "sqs", Cond.VIA_DYNAMODB: "dynamodb"}[condition]
    return {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com"}}


def listed_tenant_arns(platform: Platform) -> dict[Res, str]:
    """Where the listed tenants' objects of a resource are (``callguard.storage.scope``: ``tenants/<tenant>/…``),
    granted beside v1's wherever the resource is; nothing in a deployment without tenants (v1's template)."""
    if not platform.settings.multi_tenant:
        return {}
    return {
        Res.TRANSCRIPT_OBJECTS: platform.data.transcripts.arn_for_objects("tenants/*/transcripts/*"),
        Res.EXPORT_OBJECTS: platform.data.exports.arn_for_objects("tenants/*/exports/*"),
    }


def apply_grants(fn: CallguardFunction, role: str, platform: Platform, *, anchors: s3.IBucket | None = None) -> None:
    """Grant ``fn`` exactly its row of :data:`GRANTS` (one statement per grant)."""
    rows = {**GRANTS, **TENANT_GRANTS}
    if role not in rows:
        raise KeyError(f"{role!r} has no row in infra/grants.py: add one naming exactly what it calls")
    arns = resource_arns(platform, anchors=anchors)
    listed = listed_tenant_arns(platform)
    region = Stack.of(fn).region
    for grant in rows[role]:
        fn.allow(
            list(grant.actions),
            [arns[r] for r in grant.resources] + [listed[r] for r in grant.resources if r in listed],
            conditions(grant.condition, region) if grant.condition else None,
        )
