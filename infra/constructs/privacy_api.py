"""Privacy capability: the compliance API, the request workflow and its step functions."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from callguard.names import GSI_BY_DEADLINE, METRICS_NAMESPACE, ROUTES, SERVICE_NAME, Env
from infra.api_contract import request_model
from infra.constructs.data_access import LISTED_TENANTS_EXPORTS, acknowledge_subject_objects, allow_table_key
from infra.constructs.function import log_retention
from infra.constructs.operations import alarm_topic, runbook_alarm
from infra.constructs.platform import Platform
from infra.grants import PRIVACY_STEP_ROLES, Cond, apply_grants, conditions
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
    Env.EXPORTS_KEY_ID,
    Env.DEFAULT_PHONE_REGION,
    Env.FOUR_EYES,
)


class PrivacyApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        data, keys = platform.data, platform.keys
        reserved = platform.settings.privacy_step_reserved_concurrency
        steps = {
            step: platform.function(self, step.replace("_", " ").title().replace(" ", ""), name="privacy_steps",
                                    module=step, env=_STEP_ENV, memory_mb=1024, timeout_seconds=60,
                                    reserved_concurrency=reserved)
            for step in STEPS
        }  # fmt: skip
        for step, fn in steps.items():
            # each step holds exactly its row of the grants table (infra/grants.py)
            apply_grants(fn, PRIVACY_STEP_ROLES.get(step, f"privacy_steps.{step}"), platform)
            acknowledge_subject_objects(
                fn,
                data,
                "Exports and transcripts are keyed by subject under fixed prefixes; erasure must remove every "
                "object version under the subject's prefix, and the index statement covers the by-subject index.",
                tenants=platform.settings.multi_tenant,
            )
        self.workflow = PrivacyWorkflow(
            self,
            "Workflow",
            functions={name: fn.function for name, fn in steps.items()},
            keys=keys,
            log_retention=log_retention(platform.settings.log_retention_days),
            tenant_aware=platform.settings.multi_tenant,
        )
        machine = self.workflow.state_machine
        self.handler = platform.function(
            self,
            "Privacy",
            name="privacy",
            env=(Env.PRIVACY_TABLE, Env.SUBJECTS_TABLE, Env.AUDIT_TABLE, Env.DATA_KEY_ID, Env.HMAC_KEY_ID,
                 Env.RETENTION, Env.VERIFICATION_TIMEOUT_SECONDS, Env.EXPORTS_BUCKET, Env.DEFAULT_PHONE_REGION),
            extra_env={Env.PRIVACY_STATE_MACHINE.value: machine.state_machine_arn},
            snap_start=True,  # the compliance console's API: docs/benchmarks.md, SnapStart
        )  # fmt: skip
        api_fn = self.handler
        region = Stack.of(self).region
        api_fn.allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                     [data.privacy.table_arn])  # fmt: skip
        api_fn.allow(["dynamodb:BatchGetItem"], [data.subjects.table_arn])
        api_fn.allow(["dynamodb:Query"], [f"{data.privacy.table_arn}/index/{GSI_BY_DEADLINE}"])  # the request list
        api_fn.allow(["dynamodb:Query"], [data.privacy.table_arn])  # the holds in force (HOLDS#active)
        api_fn.allow(["dynamodb:Query", "dynamodb:PutItem"], [data.audit.table_arn])
        api_fn.allow(["kms:Encrypt", "kms:Decrypt"], [keys.data.key_arn], conditions(Cond.REQUEST_CONTEXT, region))
        api_fn.allow(["kms:GenerateMac"], [keys.subject_ids.key_arn])
        allow_table_key(api_fn, keys)  # the privacy, subjects and audit tables are encrypted with the data key
        api_fn.allow(["states:StartExecution"], [machine.state_machine_arn])
        api_fn.allow(["states:SendTaskSuccess"], [machine.state_machine_arn])
        # presigned downloads (with tenants listed, a listed tenant's too: tenants/<tenant>/exports/…)
        downloads = ("exports/", LISTED_TENANTS_EXPORTS) if platform.settings.multi_tenant else ("exports/",)
        api_fn.allow(["s3:GetObject"], [data.exports.arn_for_objects(f"{p}*") for p in downloads])
        api_fn.allow(["kms:Decrypt"], [keys.exports.key_arn], conditions(Cond.VIA_S3, region))
        acknowledge(
            api_fn.policy,
            "Presigned export downloads are signed by this role for objects under the exports/ prefix only "
            "(and a listed tenant's under tenants/<tenant>/exports/).",
            *(objects_wildcard(data.exports, p) for p in downloads),
        )
        self.methods = [
            platform.api.add_route(route, api_fn.invocable, body_model=request_model(route))
            for route in ROUTES
            if route.function == "privacy"
        ]


class DeadlineCheck(Construct):
    """A daily check of the one-month deadline (Art. 12(3)): metrics and alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        self.handler = platform.function(
            self, "Check", name="deadline_check", env=(Env.PRIVACY_TABLE,), synchronous=False, reserved_concurrency=1
        )
        self.handler.allow(["dynamodb:Scan"], [platform.data.privacy.table_arn])
        # requests filed before the request list existed get its two keys, nothing else
        self.handler.allow(
            ["dynamodb:UpdateItem"],
            [platform.data.privacy.table_arn],
            conditions={
                "ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "sk", "request_list", "deadline_at"]}
            },
        )
        allow_table_key(self.handler, platform.keys)  # the privacy table is encrypted with the data key
        self.dlq = platform.failure_queue(self, "Failures")
        self.handler.on_failure(self.dlq)
        events.Rule(
            self,
            "Daily",
            schedule=events.Schedule.cron(minute="0", hour="5"),  # 06:00/07:00 Europe/Berlin
            targets=[targets.LambdaFunction(self.handler.function, retry_attempts=2, dead_letter_queue=self.dlq)],
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
