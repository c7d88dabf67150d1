"""The data plane: tables, the sealed-transcript bucket and the analysis queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from callguard.names import (
    ATTR_IDEMPOTENCY_TTL,
    EXPIRY_INDEX_INCLUDES,
    GSI_BY_DEADLINE,
    GSI_BY_DUE,
    GSI_BY_EXPIRY,
    GSI_BY_SUBJECT,
    REQUEST_LIST_INCLUDES,
)
from callguard.retention.policy import DataCategory
from infra.config import Settings
from infra.constructs.keys import ProjectKeys
from infra.constructs.secure_storage import Index, LogBucket, N, S, SecureBucket, SecureQueue, SecureTable

__all__ = ["DataPlane"]

#: What the retention purge reads: ``<category>#<shard>`` → items by expiry instant (never a scan).
_EXPIRY_INDEX = Index(GSI_BY_EXPIRY, ("expiry_key", S), ("expires_at", N), include=EXPIRY_INDEX_INCLUDES)


class DataPlane(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, keys: ProjectKeys, settings: Settings, removal: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = LogBucket(self, "AccessLogs", expire_days=365, removal=removal)

        #: ``CALL#<id>``/``CALL``, ``/ANALYSIS`` (redacted), ``/FOLLOWUP``; ``DECISION#<id>`` routing decisions.
        # Every table holding personal data outside the subjects' sealed keys (redacted analyses,
        # identifier MACs, consent history, requests) keeps point-in-time recovery no longer than the
        # key table: an erasure is out of every backup within the crypto-shredding window, well
        # inside the one-month deadline (docs/runbooks.md: restore).
        shred_window = settings.keys_pitr_days
        self.calls = SecureTable(
            self,
            "Calls",
            key=keys.data,
            partition=("pk", S),
            sort=("sk", S),
            indexes=[
                Index(GSI_BY_SUBJECT, ("subject_id", S), ("created_at", S)),
                _EXPIRY_INDEX,
                Index(GSI_BY_DUE, ("followup_status", S), ("due_at", S)),
            ],
            pitr_days=shred_window,
            removal=removal,
        )
        #: Identifier links, subject profiles (objection/restriction) and consent history.
        self.subjects = SecureTable(
            self,
            "Subjects",
            key=keys.data,
            partition=("pk", S),
            sort=("sk", S),
            indexes=[_EXPIRY_INDEX],
            pitr_days=shred_window,
            removal=removal,
        )
        #: Wrapped per-subject data keys. A short PITR window bounds how long a shredded key
        #: survives in backups (see docs/runbooks and README: crypto-shredding).
        self.subject_keys = SecureTable(
            self,
            "SubjectKeys",
            key=keys.data,
            partition=("subject_id", S),
            pitr_days=settings.keys_pitr_days,
            removal=removal,
        )
        #: Powertools Idempotency records (response holds ids only).
        self.idempotency = SecureTable(
            self,
            "Idempotency",
            key=keys.data,
            partition=("id", S),
            ttl_attribute=ATTR_IDEMPOTENCY_TTL,
            pitr_days=shred_window,
            removal=removal,
        )
        #: Hash-chained audit entries: one partition per day, sequence numbers as sort key.
        self.audit = SecureTable(
            self,
            "Audit",
            key=keys.data,
            partition=("pk", S),
            sort=("sk", N),
            indexes=[_EXPIRY_INDEX],
            removal=removal,
        )
        #: Privacy requests (identifiers only as MACs), legal holds, erasure tombstones, export
        #: markers and purge reports.
        self.privacy = SecureTable(
            self,
            "Privacy",
            key=keys.data,
            partition=("pk", S),
            sort=("sk", S),
            indexes=[
                _EXPIRY_INDEX,
                # the compliance desk's request list, newest deadline first (GET /v1/privacy/requests)
                Index(GSI_BY_DEADLINE, ("request_list", S), ("deadline_at", S), include=REQUEST_LIST_INCLUDES),
            ],
            pitr_days=shred_window,
            removal=removal,
        )
        #: Access/portability exports: expired after 7 days (the exports retention category).
        self.exports = SecureBucket(
            self,
            "Exports",
            key=keys.exports,
            access_logs=self.access_logs,
            noncurrent_days=1,
            expire_days=settings.retention.days(DataCategory.EXPORTS),
            removal=removal,
        )
        self.transcripts = SecureBucket(
            self,
            "Transcripts",
            key=keys.data,
            access_logs=self.access_logs,
            noncurrent_days=7,
            removal=removal,
        )

        queue = settings.queue
        self.analysis_dlq = SecureQueue(
            self,
            "AnalysisDlq",
            key=keys.data,
            removal=removal,
            retention_period=Duration.days(queue.dlq_retention_days),
        )
        self.analysis_queue = SecureQueue(
            self,
            "AnalysisQueue",
            key=keys.data,
            removal=removal,
            visibility_timeout=Duration.seconds(queue.visibility_timeout_seconds),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=queue.max_receive_count, queue=self.analysis_dlq),
        )

    @property
    def tables(self) -> list[SecureTable]:
        return [self.calls, self.subjects, self.subject_keys, self.idempotency, self.audit, self.privacy]
