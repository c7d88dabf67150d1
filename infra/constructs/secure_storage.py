"""``SecureTable``, ``SecureBucket`` and ``LogBucket``: the safe default is the easy one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from callguard.names import ATTR_TTL
from infra.nag import acknowledge

__all__ = ["Index", "LogBucket", "LoggedBucket", "SecureBucket", "SecureQueue", "SecureTable", "acknowledge_residency"]

S = dynamodb.AttributeType.STRING
N = dynamodb.AttributeType.NUMBER


class Index:
    """A global secondary index: ``(name, partition attribute, sort attribute)``; keys only,
    plus the ``include``d attributes (the few a reader needs without a second lookup)."""

    def __init__(
        self,
        name: str,
        partition: tuple[str, dynamodb.AttributeType],
        sort: tuple[str, dynamodb.AttributeType],
        include: Sequence[str] = (),
    ):
        self.name = name
        self.partition = partition
        self.sort = sort
        self.include = tuple(include)


class SecureTable(dynamodb.TableV2):
    """On-demand table encrypted with the CMK, PITR, deletion protection and a TTL backstop."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        partition: tuple[str, dynamodb.AttributeType],
        sort: tuple[str, dynamodb.AttributeType] | None = None,
        indexes: Sequence[Index] = (),
        ttl_attribute: str = ATTR_TTL,
        pitr_days: int = 35,
        removal: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition[0], type=partition[1]),
            sort_key=dynamodb.Attribute(name=sort[0], type=sort[1]) if sort else None,
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True, recovery_period_in_days=pitr_days
            ),
            deletion_protection=removal == RemovalPolicy.RETAIN,  # removal=destroy must be able to tear down
            time_to_live_attribute=ttl_attribute,
            removal_policy=removal,
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.partition[0], type=index.partition[1]),
                    sort_key=dynamodb.Attribute(name=index.sort[0], type=index.sort[1]),
                    projection_type=(
                        dynamodb.ProjectionType.INCLUDE if index.include else dynamodb.ProjectionType.KEYS_ONLY
                    ),
                    non_key_attributes=list(index.include) or None,
                )
                for index in indexes
            ],
        )
        acknowledge(
            self,
            "Point-in-time recovery with a bounded window is the backup of record. An AWS Backup plan "
            "would keep copies (and wrapped subject keys) beyond an erasure's one-month deadline.",
            "NIST.800.53.R5-DynamoDBInBackupPlan",
            "HIPAA.Security-DynamoDBInBackupPlan",
        )


class LogBucket(s3.Bucket):
    """Target of S3 server access logs. SSE-S3, because S3 log delivery cannot use SSE-KMS."""

    def __init__(self, scope: Construct, construct_id: str, *, expire_days: int, removal: RemovalPolicy) -> None:
        super().__init__(
            scope,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(expire_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal,
            auto_delete_objects=False,
        )
        acknowledge(
            self,
            "This bucket is the sink of the server access logs; logging it into itself would loop.",
            "AwsSolutions-S1",
            "NIST.800.53.R5-S3BucketLoggingEnabled",
            "HIPAA.Security-S3BucketLoggingEnabled",
        )
        acknowledge(
            self,
            "S3 server access log delivery supports only SSE-S3 on the target bucket, not SSE-KMS.",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "HIPAA.Security-S3DefaultEncryptionKMS",
        )
        acknowledge_residency(self)


def acknowledge_residency(bucket: s3.Bucket) -> None:
    """A bucket of personal data is not replicated out of the region (every such bucket says why)."""
    acknowledge(
        bucket,
        "Cross-region replication would copy personal data out of the one EU region the data is pinned "
        "to; durability comes from S3's multi-AZ storage and versioning.",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
        "HIPAA.Security-S3BucketReplicationEnabled",
    )


class LoggedBucket(s3.Bucket):
    """A private bucket: no public access, TLS 1.2+ only, versioned, its server access logs delivered to
    ``access_logs`` under ``log_prefix``. Encrypted with ``key`` (SSE-KMS with an S3 bucket key) or,
    without a key, SSE-S3. A bucket of ``personal_data`` says why it is
    not replicated out of the region. ``props`` are what the bucket needs besides (Object Lock, lifecycle)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        access_logs: s3.IBucket,
        log_prefix: str,
        removal: RemovalPolicy,
        key: kms.IKey | None = None,
        ownership: s3.ObjectOwnership | None = s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        personal_data: bool = True,
        **props: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=True if key else None,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=ownership,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=log_prefix,
            removal_policy=removal,
            **props,
        )
        if personal_data:
            acknowledge_residency(self)


class SecureBucket(LoggedBucket):
    """A bucket of personal data: SSE-KMS with bucket keys, access logs under its construct id, a lifecycle
    that expires old versions (and, with ``expire_days``, the objects)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        access_logs: s3.IBucket,
        noncurrent_days: int = 7,
        expire_days: int | None = None,
        removal: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            key=key,
            access_logs=access_logs,
            log_prefix=f"{construct_id}/",
            removal=removal,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(expire_days) if expire_days else None,
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expired_object_delete_marker=None if expire_days else True,
                )
            ],
        )


_DATA_KEY_REUSE = Duration.minutes(5)


class SecureQueue(sqs.Queue):
    """A queue of messages that may name personal data: SSE-KMS with ``key`` (the data key reused for
    ``data_key_reuse``, SQS's own default when ``None``), TLS only. ``props`` set retention, visibility and
    the dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        removal: RemovalPolicy,
        data_key_reuse: Duration | None = _DATA_KEY_REUSE,
        **props: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=data_key_reuse,
            enforce_ssl=True,
            removal_policy=removal,
            **props,
        )
