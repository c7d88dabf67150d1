"""The GDPR request workflow: verify identity, then one branch per request type.

Fragments per phase: verification (a task-token wait with a timeout), the type
branches, and a shared ending (complete / reject / fail). Every task retries with
jittered exponential backoff and is caught into the failure fragment, which marks
the request ``failed`` with the error's name. The execution input carries only the
request id (and the verification timeout), so no identifier ever enters the history.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from callguard.names import PRIVACY_WORKFLOW_NAME
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge, logical_id

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


class PrivacyWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.IFunction],
        keys: ProjectKeys,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        request = {"request_id": sfn.JsonPath.string_at("$.request_id")}

        def task(
            step: str,
            payload: dict[str, object] | None = None,
            result_path: str | None = None,
            suffix: str = "",
            final_errors: tuple[str, ...] = (),
        ) -> tasks.LambdaInvoke:
            invoke = tasks.LambdaInvoke(
                self,
                step.replace("_", " ").title().replace(" ", "") + suffix,
                lambda_function=functions[step],
                payload=sfn.TaskInput.from_object(payload or request),
                payload_response_only=True,
                result_path=result_path or sfn.JsonPath.DISCARD,
                retry_on_service_exceptions=False,
            )
            invoke.add_retry(errors=THROTTLING, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2.0,
                             jitter_strategy=sfn.JitterType.FULL)  # fmt: skip
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

        # -- the shared ending -------------------------------------------------------
        failed = task(
            "mark_failed",
            {"request_id": sfn.JsonPath.string_at("$.request_id"), "error": sfn.JsonPath.object_at("$.error")},
        ).next(sfn.Fail(self, "Failed", error="PrivacyRequestFailed", cause="the request was marked failed"))

        def guarded(step: str, **kwargs: object) -> tasks.LambdaInvoke:
            t = task(step, **kwargs)  # type: ignore[arg-type]
            t.add_catch(failed, errors=["States.ALL"], result_path="$.error")
            return t

        def rejected(name: str, reason: str) -> sfn.IChainable:
            return guarded(
                "mark_rejected",
                payload={"request_id": sfn.JsonPath.string_at("$.request_id"), "reason": reason},
                suffix=name,
            ).next(sfn.Succeed(self, f"Rejected{name}"))

        def finish(name: str) -> Callable[[], sfn.IChainable]:
            return lambda: guarded("complete_request", suffix=name).next(sfn.Succeed(self, f"Completed{name}"))

        # -- phase 1: identity verification (task token) -----------------------------------
        def waiting(step: str, name: str, timeout_reason: str) -> tasks.LambdaInvoke:
            """A task-token wait; the step raises ``VerificationRecordedError``/``ApprovalRecordedError``
            (caught by name: go on at once) when what it waits for was recorded before it got here."""
            wait = tasks.LambdaInvoke(
                self,
                name,
                lambda_function=functions[step],
                integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
                # bracket notation: CDK checks a task-token payload for the token by parsing each path as an
                # intrinsic function, and its parser stops at "_" (cdk.out/error.txt: InvalidJsonPathExpression)
                payload=sfn.TaskInput.from_object(
                    {"request_id": sfn.JsonPath.string_at("$['request_id']"), "task_token": sfn.JsonPath.task_token}
                ),
                task_timeout=sfn.Timeout.at("$.verification_timeout_seconds"),
                result_path=sfn.JsonPath.DISCARD,
                retry_on_service_exceptions=False,
            )
            # a throttled invocation never ran the step, so retrying it issues no second token
            wait.add_retry(errors=THROTTLING, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2.0,
                           jitter_strategy=sfn.JitterType.FULL)  # fmt: skip
            wait.add_catch(rejected(name.removeprefix("Await"), timeout_reason), errors=["States.Timeout"],
                           result_path="$.error")  # fmt: skip
            return wait

        wait = waiting("await_verification", "AwaitVerification", "verification_timeout")
        route = guarded("route_request", result_path="$.route")
        wait.add_catch(route, errors=["VerificationRecordedError"], result_path=sfn.JsonPath.DISCARD)
        wait.add_catch(failed, errors=["States.ALL"], result_path="$.error")

        def approval(name: str, then: sfn.IChainable) -> sfn.IChainable:
            """Four-eyes before an irreversible or revealing step (a second compliance person)."""
            wait = waiting("await_approval", f"AwaitApproval{name}", "approval_timeout")
            wait.add_catch(then, errors=["ApprovalRecordedError"], result_path=sfn.JsonPath.DISCARD)
            wait.add_catch(failed, errors=["States.ALL"], result_path="$.error")
            return wait.next(then)

        # -- phase 2: one branch per type ---------------------------------------------------
        # pages of the export, one invocation each; only the page number passes between states
        collect = guarded(
            "collect_subject_data",
            payload={"request_id": sfn.JsonPath.string_at("$.request_id"),
                     "page": sfn.JsonPath.number_at("$.collect.next_page")},
            result_path="$.collect",
        )  # fmt: skip
        access = (
            sfn.Pass(self, "FirstPage", result=sfn.Result.from_object({"next_page": 0}), result_path="$.collect")
            .next(collect)
            .next(
                sfn.Choice(self, "MorePages?")
                .when(sfn.Condition.is_not_null("$.collect.next_page"), collect)
                .otherwise(guarded("assemble_export").next(approval("Access", finish("Access")())))
            )
        )
        hold_check = guarded("check_legal_hold", result_path="$.hold")
        erasure = hold_check.next(
            sfn.Choice(self, "LegalHold?")
            .when(sfn.Condition.boolean_equals("$.hold.held", True), rejected("Hold", "legal_hold"))
            .otherwise(
                approval(
                    "Erasure",
                    guarded("shred_subject_key")
                    .next(guarded("delete_subject_data"))
                    .next(guarded("verify_erasure"))
                    .next(finish("Erasure")()),
                )
            )
        )
        rectify = task("apply_rectification", final_errors=("IdentifierTakenError",))
        # an identifier of another subject is never moved: the request ends rejected, not failed
        rectify.add_catch(rejected("Rectification", "identifier_belongs_to_another_subject"),
                          errors=["IdentifierTakenError"], result_path="$.error")  # fmt: skip
        rectify.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        rectify.next(finish("Rectification")())
        by_type = (
            sfn.Choice(self, "RequestType")
            .when(sfn.Condition.string_equals("$.route.type", "access"), access)
            .when(sfn.Condition.string_equals("$.route.type", "portability"), access)
            .when(sfn.Condition.string_equals("$.route.type", "erasure"), erasure)
            .when(
                sfn.Condition.string_equals("$.route.type", "restriction"),
                guarded("apply_restriction").next(finish("Restriction")()),
            )
            .when(
                sfn.Condition.string_equals("$.route.type", "objection"),
                guarded("record_objection").next(finish("Objection")()),
            )
            .when(sfn.Condition.string_equals("$.route.type", "rectification"), rectify)
        )

        self.log_group = logs.LogGroup(self, "Logs", encryption_key=keys.audit, retention=log_retention)
        # Step Functions encrypts execution data with the execution role's permissions and the
        # machine's ARN as encryption context; CDK's generated KMS statements name that ARN, so
        # the machine needs its name at synthesis (without one the condition ends in ":stateMachine:").
        name = f"{Stack.of(self).stack_name}-{PRIVACY_WORKFLOW_NAME}"
        arn = f"arn:{Aws.PARTITION}:states:{Stack.of(self).region}:{Aws.ACCOUNT_ID}:stateMachine:{name}"
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(wait.next(route).next(by_type)),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(keys.data),
            timeout=Duration.days(90),
        )
        # The data key's own policy names the execution role too (for this machine's context only),
        # so the workflow keeps its key when the key policy stops delegating wholesale to IAM.
        keys.data.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StepFunctionsPrivacyWorkflowExecutionData",
                principals=[iam.ArnPrincipal(self.state_machine.role.role_arn)],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": arn}},
            )
        )
        acknowledge(
            self.state_machine.role,
            "Step Functions invokes each step function by ARN and its versions (ARN:*) and delivers logs and "
            "traces to services without resource-level permissions; CDK generates exactly these statements.",
            "AwsSolutions-IAM5[Resource::*]",
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "HIPAA.Security-IAMNoInlinePolicy",
            *(f"AwsSolutions-IAM5[Resource::<{logical_id(fn)}.Arn>:*]" for fn in functions.values()),
        )
