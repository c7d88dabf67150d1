"""Tenant offboarding: its step functions (a role each, exactly its row of ``infra/grants.py``) and the
Standard state machine an operator starts with ``{"tenant": "<id>"}`` (``callguard tenants offboard``).

Start → shred the subject keys (loop while ``more``) → delete items and object versions (loop) →
verify (loop) → certificate. Every task retries Lambda's throttling, then anything else with jittered
backoff, except the errors the data decides (a tenant that cannot be offboarded, data left after
deletion), which end the execution at once under their own names; the run journal keeps the progress,
so the next execution resumes where this one stopped (``callguard.privacy.offboarding``).

Only a deployment that lists tenants has it: the default tenant is never offboarded by this workflow.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from callguard.names import OFFBOARDING_WORKFLOW_NAME, Env
from infra.constructs.function import CallguardFunction, log_retention
from infra.constructs.platform import Platform
from infra.grants import OFFBOARDING_ROLES, apply_grants
from infra.nag import acknowledge, acknowledge_step_invocations, objects_wildcard
from infra.workflows.privacy_workflow import THROTTLING

__all__ = ["FINAL_ERRORS", "OFFBOARDING_STEPS", "TenantOffboarding"]

#: one handler file per step in functions/offboarding/, in the order the machine runs them
OFFBOARDING_STEPS = tuple(OFFBOARDING_ROLES)
#: decided by the data, not transient: never retried
FINAL_ERRORS = ("TenantNotOffboardableError", "TenantDataRemainsError")

_ENV = (
    Env.KEYS_TABLE,
    Env.CALLS_TABLE,
    Env.SUBJECTS_TABLE,
    Env.IDEMPOTENCY_TABLE,
    Env.PRIVACY_TABLE,
    Env.AUDIT_TABLE,
    Env.TRANSCRIPTS_BUCKET,
    Env.EXPORTS_BUCKET,
    Env.RETENTION,
)


def _state_id(step: str) -> str:
    return step.replace("_", " ").title().replace(" ", "")


class TenantOffboarding(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        settings, data = platform.settings, platform.data
        self.functions: dict[str, CallguardFunction] = {}
        for step in OFFBOARDING_STEPS:
            fn = platform.function(
                self,
                f"Step{_state_id(step)}",
                name="offboarding",
                module=step,
                env=_ENV,
                # which tenants the deployment lists (the step refuses any other, and the default tenant)
                extra_env={
                    Env.OFFBOARDABLE_TENANTS.value: json.dumps(
                        sorted(t.id for t in settings.tenants if t.id != "default")
                    )
                },
                memory_mb=512,
                timeout_seconds=300,
                reserved_concurrency=2,
            )
            apply_grants(fn, OFFBOARDING_ROLES[step], platform)
            self.functions[step] = fn
        for step in ("delete_tenant_data",):
            acknowledge(
                self.functions[step].policy,
                "Offboarding deletes every object version under the listed tenants' prefix (tenants/<id>/); "
                "the tenant is the execution's input, checked against the deployment's list by the step.",
                objects_wildcard(data.transcripts, "tenants/"),
                objects_wildcard(data.exports, "tenants/"),
            )
        self.log_group = logs.LogGroup(
            self, "Logs", encryption_key=platform.keys.audit, retention=log_retention(settings.log_retention_days)
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self._name(),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(platform.keys.data),
            timeout=Duration.days(7),
        )
        arn = f"arn:{Aws.PARTITION}:states:{Stack.of(self).region}:{Aws.ACCOUNT_ID}:stateMachine:{self._name()}"
        platform.keys.data.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StepFunctionsTenantOffboardingExecutionData",
                principals=[iam.ArnPrincipal(self.state_machine.role.role_arn)],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": arn}},
            )
        )
        acknowledge_step_invocations(self.state_machine.role, (fn.function for fn in self.functions.values()))

    def _name(self) -> str:
        return f"{Stack.of(self).stack_name}-{OFFBOARDING_WORKFLOW_NAME}"

    def _task(self, step: str, result_path: str | None) -> tasks.LambdaInvoke:
        invoke = tasks.LambdaInvoke(
            self,
            _state_id(step),
            lambda_function=self.functions[step].function,
            payload=sfn.TaskInput.from_object({"tenant": sfn.JsonPath.string_at("$.tenant")}),
            payload_response_only=True,
            result_path=result_path,
            retry_on_service_exceptions=False,
        )
        invoke.add_retry(errors=THROTTLING, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2.0,
                         jitter_strategy=sfn.JitterType.FULL)  # fmt: skip
        invoke.add_retry(errors=list(FINAL_ERRORS), max_attempts=0)
        invoke.add_retry(errors=["States.ALL"], interval=Duration.seconds(2), max_attempts=3, backoff_rate=2.0,
                         jitter_strategy=sfn.JitterType.FULL)  # fmt: skip
        return invoke

    def _loop(self, step: str, then: sfn.IChainable) -> sfn.IChainable:
        """``step`` again while it answers ``more`` (its progress at ``$.progress``), then ``then``."""
        task = self._task(step, "$.progress")
        again = sfn.Choice(self, f"More{_state_id(step)}?")
        again.when(sfn.Condition.boolean_equals("$.progress.more", True), task)
        return task.next(again.otherwise(then))

    def _definition(self) -> sfn.IChainable:
        certify = self._task("issue_offboarding_certificate", "$.certificate").next(
            sfn.Succeed(self, "Offboarded", output_path="$.certificate")
        )
        verify = self._loop("verify_tenant_gone", certify)
        delete = self._loop("delete_tenant_data", verify)
        shred = self._loop("shred_tenant_keys", delete)
        return self._task("start_offboarding", "$.progress").next(shred)
