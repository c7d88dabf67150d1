"""``CallguardFunction``: a Lambda function with the project's secure defaults.

arm64, Python 3.14 (``LAMBDA_RUNTIME``, the newest Lambda Python runtime), active tracing, an
explicit memory size and timeout, its own KMS-encrypted log group with retention, a role with no
managed policies (only the grants each capability adds), Powertools settings, a layer with exactly
the third-party packages the function imports, and the domain layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from callguard.names import METRICS_NAMESPACE, SERVICE_NAME
from infra.constructs.lambda_packaging import (
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    common_layer_code,
    function_code,
    function_deps,
    function_deps_code,
)
from infra.nag import acknowledge

__all__ = ["LIVE_ALIAS", "CallguardFunction", "SharedLayers", "log_retention"]

#: the alias every caller of a SnapStart function invokes (a snapshot exists only for published versions)
LIVE_ALIAS = "live"


class SharedLayers(Construct):
    """The ``common`` domain layer, and one third-party layer per distinct set of distributions
    that functions import (``for_function``): a function ships only what it can import."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.common = lambda_.LayerVersion(
            self,
            "Common",
            code=common_layer_code(),
            compatible_architectures=[LAMBDA_ARCHITECTURE],
            compatible_runtimes=[LAMBDA_RUNTIME],
            description="callguard domain layer",
        )
        self._deps: dict[str, lambda_.LayerVersion] = {}

    def for_function(self, name: str, module: str = "handler") -> list[lambda_.ILayerVersion]:
        """The layers of ``functions/<name>/<module>.py``: its third-party packages, then the domain layer."""
        distributions = function_deps(name, module)
        if not distributions:
            return [self.common]
        digest, code = function_deps_code(distributions)
        if digest not in self._deps:
            self._deps[digest] = lambda_.LayerVersion(
                self,
                f"Deps{digest[:8]}",
                code=code,
                compatible_architectures=[LAMBDA_ARCHITECTURE],
                compatible_runtimes=[LAMBDA_RUNTIME],
                description="callguard third-party packages: " + ", ".join(sorted(distributions))[:200],
            )
        return [self._deps[digest], self.common]


class CallguardFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        layers: SharedLayers,
        log_key: kms.IKey,
        log_retention_days: int,
        environment: Mapping[str, str] | None = None,
        memory_mb: int = 512,
        timeout_seconds: int = 10,
        synchronous: bool = True,
        removal: RemovalPolicy = RemovalPolicy.RETAIN,
        module: str = "handler",
        reserved_concurrency: int | None = None,
        snap_start: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=log_key,
            retention=log_retention(log_retention_days),
            removal_policy=removal,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"callguard {name} function (least privilege, no AWS managed policies)",
        )
        #: Every permission of the function lives in this one customer-managed policy; the
        #: role is handed to Lambda as immutable so nothing lands in an inline policy.
        self.policy = iam.ManagedPolicy(
            self, "Policy", roles=[self.role], description=f"callguard {name}: exactly what the function calls"
        )
        self.function = lambda_.Function(
            self,
            "Function",
            code=function_code(name, module),
            handler=f"{module}.lambda_handler",
            runtime=LAMBDA_RUNTIME,
            architecture=LAMBDA_ARCHITECTURE,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            role=self.role.without_policy_updates(),
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            layers=layers.for_function(name, module),
            environment={
                "POWERTOOLS_SERVICE_NAME": f"{SERVICE_NAME}-{name}" + ("" if module == "handler" else f"-{module}"),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "POWERTOOLS_LOGGER_LOG_EVENT": "false",
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
                **(environment or {}),
            },
            description=f"callguard {name}" + ("" if module == "handler" else f" {module}"),
            reserved_concurrent_executions=reserved_concurrency,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
        )
        #: what callers invoke (API Gateway's integrations and their invoke permissions): the function, or
        #: with SnapStart the alias ``live`` of the version this deployment published. SnapStart applies only
        #: to published versions; ``$LATEST`` would initialise from scratch on every cold start.
        self.invocable: lambda_.IFunction = self.function
        self.alias: lambda_.Alias | None = None
        if snap_start:
            # ``current_version``'s logical id hashes the function's configuration and code, so every
            # deployment that changes either publishes a new version (and snapshot) and moves the alias
            self.alias = lambda_.Alias(
                self,
                "Live",
                alias_name=LIVE_ALIAS,
                version=self.function.current_version,
                description=f"callguard {name}: the published version with a SnapStart snapshot",
            )
            self.invocable = self.alias
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "The function's current_version is published and the alias `live` (what callers invoke) names it.",
            )
        self.allow(["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.log_group_arn])
        self.allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
        # Lambda checks the role at creation (active tracing needs xray:PutTraceSegments), and the
        # permissions live in the managed policy, not on the role: create the policy first.
        self.function.node.add_dependency(self.policy)
        acknowledge(
            self,
            "The functions reach only regional AWS endpoints over TLS with IAM authentication and hold no "
            "network-reachable resources; a VPC would add NAT/endpoint cost and cold-start latency without "
            "narrowing the data path.",
            "NIST.800.53.R5-LambdaInsideVPC",
            "HIPAA.Security-LambdaInsideVPC",
        )
        if reserved_concurrency is None:
            acknowledge(
                self,
                "Concurrency is bounded upstream by API Gateway stage throttling and the SQS event source's "
                "maximum concurrency; the privacy workflow and analysis functions reserve theirs (config).",
                "NIST.800.53.R5-LambdaConcurrency",
                "HIPAA.Security-LambdaConcurrency",
            )
        if synchronous:
            acknowledge(
                self,
                "Invoked synchronously (API Gateway or Cognito): the caller receives the error, so an "
                "asynchronous-invocation DLQ would never receive anything.",
                "NIST.800.53.R5-LambdaDLQ",
                "HIPAA.Security-LambdaDLQ",
            )
        acknowledge(
            self.policy,
            "X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.",
            "AwsSolutions-IAM5[Resource::*]",
        )

    def add_event_source(self, source: lambda_.IEventSource) -> None:
        """Attach ``source``; its event source mapping is created after the function's policy,
        which holds the permissions Lambda checks when it creates the mapping (e.g. sqs:ReceiveMessage)."""
        self.function.add_event_source(source)
        for child in self.function.node.children:
            if isinstance(child, lambda_.EventSourceMapping):
                child.node.add_dependency(self.policy)

    def on_failure(self, queue: sqs.IQueue) -> None:
        """Asynchronous invocations (schedules) that fail after Lambda's two retries land in ``queue``
        (the function's dead-letter config; Lambda sends with the function's role)."""
        cfn = self.function.node.default_child
        if not isinstance(cfn, lambda_.CfnFunction):
            raise TypeError("the function's default child is not a CfnFunction")
        cfn.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=queue.queue_arn)
        self.function.configure_async_invoke(retry_attempts=2, max_event_age=Duration.hours(1))
        self.allow(["sqs:SendMessage"], [queue.queue_arn])

    def allow(self, actions: list[str], resources: list[str], conditions: dict[str, Any] | None = None) -> None:
        """Add one statement (exact actions, exact resources) to the function's policy."""
        self.policy.add_statements(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions))


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS, 2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}  # fmt: skip


def log_retention(days: int) -> logs.RetentionDays:
    """CloudWatch's retention enum for ``days`` (config validates the allowed values)."""
    return _RETENTION[days]
