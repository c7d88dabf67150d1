"""The compliance console, deployed: static files in a private S3 bucket behind CloudFront.

* S3: private (all public access blocked), SSE-S3 (the files are the console's code, nothing
  personal; CloudFront's origin access control reads SSE-S3 without a key grant), versioned, TLS
  only, server access logs. Only the distribution may read it (origin access control, OAC).
* CloudFront: HTTPS only (HTTP redirects), a response-headers policy with a strict CSP (``'self'``,
  the Cognito domain and the export bucket for ``connect-src``, no inline script or style), HSTS,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``nosniff``; standard logs into the
  access-log bucket; the CLOUDFRONT-scope web ACL named in the config (``console.web_acl_arn``:
  such web ACLs exist only in us-east-1, the stack stays in its EU region, see docs/console.md).
* ``/v1/*`` goes through the same distribution to the API (nothing cached, every viewer header but
  ``Host`` forwarded), so the console calls its API on its own origin: no CORS on the API.
* The files are copied by a BucketDeployment, with ``config.json`` (endpoints, the people client)
  written at deploy time; the people client's callback and logout URLs gain the console's.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct, IConstruct

from callguard.names import Scope, full_scope
from infra.config import ConsoleSettings
from infra.console_policy import CONSOLE_PATH, FIXED_HEADERS, HSTS_SECONDS, content_security_policy
from infra.constructs.api import PublicApi
from infra.constructs.identity import Identity
from infra.constructs.keys import ProjectKeys
from infra.constructs.secure_storage import LoggedBucket
from infra.nag import acknowledge, logical_id

__all__ = ["CONSOLE_DIR", "ComplianceConsole"]

CONSOLE_DIR = Path(__file__).resolve().parents[2] / "console"

#: CloudFront Function (viewer request): ``/`` and ``/console`` go to ``/console/``, a directory to its index
_INDEX_FUNCTION = """
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri === "/" || uri === "/console") {
    return { statusCode: 301, statusDescription: "Moved Permanently",
             headers: { location: { value: "/console/" } } };
  }
  if (uri.endsWith("/")) { request.uri = uri + "index.html"; }
  return request;
}
"""


class ComplianceConsole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ConsoleSettings,
        api: PublicApi,
        identity: Identity,
        exports: s3.Bucket,
        access_logs: s3.IBucket,
        keys: ProjectKeys,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if not settings.web_acl_arn:
            raise ValueError("the console needs console.web_acl_arn (a CLOUDFRONT-scope web ACL in us-east-1)")
        self.bucket = LoggedBucket(  # SSE-S3: the console's code, nothing personal (acknowledged below)
            self,
            "Files",
            access_logs=access_logs,
            log_prefix="console-files/",
            removal=removal,
            personal_data=False,
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            auto_delete_objects=False,
        )
        cognito_domain = f"{identity.domain.domain_name}.auth.{Aws.REGION}.amazoncognito.com"
        csp = content_security_policy(
            [f"https://{cognito_domain}", f"https://{exports.bucket_regional_domain_name}",
             f"https://{exports.bucket_domain_name}"]
        )  # fmt: skip
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="callguard console: strict CSP, HSTS, no framing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=csp, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_SECONDS),
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            ),
            custom_headers_behavior=cloudfront.ResponseCustomHeadersBehavior(
                custom_headers=[
                    cloudfront.ResponseCustomHeader(header=name, value=FIXED_HEADERS[name], override=True)
                    for name in ("Permissions-Policy", "Cache-Control")
                ]
            ),
        )
        index = cloudfront.Function(
            self,
            "IndexRewrite",
            code=cloudfront.FunctionCode.from_inline(_INDEX_FUNCTION),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="callguard console: /console/ to its index.html",
        )
        api_origin = origins.HttpOrigin(
            f"{api.rest_api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="callguard compliance console",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                response_headers_policy=self.headers,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=index, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                "/v1/*": cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=self.headers,
                )
            },
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            # with a custom domain and its us-east-1 certificate, viewers need TLS 1.2 (2021 ciphers);
            # CloudFront's default certificate fixes the policy at TLSv1 (acknowledged below)
            domain_names=[settings.domain_name] if settings.domain_name else None,
            certificate=(
                acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn)
                if settings.certificate_arn
                else None
            ),
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if settings.certificate_arn else None
            ),
            enable_logging=True,
            log_bucket=access_logs,
            log_file_prefix="cloudfront-console/",
            web_acl_id=settings.web_acl_arn,
        )
        host = settings.domain_name or self.distribution.distribution_domain_name
        self.url = f"https://{host}{CONSOLE_PATH}"
        callback = f"{self.url}callback.html"
        people = identity.people_client.node.default_child
        if not isinstance(people, cognito.CfnUserPoolClient):
            raise TypeError("the people client has no CfnUserPoolClient")
        people.add_property_override("CallbackURLs", [*identity.callback_urls, callback])
        people.add_property_override("LogoutURLs", [self.url])
        token_base = f"https://{cognito_domain}"
        config = {
            "api_base": "",
            "authorize_url": f"{token_base}/oauth2/authorize",
            "token_url": f"{token_base}/oauth2/token",
            "logout_url": f"{token_base}/logout",
            "client_id": identity.people_client.user_pool_client_id,
            "redirect_uri": callback,
            "logout_uri": self.url,
            "scopes": ["openid", full_scope(Scope.PRIVACY_MANAGE)],
        }
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            sources=[s3deploy.Source.asset(str(CONSOLE_DIR)), s3deploy.Source.json_data("config.json", config)],
            destination_bucket=self.bucket,
            destination_key_prefix=CONSOLE_PATH.strip("/"),
            distribution=self.distribution,
            distribution_paths=[f"{CONSOLE_PATH}*"],
            prune=True,
            memory_limit=256,
        )
        # the export download redirects to a presigned URL of the export bucket: the console reads it
        # with fetch, so the bucket lets browsers see GET answers (the signature is the access control)
        exports.add_cors_rule(allowed_methods=[s3.HttpMethods.GET], allowed_origins=["*"], max_age=300)
        self._acknowledge(custom_certificate=bool(settings.certificate_arn))
        # the provider's log group (CDK makes it) is encrypted with the audit key like every function's
        log_group = self._provider().node.find_child("LogGroup").node.default_child
        if not isinstance(log_group, logs.CfnLogGroup):
            raise TypeError("CDK's BucketDeployment provider has no log group of its own")
        log_group.add_property_override("KmsKeyId", keys.audit.key_arn)
        log_group.add_property_override("RetentionInDays", log_retention_days)

    def _provider(self) -> IConstruct:
        """The BucketDeployment's provider: a CDK-owned singleton at stack level."""
        return next(c for c in Stack.of(self).node.children if c.node.id.startswith("Custom::CDKBucketDeployment"))

    def _acknowledge(self, *, custom_certificate: bool) -> None:
        if not custom_certificate:
            acknowledge(
                self.distribution,
                "Without a custom domain CloudFront serves its default *.cloudfront.net certificate, whose "
                "viewer policy CloudFront fixes at TLSv1; browsers negotiate TLS 1.2/1.3. Setting "
                "console.domain_name and console.certificate_arn enforces TLSv1.2_2021 (docs/console.md).",
                "AwsSolutions-CFR4",
            )
        acknowledge(
            self.distribution,
            "Compliance staff sign in from wherever they work, with MFA; the API behind it has no geographic "
            "restriction either. The web ACL in front of the distribution filters abusive sources.",
            "AwsSolutions-CFR1",
        )
        # the BucketDeployment's provider: a CDK-owned singleton Lambda that runs only while CloudFormation
        # deploys (copying the console files), never on a request and never with personal data
        provider = next(c for c in Stack.of(self).node.children if c.node.id.startswith("Custom::CDKBucketDeployment"))
        acknowledge(
            provider,
            "CDK's BucketDeployment provider runs only during deployments (copying the console's static files "
            "and invalidating the distribution); it handles no personal data and no request traffic, so it "
            "needs no VPC, no reserved concurrency and no DLQ (CloudFormation reports its failures).",
            "HIPAA.Security-LambdaInsideVPC",
            "NIST.800.53.R5-LambdaInsideVPC",
            "HIPAA.Security-LambdaConcurrency",
            "NIST.800.53.R5-LambdaConcurrency",
            "HIPAA.Security-LambdaDLQ",
            "NIST.800.53.R5-LambdaDLQ",
            "AwsSolutions-L1",
        )
        acknowledge(
            provider,
            "CDK generates the BucketDeployment provider's role: the AWS managed basic-execution policy for its "
            "logs, and an inline policy scoped to the asset bucket, this console bucket and "
            "CreateInvalidation (whose resource CloudFront does not allow narrowing).",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            *(
                f"AwsSolutions-IAM5[Action::s3:{action}*]"
                for action in ("GetBucket", "GetObject", "List", "Abort", "DeleteObject")
            ),
            f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
            f"AwsSolutions-IAM5[Resource::arn:aws:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-{Stack.of(self).region}/*]",
            "AwsSolutions-IAM5[Resource::*]",
            "HIPAA.Security-IAMNoInlinePolicy",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        acknowledge(
            provider,
            "The provider's log group is encrypted with the audit key through a property override (KmsKeyId), "
            "which the rule, reading the construct's own props, does not see (the template has it).",
            "HIPAA.Security-CloudWatchLogGroupEncrypted",
            "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
        )
        acknowledge(
            self.bucket,
            "The bucket holds the console's static code only (no personal data); CloudFront's origin "
            "access control reads SSE-S3 objects without a KMS key policy for the CloudFront service.",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "HIPAA.Security-S3DefaultEncryptionKMS",
        )
        acknowledge(
            self.bucket,
            "Static console files are rebuilt from the repository on every deploy; replicating them to "
            "another region adds nothing (the distribution is global).",
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "HIPAA.Security-S3BucketReplicationEnabled",
        )
