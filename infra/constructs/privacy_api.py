"""Privacy capability: the compliance API, the request workflow and its step functions."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from callguard.names import GSI_BY_DEADLINE, GSI_BY_SUBJECT, METRICS_NAMESPACE, ROUTES, SERVICE_NAME, Env
from infra.api_contract import request_model
from infra.constructs.data_access import allow_read_transcripts, allow_table_key, allow_unseal
from infra.constructs.function import _retention
from infra.constructs.operations import alarm_topic, runbook_alarm
from infra.constructs.platform import Platform
from infra.nag import acknowledge, objects_wildcard
from infra.workflows.privacy_workflow import STEPS, PrivacyWorkflow

__all__ = ["DeadlineCheck", "PrivacyApi"]

_STEP_ENV = (
    Env.CALLS_TABLE,
    Env.SUBJECTS_TABLE,
    Env.KEYS_TABLE,
    Env.IDEMPOTENCY_TABLE,
    Env.TRANSCRIPTS_BUCKET,
    Env.EXPORTS_BUCKET,
    Env.PRIVACY_TABLE,
    Env.DATA_KEY_ID,
    Env.HMAC_KEY_ID,
    Env.RETENTION,
    Env.EXPORT_PAGE_CALLS,
    Env.AUDIT_TABLE,
    Env.DEFAULT_PHONE_REGION,
    Env.FOUR_EYES,
)


class PrivacyApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        data, keys = platform.data, platform.keys
        steps = {
            step: platform.function(self, step.replace("_", " ").title().replace(" ", ""), name="privacy_steps",
                                    module=step, env=_STEP_ENV, memory_mb=1024, timeout_seconds=60)
            for step in STEPS
        }  # fmt: skip
        for fn in steps.values():
            # the deletion path reaches every store of a subject; each statement names its resource
            fn.allow(
                ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"],
                [data.calls.table_arn, f"{data.calls.table_arn}/index/{GSI_BY_SUBJECT}"],
            )
            fn.allow(
                ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
                 "dynamodb:BatchWriteItem", "dynamodb:DeleteItem"],
                [data.subjects.table_arn],
            )  # fmt: skip
            fn.allow(["dynamodb:DeleteItem"], [data.subject_keys.table_arn])
            fn.allow(["dynamodb:Query", "dynamodb:PutItem"], [data.audit.table_arn])  # outcomes in the audit chain
            fn.allow(["dynamodb:Scan", "dynamodb:BatchWriteItem"], [data.idempotency.table_arn])
            fn.allow(
                ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"],
                [data.privacy.table_arn],
            )
            fn.allow(["s3:ListBucketVersions"], [data.transcripts.bucket_arn, data.exports.bucket_arn])
            fn.allow(["s3:DeleteObject", "s3:DeleteObjectVersion"], [data.transcripts.arn_for_objects("transcripts/*")])
            fn.allow(  # pages of an export are written, read back, streamed into one object, removed
                [
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:AbortMultipartUpload",
                ],
                [data.exports.arn_for_objects("exports/*")],
            )
            fn.allow(["s3:ListBucket"], [data.exports.bucket_arn])
            fn.allow(["kms:GenerateDataKey", "kms:Decrypt"], [keys.data.key_arn])
            fn.allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
            allow_unseal(fn, data, keys)
            allow_read_transcripts(fn, data)
            acknowledge(
                fn.policy,
                "Exports and transcripts are keyed by subject under fixed prefixes; erasure must remove every "
                "object version under the subject's prefix, and the index statement covers the by-subject index.",
                objects_wildcard(data.exports, "exports/"),
            )
        # rectification checks that no new identifier belongs to another subject (its authenticated link)
        steps["apply_rectification"].allow(["dynamodb:BatchGetItem"], [data.subjects.table_arn])
        self.workflow = PrivacyWorkflow(
            self,
            "Workflow",
            functions={name: fn.function for name, fn in steps.items()},
            keys=keys,
            log_retention=_retention(platform.settings.log_retention_days),
        )
        machine = self.workflow.state_machine
        self.handler = platform.function(
            self,
            "Privacy",
            name="privacy",
            env=(Env.PRIVACY_TABLE, Env.SUBJECTS_TABLE, Env.AUDIT_TABLE, Env.DATA_KEY_ID, Env.HMAC_KEY_ID,
                 Env.RETENTION, Env.VERIFICATION_TIMEOUT_SECONDS, Env.EXPORTS_BUCKET, Env.DEFAULT_PHONE_REGION),
            extra_env={Env.PRIVACY_STATE_MACHINE.value: machine.state_machine_arn},
        )  # fmt: skip
        api_fn = self.handler
        api_fn.allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                     [data.privacy.table_arn])  # fmt: skip
        api_fn.allow(["dynamodb:BatchGetItem"], [data.subjects.table_arn])
        api_fn.allow(["dynamodb:Query"], [f"{data.privacy.table_arn}/index/{GSI_BY_DEADLINE}"])  # the request list
        api_fn.allow(["dynamodb:Query"], [data.privacy.table_arn])  # the holds in force (HOLDS#active)
        api_fn.allow(["dynamodb:Query", "dynamodb:PutItem"], [data.audit.table_arn])
        api_fn.allow(["kms:Encrypt", "kms:Decrypt"], [keys.data.key_arn])
        api_fn.allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
        api_fn.allow(["states:StartExecution"], [machine.state_machine_arn])
        api_fn.allow(["states:SendTaskSuccess"], [machine.state_machine_arn])
        api_fn.allow(["s3:GetObject"], [data.exports.arn_for_objects("exports/*")])  # presigned downloads
        acknowledge(
            api_fn.policy,
            "Presigned export downloads are signed by this role for objects under the exports/ prefix only.",
            objects_wildcard(data.exports, "exports/"),
        )
        self.methods = [
            platform.api.add_route(route, api_fn.function, body_model=request_model(route))
            for route in ROUTES
            if route.function == "privacy"
        ]


class DeadlineCheck(Construct):
    """A daily check of the one-month deadline (Art. 12(3)): metrics and alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        self.handler = platform.function(self, "Check", name="deadline_check", env=(Env.PRIVACY_TABLE,))
        self.handler.allow(["dynamodb:Scan"], [platform.data.privacy.table_arn])
        allow_table_key(self.handler, platform.keys)  # the privacy table is encrypted with the data key
        acknowledge(
            self.handler,
            "Invoked by the daily EventBridge schedule; a missed run is caught by the next day's run and by the "
            "missing-data alarm, so an asynchronous DLQ adds nothing.",
            "NIST.800.53.R5-LambdaDLQ",
            "HIPAA.Security-LambdaDLQ",
        )
        events.Rule(
            self,
            "Daily",
            schedule=events.Schedule.cron(minute="0", hour="5"),  # 06:00/07:00 Europe/Berlin
            targets=[targets.LambdaFunction(self.handler.function, retry_attempts=2)],
        )
        #: the compliance team subscribes to this topic (e-mail, chat integration, ticketing)
        self.topic = alarm_topic(self, "Alarms", key=platform.keys.audit, display_name="callguard privacy deadlines")
        for metric in ("PrivacyRequestsOverdue", "PrivacyRequestsDueSoon"):
            runbook_alarm(
                self,
                metric,
                metric=cw.Metric(
                    namespace=METRICS_NAMESPACE,
                    metric_name=metric,
                    dimensions_map={"service": f"{SERVICE_NAME}-deadline_check"},
                    statistic="Maximum",
                    period=Duration.days(1),
                ),
                missing=cw.TreatMissingData.BREACHING,
                description=f"{metric}: privacy requests at or past their one-month deadline (Art. 12(3)).",
                anchor="privacy-deadlines",
                topic=self.topic,
            )
