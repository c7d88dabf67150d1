"""Import capability: S3 "Object Created" on the import bucket/prefixes → EventBridge rule →
import queue (DLQ) → importer function → the ingest service of ``POST /v1/calls``.

The bucket is either an existing one (the Connect instance's, named in the config; its owner
turns on "Send notifications to Amazon EventBridge") or one this construct creates. EventBridge
rather than a bucket notification: callguard never rewrites the notification configuration of
a bucket it does not own, and no custom resource is needed for a bucket it does.

With tenants, each listed tenant drops its files under ``tenants/<tenant>/<import prefix>``; the rule
routes exactly the default tenant's prefixes and each listed tenant's, and the importer may read (and
delete) nothing else, so a file under a prefix of no listed tenant never reaches the function.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from callguard.calls.importer.settings import tenant_key
from callguard.names import Env
from callguard.storage.scope import TenantScope
from infra.constructs.data_access import allow_table_key
from infra.constructs.platform import STORE_CALL_ENV, Platform
from infra.constructs.secure_storage import SecureBucket, SecureQueue
from infra.grants import Cond, conditions
from infra.nag import acknowledge, objects_wildcard

__all__ = ["CallImport"]

#: the importer's timeout; the queue's visibility timeout is six times it (AWS's advice for SQS sources)
_TIMEOUT_SECONDS = 60


class CallImport(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        settings, data, keys = platform.settings, platform.data, platform.keys
        config = settings.imports
        #: every prefix a file may be dropped under: the default tenant's (v1's) and each listed tenant's
        self.prefixes = [tenant_key(t.id, p) for t in settings.tenant_list() for p in config.prefixes]
        self.owned = config.bucket_name is None
        if config.bucket_name is None:
            self.bucket: s3.IBucket = SecureBucket(
                self,
                "Drop",
                key=keys.data,
                access_logs=data.access_logs,
                noncurrent_days=1,
                # backstop only: the importer deletes each file once it is imported or quarantined
                expire_days=config.quarantine_days,
                removal=platform.removal,
            )
            bucket_resource = self.bucket.node.default_child
            bucket_resource.add_property_override(  # type: ignore[union-attr]
                "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
            )
        else:
            self.bucket = s3.Bucket.from_bucket_name(self, "Drop", config.bucket_name)

        self.dlq = SecureQueue(
            self,
            "Dlq",
            key=keys.data,
            removal=platform.removal,
            data_key_reuse=None,
            retention_period=Duration.days(14),
        )
        self.queue = SecureQueue(
            self,
            "Queue",
            key=keys.data,
            removal=platform.removal,
            visibility_timeout=Duration.seconds(6 * _TIMEOUT_SECONDS),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self.dlq),
        )
        self.rule = events.Rule(
            self,
            "ObjectCreated",
            description="callguard: transcript files dropped into the import prefixes",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self.bucket.bucket_name]},
                    "object": {"key": [{"prefix": p} for p in self.prefixes]},
                },
            ),
            # an event EventBridge cannot deliver (the queue unavailable, its key refused) waits in the DLQ too
            targets=[targets.SqsQueue(self.queue, dead_letter_queue=self.dlq)],
        )

        self.handler = platform.function(
            self,
            "Importer",
            name="importer",
            memory_mb=1024,
            timeout_seconds=_TIMEOUT_SECONDS,
            synchronous=False,
            env=(*STORE_CALL_ENV, Env.IMPORT_SETTINGS),
            extra_env={Env.IMPORT_BUCKET.value: self.bucket.bucket_name},
        )
        self._grant(platform)

    def _contacts(self, instance_arn: str | None) -> str:
        if instance_arn:
            return f"{instance_arn}/contact/*"
        stack = Stack.of(self)
        return f"arn:aws:connect:{stack.region}:{stack.account}:instance/*/contact/*"

    def _nag_name(self, arn: str) -> str:
        """``arn`` as cdk-nag names it in a finding: unresolved region/account as ``<AWS::…>``."""
        stack = Stack.of(self)
        for token, name in ((stack.region, "<AWS::Region>"), (stack.account, "<AWS::AccountId>")):
            if Token.is_unresolved(token):
                arn = arn.replace(token, name)
        return arn

    def _object_finding(self, prefix: str) -> str:
        if self.owned:
            return objects_wildcard(self.bucket, prefix)
        return f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{self.bucket.bucket_name}/{prefix}*]"

    def _grant(self, platform: Platform) -> None:
        data, keys, config = platform.data, platform.keys, platform.settings.imports
        fn, allow = self.handler, self.handler.allow
        # exactly what IngestService calls (the same service as POST /v1/calls); DeleteItem: the
        # transcript marker is removed again when storing the call fails (nothing half-written); one
        # BatchGetItem reads the call, the identifiers, the profile and the wrapped key together
        allow(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            [data.calls.table_arn],
        )
        allow(
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [data.subjects.table_arn],
        )
        allow(["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"], [data.subject_keys.table_arn])
        # each tenant's transcripts under its own keys (the default tenant's: v1's transcripts/)
        transcripts = [TenantScope(t.id).object_key("transcripts/*") for t in platform.settings.tenant_list()]
        allow(["s3:PutObject", "s3:DeleteObjectVersion"], [data.transcripts.arn_for_objects(k) for k in transcripts])
        allow(["sqs:SendMessage"], [data.analysis_queue.queue_arn])
        # the data key as ingest holds it (infra/grants.py): subject keys only with the subject id in the
        # encryption context; transcripts, the dropped files and the queues only through S3/SQS; the tables
        # only through DynamoDB
        region = Stack.of(self).region
        allow_table_key(fn, keys)
        for condition in (Cond.SUBJECT_CONTEXT, Cond.VIA_S3, Cond.VIA_SQS):
            allow(["kms:GenerateDataKey", "kms:Decrypt"], [keys.data.key_arn], conditions(condition, region))
        allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
        # the files: read under the import prefixes (only the redacted twins in redacted-only mode)
        readable = [f"{p}Redacted/*" if config.redacted_only else f"{p}*" for p in self.prefixes]
        allow(["s3:GetObject", "s3:GetObjectVersion"], [self.bucket.arn_for_objects(r) for r in readable])
        allow(["s3:PutObject"], [self.bucket.arn_for_objects(f"{config.quarantine_prefix}*")])
        if self.owned:  # the raw file is never kept: imported and quarantined files are deleted
            allow(["s3:DeleteObjectVersion"], [self.bucket.arn_for_objects(r) for r in readable])
        if config.bucket_kms_key_arn:
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [config.bucket_kms_key_arn])
        # the contacts of the configured instance; without one, of the files' instances in this account
        contacts = self._contacts(config.connect_instance_arn)
        allow(["connect:DescribeContact", "connect:GetContactAttributes"], [contacts])
        allow(
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            [self.queue.queue_arn],
        )
        reason = (
            "Objects are addressed by prefix: the transcript bucket's transcripts/<subject>/<call>, and the "
            "import bucket's configured import and quarantine prefixes; connect contacts are per instance."
        )
        findings = [objects_wildcard(data.transcripts, k.removesuffix("*")) for k in transcripts]
        for prefix in [*readable, f"{config.quarantine_prefix}*"]:
            findings.append(self._object_finding(prefix.removesuffix("*")))
        findings.append(f"AwsSolutions-IAM5[Resource::{self._nag_name(contacts)}]")
        acknowledge(fn.policy, reason, *findings)
        acknowledge(
            fn,
            "Invoked by the SQS event source mapping: failed messages return to the import queue and move to its "
            "DLQ after maxReceiveCount, so a function-level DLQ would never receive them.",
            "NIST.800.53.R5-LambdaDLQ",
            "HIPAA.Security-LambdaDLQ",
        )
        fn.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=5, report_batch_item_failures=True, max_concurrency=5)
        )
