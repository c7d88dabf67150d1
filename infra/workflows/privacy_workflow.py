"""The GDPR request workflow: verify identity, then one branch per request type.

Fragments per phase: verification (a task-token wait with a timeout), the type
branches, and a shared ending (complete / reject / fail). Every task retries with
jittered exponential backoff and is caught into the failure fragment, which marks
the request ``failed`` with the error's name. The execution input carries only the
request id (and the verification timeout; with tenants listed, the request's tenant id), so no
identifier ever enters the history.

:class:`_Tasks` makes the states (a step's task with its retries and catches, the ending
fragments, the task-token waits); :class:`PrivacyWorkflow` puts the phases together from it.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from callguard.names import PRIVACY_WORKFLOW_NAME
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge_step_invocations

__all__ = ["STEPS", "THROTTLING", "PrivacyWorkflow"]

#: Lambda's throttling and transient service errors: every task retries these (before States.ALL)
THROTTLING = [
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
]

#: one handler file per step in functions/privacy_steps/
STEPS = (
    "await_verification",
    "await_approval",
    "route_request",
    "collect_subject_data",
    "assemble_export",
    "check_legal_hold",
    "shred_subject_key",
    "delete_subject_data",
    "verify_erasure",
    "apply_restriction",
    "record_objection",
    "apply_rectification",
    "complete_request",
    "mark_rejected",
    "mark_failed",
)

#: the request id, the only input a step gets (besides a page number, a reason or an error)
REQUEST = {"request_id": sfn.JsonPath.string_at("$.request_id")}
#: the task-token payload; bracket notation: CDK checks a task-token payload for the token by parsing
#: each path as an intrinsic function, and its parser stops at "_" (cdk.out/error.txt: InvalidJsonPathExpression)
WAIT_PAYLOAD = {"request_id": sfn.JsonPath.string_at("$['request_id']"), "task_token": sfn.JsonPath.task_token}


def _state_id(step: str, suffix: str = "") -> str:
    """``collect_subject_data`` → ``CollectSubjectData`` (+ suffix where a step appears more than once)."""
    return step.replace("_", " ").title().replace(" ", "") + suffix


def _retry_throttling(task: tasks.LambdaInvoke) -> None:
    task.add_retry(errors=THROTTLING, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2.0,
                   jitter_strategy=sfn.JitterType.FULL)  # fmt: skip


class _Tasks:
    """The states of the workflow, made in ``scope`` from the step functions."""

    def __init__(self, scope: Construct, functions: dict[str, lambda_.IFunction], tenant_aware: bool = False) -> None:
        self.scope = scope
        self.functions = functions
        #: with tenants listed, the execution input names the request's tenant (the privacy API writes it
        #: from the filer's token) and every step gets it, so its keys and pseudonyms are that tenant's
        self.tenant: dict[str, object] = {"tenant": sfn.JsonPath.string_at("$['tenant']")} if tenant_aware else {}
        # the shared ending every guarded task is caught into
        self.failed = self.task(
            "mark_failed",
            {"request_id": sfn.JsonPath.string_at("$.request_id"), "error": sfn.JsonPath.object_at("$.error")},
        ).next(sfn.Fail(scope, "Failed", error="PrivacyRequestFailed", cause="the request was marked failed"))

    def task(
        self,
        step: str,
        payload: dict[str, object] | None = None,
        result_path: str | None = None,
        suffix: str = "",
        final_errors: tuple[str, ...] = (),
    ) -> tasks.LambdaInvoke:
        """One step's invocation with its retries: throttling, then (unless the data decided) anything."""
        invoke = tasks.LambdaInvoke(
            self.scope,
            _state_id(step, suffix),
            lambda_function=self.functions[step],
            payload=sfn.TaskInput.from_object({**(payload or REQUEST), **self.tenant}),
            payload_response_only=True,
            result_path=result_path or sfn.JsonPath.DISCARD,
            retry_on_service_exceptions=False,
        )
        _retry_throttling(invoke)
        if final_errors:  # decided by the data, not transient: no retry
            invoke.add_retry(errors=list(final_errors), max_attempts=0)
        invoke.add_retry(
            errors=["States.ALL"],
            interval=Duration.seconds(2),
            max_attempts=3,
            backoff_rate=2.0,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return invoke

    def guarded(
        self,
        step: str,
        payload: dict[str, object] | None = None,
        result_path: str | None = None,
        suffix: str = "",
    ) -> tasks.LambdaInvoke:
        """A task whose failure (after its retries) marks the request failed."""
        invoke = self.task(step, payload, result_path, suffix)
        invoke.add_catch(self.failed, errors=["States.ALL"], result_path="$.error")
        return invoke

    def rejected(self, name: str, reason: str) -> sfn.IChainable:
        """Mark the request rejected for ``reason``, then end."""
        payload: dict[str, object] = {"request_id": sfn.JsonPath.string_at("$.request_id"), "reason": reason}
        return self.guarded("mark_rejected", payload, suffix=name).next(sfn.Succeed(self.scope, f"Rejected{name}"))

    def finish(self, name: str) -> sfn.IChainable:
        """Complete the request, then end."""
        return self.guarded("complete_request", suffix=name).next(sfn.Succeed(self.scope, f"Completed{name}"))

    def waiting(self, step: str, name: str, timeout_reason: str) -> tasks.LambdaInvoke:
        """A task-token wait; the step raises ``VerificationRecordedError``/``ApprovalRecordedError``
        (caught by name: go on at once) when what it waits for was recorded before it got here."""
        wait = tasks.LambdaInvoke(
            self.scope,
            name,
            lambda_function=self.functions[step],
            integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
            payload=sfn.TaskInput.from_object({**WAIT_PAYLOAD, **self.tenant}),
            task_timeout=sfn.Timeout.at("$.verification_timeout_seconds"),
            result_path=sfn.JsonPath.DISCARD,
            retry_on_service_exceptions=False,
        )
        _retry_throttling(wait)  # a throttled invocation never ran the step, so a retry issues no second token
        wait.add_catch(self.rejected(name.removeprefix("Await"), timeout_reason), errors=["States.Timeout"],
                       result_path="$.error")  # fmt: skip
        return wait

    def approval(self, name: str, then: sfn.IChainable) -> sfn.IChainable:
        """Four-eyes before an irreversible or revealing step (a second compliance person)."""
        wait = self.waiting("await_approval", f"AwaitApproval{name}", "approval_timeout")
        wait.add_catch(then, errors=["ApprovalRecordedError"], result_path=sfn.JsonPath.DISCARD)
        wait.add_catch(self.failed, errors=["States.ALL"], result_path="$.error")
        return wait.next(then)


class PrivacyWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.IFunction],
        keys: ProjectKeys,
        log_retention: logs.RetentionDays,
        tenant_aware: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        states = _Tasks(self, functions, tenant_aware)
        verification, route = self._verification(states)
        by_type = self._by_type(states)
        self.log_group = logs.LogGroup(self, "Logs", encryption_key=keys.audit, retention=log_retention)
        self.state_machine = self._state_machine(verification.next(route).next(by_type), keys)
        self._keep_execution_key(keys)
        acknowledge_step_invocations(self.state_machine.role, functions.values())

    # -- phase 1: identity verification (task token) ------------------------------------------
    @staticmethod
    def _verification(states: _Tasks) -> tuple[tasks.LambdaInvoke, tasks.LambdaInvoke]:
        wait = states.waiting("await_verification", "AwaitVerification", "verification_timeout")
        route = states.guarded("route_request", result_path="$.route")
        wait.add_catch(route, errors=["VerificationRecordedError"], result_path=sfn.JsonPath.DISCARD)
        wait.add_catch(states.failed, errors=["States.ALL"], result_path="$.error")
        return wait, route

    # -- phase 2: one branch per type ---------------------------------------------------------
    def _access(self, states: _Tasks) -> sfn.IChainable:
        """Pages of the export, one invocation each (only the page number passes between states),
        then the export is assembled and released after the approval."""
        page: dict[str, object] = {
            "request_id": sfn.JsonPath.string_at("$.request_id"),
            "page": sfn.JsonPath.number_at("$.collect.next_page"),
        }
        collect = states.guarded("collect_subject_data", page, result_path="$.collect")
        return (
            sfn.Pass(self, "FirstPage", result=sfn.Result.from_object({"next_page": 0}), result_path="$.collect")
            .next(collect)
            .next(
                sfn.Choice(self, "MorePages?")
                .when(sfn.Condition.is_not_null("$.collect.next_page"), collect)
                .otherwise(states.guarded("assemble_export").next(states.approval("Access", states.finish("Access"))))
            )
        )

    def _erasure(self, states: _Tasks) -> sfn.IChainable:
        """A legal hold rejects it; otherwise, after the approval: shred, delete, verify."""
        hold_check = states.guarded("check_legal_hold", result_path="$.hold")
        held = sfn.Choice(self, "LegalHold?")
        held.when(sfn.Condition.boolean_equals("$.hold.held", True), states.rejected("Hold", "legal_hold"))
        erase = (
            states.guarded("shred_subject_key")
            .next(states.guarded("delete_subject_data"))
            .next(states.guarded("verify_erasure"))
            .next(states.finish("Erasure"))
        )
        return hold_check.next(held.otherwise(states.approval("Erasure", erase)))

    @staticmethod
    def _rectification(states: _Tasks) -> sfn.IChainable:
        """An identifier of another subject is never moved: the request ends rejected, not failed."""
        rectify = states.task("apply_rectification", final_errors=("IdentifierTakenError",))
        rectify.add_catch(states.rejected("Rectification", "identifier_belongs_to_another_subject"),
                          errors=["IdentifierTakenError"], result_path="$.error")  # fmt: skip
        rectify.add_catch(states.failed, errors=["States.ALL"], result_path="$.error")
        rectify.next(states.finish("Rectification"))
        return rectify

    def _by_type(self, states: _Tasks) -> sfn.Choice:
        """The table of request types and their branches (the states are made in this order, which
        is the order of the synthesized definition)."""
        access, erasure, rectification = self._access(states), self._erasure(states), self._rectification(states)
        choice = sfn.Choice(self, "RequestType")
        branches: dict[str, sfn.IChainable] = {
            "access": access,
            "portability": access,
            "erasure": erasure,
            "restriction": states.guarded("apply_restriction").next(states.finish("Restriction")),
            "objection": states.guarded("record_objection").next(states.finish("Objection")),
            "rectification": rectification,
        }
        for request_type, branch in branches.items():
            choice.when(sfn.Condition.string_equals("$.route.type", request_type), branch)
        return choice

    # -- the machine ----------------------------------------------------------------------------
    def _name(self) -> str:
        return f"{Stack.of(self).stack_name}-{PRIVACY_WORKFLOW_NAME}"

    def _state_machine(self, definition: sfn.IChainable, keys: ProjectKeys) -> sfn.StateMachine:
        # Step Functions encrypts execution data with the execution role's permissions and the
        # machine's ARN as encryption context; CDK's generated KMS statements name that ARN, so
        # the machine needs its name at synthesis (without one the condition ends in ":stateMachine:").
        return sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self._name(),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(keys.data),
            timeout=Duration.days(90),
        )

    def _keep_execution_key(self, keys: ProjectKeys) -> None:
        """The data key's own policy names the execution role too (for this machine's context only),
        so the workflow keeps its key when the key policy stops delegating wholesale to IAM."""
        arn = f"arn:{Aws.PARTITION}:states:{Stack.of(self).region}:{Aws.ACCOUNT_ID}:stateMachine:{self._name()}"
        keys.data.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StepFunctionsPrivacyWorkflowExecutionData",
                principals=[iam.ArnPrincipal(self.state_machine.role.role_arn)],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": arn}},
            )
        )
