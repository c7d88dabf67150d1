"""The compliance console behind CloudFront: origin access control, HTTPS only, security headers with a
strict CSP, logging, the CLOUDFRONT web ACL from the config, and the people client's console URLs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError, load_settings
from local.permissions import TemplateModel, service_principal_violations, service_principals_checked
from tests.conftest import TEST_WEB_ACL_ARN, Synth

pytestmark = pytest.mark.infra


def _one(synth: Synth, type_: str) -> tuple[str, dict[str, Any]]:
    ((logical, resource),) = synth.resources(type_).items()
    return logical, resource["Properties"]


@pytest.fixture(scope="module")
def distribution(console_synth: Synth) -> dict[str, Any]:
    config: dict[str, Any] = _one(console_synth, "AWS::CloudFront::Distribution")[1]["DistributionConfig"]
    return config


def _bucket_of(origin: dict[str, Any]) -> str:
    return str(origin["DomainName"]["Fn::GetAtt"][0])


def test_the_files_are_read_only_through_origin_access_control(
    console_synth: Synth, distribution: dict[str, Any]
) -> None:
    oac_id, oac = _one(console_synth, "AWS::CloudFront::OriginAccessControl")
    config = oac["OriginAccessControlConfig"]
    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always"
    assert config["SigningProtocol"] == "sigv4"
    (s3_origin,) = [o for o in distribution["Origins"] if "S3OriginConfig" in o]
    assert s3_origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert s3_origin["S3OriginConfig"].get("OriginAccessIdentity", "") == ""  # no legacy OAI
    bucket = console_synth.template["Resources"][_bucket_of(s3_origin)]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }  # fmt: skip
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert "DestinationBucketName" in bucket["LoggingConfiguration"]
    # the bucket policy lets only CloudFront, for this distribution, read; and refuses plain HTTP
    policy = next(
        p["Properties"]["PolicyDocument"]
        for p in console_synth.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": _bucket_of(s3_origin)}
    )
    reads = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert reads
    for statement in reads:
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert "AWS:SourceArn" in json.dumps(statement["Condition"])
        assert "distribution/" in json.dumps(statement["Condition"])
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy["Statement"])


def test_viewers_use_https_only(distribution: dict[str, Any]) -> None:
    behaviors = [distribution["DefaultCacheBehavior"], *distribution.get("CacheBehaviors", [])]
    assert {b["ViewerProtocolPolicy"] for b in behaviors} <= {"redirect-to-https", "https-only"}
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    (api,) = [o for o in distribution["Origins"] if "CustomOriginConfig" in o]
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert api["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_every_answer_carries_the_security_headers_and_a_strict_csp(
    console_synth: Synth, distribution: dict[str, Any]
) -> None:
    policy_id, policy = _one(console_synth, "AWS::CloudFront::ResponseHeadersPolicy")
    behaviors = [distribution["DefaultCacheBehavior"], *distribution.get("CacheBehaviors", [])]
    assert all(b["ResponseHeadersPolicyId"] == {"Ref": policy_id} for b in behaviors)
    security = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert security["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}
    assert security["ContentTypeOptions"] == {"Override": True}
    hsts = security["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert hsts["IncludeSubdomains"] is True
    assert hsts["Override"] is True
    assert security["ContentSecurityPolicy"]["Override"] is True
    # the policy is a Fn::Join (the Cognito domain and export bucket are deploy-time names): read its text
    text = json.dumps(security["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert "default-src 'self'" in text
    assert "script-src 'self'" in text
    assert "object-src 'none'" in text
    assert "frame-ancestors 'none'" in text
    assert "base-uri 'none'" in text
    assert "unsafe-inline" not in text
    assert "unsafe-eval" not in text
    assert "connect-src 'self' https://" in text
    assert "amazoncognito.com" in text  # the token exchange with the hosted UI's domain
    assert "*" not in text.replace("Fn::", "")  # no wildcard source anywhere
    custom = {h["Header"]: h["Value"] for h in policy["ResponseHeadersPolicyConfig"]["CustomHeadersConfig"]["Items"]}
    assert custom["Cache-Control"] == "no-store"
    assert "camera=()" in custom["Permissions-Policy"]


def test_the_distribution_logs_and_sits_behind_the_configured_web_acl(distribution: dict[str, Any]) -> None:
    assert distribution["Logging"]["Bucket"]
    assert distribution["Logging"]["Prefix"]
    assert distribution["WebACLId"] == TEST_WEB_ACL_ARN
    assert distribution["Enabled"] is True


def test_the_api_path_is_never_cached_and_gets_every_viewer_header_but_host(distribution: dict[str, Any]) -> None:
    (api,) = [b for b in distribution["CacheBehaviors"] if b["PathPattern"] == "/v1/*"]
    assert api["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
    assert api["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
    assert "DELETE" in api["AllowedMethods"]


def test_the_people_client_may_return_to_the_console_and_the_files_are_deployed(console_synth: Synth) -> None:
    people = next(
        c["Properties"]
        for c in console_synth.resources("AWS::Cognito::UserPoolClient").values()
        if "code" in c["Properties"].get("AllowedOAuthFlows", [])
    )
    dist_id, _ = _one(console_synth, "AWS::CloudFront::Distribution")
    callbacks = json.dumps(people["CallbackURLs"])
    assert dist_id in callbacks
    assert "/console/callback.html" in callbacks
    assert dist_id in json.dumps(people["LogoutURLs"])
    (deployment,) = console_synth.resources("Custom::CDKBucketDeployment").values()
    assert deployment["Properties"]["DestinationBucketKeyPrefix"] == "console"
    assert deployment["Properties"]["DistributionPaths"] == ["/console/*"]


def test_the_export_bucket_lets_the_console_read_presigned_downloads(console_synth: Synth) -> None:
    exports = next(
        b["Properties"] for k, b in console_synth.resources("AWS::S3::Bucket").items() if k.startswith("DataExports")
    )
    (rule,) = exports["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["GET"]
    assert "AllowedHeaders" not in rule  # no Authorization or other custom header: the signature is in the URL


def test_the_console_needs_a_cloudfront_web_acl_from_us_east_1() -> None:
    assert load_settings({}).console.enabled is False  # no web ACL named: no distribution at all
    assert load_settings({"callguard": {"console": {"web_acl_arn": TEST_WEB_ACL_ARN}}}).console.enabled
    regional = TEST_WEB_ACL_ARN.replace("us-east-1", "eu-central-1").replace(":global/", ":regional/")
    with pytest.raises(ConfigError):
        load_settings({"callguard": {"console": {"web_acl_arn": regional}}})
    with pytest.raises(ConfigError, match="go together"):
        load_settings(
            {"callguard": {"console": {"web_acl_arn": TEST_WEB_ACL_ARN, "domain_name": "console.example.de"}}}
        )


def test_cloudfront_may_read_the_files_and_every_service_of_the_console_template_can_act(console_synth: Synth) -> None:
    """The permission proof on the template with the console: CloudFront reads through the bucket
    policy (OAC, this distribution only), and no service of the template would be denied."""
    model = TemplateModel.from_template(console_synth.template)
    assert service_principal_violations(model) == []
    assert "cloudfront.amazonaws.com" in service_principals_checked(model)
