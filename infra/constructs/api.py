"""The public REST API: authorizer per route and scope, validation, logging, WAF.

Routes come from ``callguard.names.ROUTES``; each capability's construct attaches
its function with :meth:`PublicApi.add_route`. Every error API Gateway produces on
its own (auth, validation, throttling) has the contract's error shape.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import Aws, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct
from pydantic import BaseModel

from callguard.names import API_PREFIX, ROUTES, Route, full_scope
from infra.api_models import apigw_schema
from infra.config import Settings
from infra.constructs.identity import Identity
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge

__all__ = ["PublicApi"]

_GATEWAY_ERRORS: dict[apigw.ResponseType, tuple[str, str, str]] = {
    apigw.ResponseType.UNAUTHORIZED: ("401", "unauthorized", "A valid bearer token is required."),
    apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN: ("404", "not_found", "No such route."),
    apigw.ResponseType.ACCESS_DENIED: ("403", "forbidden", "The token does not grant the scope this route needs."),
    apigw.ResponseType.BAD_REQUEST_BODY: ("422", "validation_failed", "The request body does not match the schema."),
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: ("400", "invalid_request", "The request parameters are invalid."),
    apigw.ResponseType.REQUEST_TOO_LARGE: ("413", "payload_too_large", "The request body is larger than 256 KiB."),
    apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE: ("415", "unsupported_media_type", "Send application/json."),
    apigw.ResponseType.THROTTLED: ("429", "throttled", "Too many requests; retry with backoff."),
    apigw.ResponseType.QUOTA_EXCEEDED: ("429", "quota_exceeded", "The usage quota is exhausted."),
    apigw.ResponseType.WAF_FILTERED: ("403", "forbidden", "The request was blocked by the web application firewall."),
    apigw.ResponseType.DEFAULT_4_XX: ("400", "invalid_request", "The request could not be processed."),
    apigw.ResponseType.DEFAULT_5_XX: ("502", "upstream_error", "The request could not be completed; retry later."),
}


class PublicApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        identity: Identity,
        keys: ProjectKeys,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", encryption_key=keys.audit, retention=logs.RetentionDays.ONE_YEAR, removal_policy=removal
        )
        api = settings.api
        if f"/{api.stage_name}" != API_PREFIX:
            raise ValueError(f"the stage must be the contract's prefix {API_PREFIX}")
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name="callguard",
            description="callguard v1 — GDPR-first call-center backend",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=removal,
            deploy_options=apigw.StageOptions(
                stage_name=api.stage_name,
                throttling_rate_limit=api.throttle_rate_limit,
                throttling_burst_limit=api.throttle_burst_limit,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would log request bodies: personal data
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(
                        {
                            "requestId": "$context.requestId",
                            "time": "$context.requestTime",
                            "method": "$context.httpMethod",
                            "resource": "$context.resourcePath",
                            "status": "$context.status",
                            "latencyMs": "$context.responseLatency",
                            "clientId": "$context.authorizer.claims.client_id",
                            "sourceIp": "$context.identity.sourceIp",
                            "wafStatus": "$context.waf.status",
                            "error": "$context.error.responseType",
                        }
                    )
                ),
            ),
        )
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[identity.user_pool],
            identity_source="method.request.header.Authorization",
        )
        for response_type, (status, code, message) in _GATEWAY_ERRORS.items():
            self.rest_api.add_gateway_response(
                f"Gw{response_type.response_type}",
                type=response_type,
                status_code=status,
                response_headers={"Content-Type": "'application/json'"},
                templates={
                    "application/json": json.dumps(
                        {
                            "error": {"code": code, "message": message, "details": []},
                            "request_id": "$context.requestId",
                        }
                    )
                },
            )
        acknowledge(
            self.rest_api.node.find_child("CloudWatchRole"),
            "API Gateway's account-level logging role must carry AmazonAPIGatewayPushToCloudWatchLogs, the "
            "AWS-documented policy for that single purpose.",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
        )
        self.execution_logs = self._add_execution_logs(keys, removal, api.stage_name)
        self._add_health()
        self.web_acl = self._add_waf(keys, removal)
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        acknowledge(
            self.rest_api,
            "Lambda proxy integrations are invoked by API Gateway over IAM; a backend client certificate "
            "applies only to HTTP integrations.",
            "NIST.800.53.R5-APIGWSSLEnabled",
            "HIPAA.Security-APIGWSSLEnabled",
        )
        acknowledge(
            self.rest_api,
            "No response caching: every answer is specific to its caller and must not be served to another.",
            "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted",
            "HIPAA.Security-APIGWCacheEnabledAndEncrypted",
        )
        acknowledge(
            self.rest_api,
            "Every body is validated by its function against the same pydantic model the published request "
            "model is generated from (extra fields forbidden); API Gateway's own validation error could only "
            "pass on validationErrorString, which quotes the offending values (personal data).",
            "AwsSolutions-APIG2",
        )
        acknowledge(
            self.rest_api,
            "Execution logging is on at ERROR level; INFO would log request bodies, which hold personal data.",
            "AwsSolutions-APIG6",
        )

    def _add_execution_logs(self, keys: ProjectKeys, removal: RemovalPolicy, stage_name: str) -> logs.LogGroup:
        """The stage's execution log group, created before the stage: otherwise API Gateway creates it on
        first use, unencrypted and never expiring. The name is API Gateway's own (it includes the API id)."""
        group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{stage_name}",
            encryption_key=keys.audit,
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=removal,
        )
        self.rest_api.deployment_stage.node.add_dependency(group)
        return group

    def _resource(self, path: str) -> apigw.IResource:
        """The resource of a contract path. The stage is the version prefix (its invoke URL ends in
        ``/v1/``), so ``/v1/calls`` is the resource ``/calls``: never ``/v1/v1/calls``."""
        if not path.startswith(API_PREFIX + "/"):
            raise ValueError(f"route {path} is outside {API_PREFIX}")
        resource: apigw.IResource = self.rest_api.root
        for part in path.removeprefix(API_PREFIX).strip("/").split("/"):
            resource = resource.get_resource(part) or resource.add_resource(part)
        return resource

    def _add_health(self) -> None:
        route = next(r for r in ROUTES if r.scope is None and r.path.endswith("/health"))
        method = self._resource(route.path).add_method(
            route.method,
            apigw.MockIntegration(
                request_templates={"application/json": '{"statusCode": 200}'},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200", response_templates={"application/json": '{"status": "ok"}'}
                    )
                ],
            ),
            method_responses=[apigw.MethodResponse(status_code="200")],
            authorization_type=apigw.AuthorizationType.NONE,
        )
        acknowledge(
            method,
            "GET /v1/health is public by contract: a mock integration that returns a constant and touches no data.",
            "AwsSolutions-APIG4",
            "AwsSolutions-COG4",
        )

    def add_route(
        self, route: Route, function: lambda_.IFunction, body_model: type[BaseModel] | None = None
    ) -> apigw.Method:
        if route.scope is None:
            raise ValueError("only the health route is public")
        request_models = None
        if body_model is not None:
            model = self.rest_api.add_model(
                f"{body_model.__name__}Model",
                content_type="application/json",
                model_name=body_model.__name__,
                schema=apigw.JsonSchema(**_snake(apigw_schema(body_model))),
            )
            request_models = {"application/json": model}
        method = self._resource(route.path).add_method(
            route.method,
            apigw.LambdaIntegration(function, proxy=True, allow_test_invoke=False),
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.COGNITO,
            authorization_scopes=[full_scope(route.scope)],
            # The body's model is published with the method (the API's documentation and export), and
            # the function validates the body against the same pydantic model. API Gateway does not: its
            # validation error can only be passed on as `validationErrorString`, which quotes the
            # offending values (personal data); the function's 422 names the field and the rule only.
            request_models=request_models,
        )
        self.methods[(route.method, route.path)] = method
        return method

    def _add_waf(self, keys: ProjectKeys, removal: RemovalPolicy) -> wafv2.CfnWebACL:
        def managed(name: str, priority: int, overrides: list[str] | None = None) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in overrides or []
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(name),
            )

        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("callguard-api"),
            rules=[
                # Transcripts are long: the body-size rule (8 KB) only counts; the API itself
                # answers 413 above 256 KiB.
                managed("AWSManagedRulesCommonRuleSet", 10, overrides=["SizeRestrictions_BODY"]),
                managed("AWSManagedRulesKnownBadInputsRuleSet", 20),
                managed("AWSManagedRulesAmazonIpReputationList", 30),
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=40,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=3000
                        )
                    ),
                    visibility_config=_visibility("RateLimitPerIp"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.rest_api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn
        )
        waf_logs = logs.LogGroup(
            self,
            "WafLogs",
            # WAF needs the aws-waf-logs- prefix; the stack id's UUID keeps a retained group of an earlier
            # stack from blocking a re-created one ("already exists")
            log_group_name=f"aws-waf-logs-callguard-{Stack.of(self).stack_name}-"
            + Fn.select(2, Fn.split("/", Aws.STACK_ID)),
            encryption_key=keys.audit,
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=removal,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "WafLogging",
            resource_arn=acl.attr_arn,
            log_destination_configs=[waf_logs.log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": "authorization"})
            ],
        )
        return acl


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=False
    )


def _snake(schema: dict[str, Any]) -> dict[str, Any]:
    """Translate a JSON Schema dict into ``apigw.JsonSchema`` keyword arguments."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        name = "schema" if key == "$schema" else re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
        if key == "type":
            value = (
                apigw.JsonSchemaType[value.upper()]
                if isinstance(value, str)
                else [apigw.JsonSchemaType[v.upper()] for v in value]
            )
        elif key in {"properties", "patternProperties", "definitions"}:
            value = {k: apigw.JsonSchema(**_snake(v)) for k, v in value.items()}
        elif key in {"items", "additionalProperties", "not"} and isinstance(value, dict):
            value = apigw.JsonSchema(**_snake(value))
        elif key in {"anyOf", "allOf", "oneOf"}:
            value = [apigw.JsonSchema(**_snake(v)) for v in value]
        elif key == "$schema":
            value = apigw.JsonSchemaVersion.DRAFT4
        out[name] = value
    return out
