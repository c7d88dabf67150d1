"""Infra tier: assertions on the template `cdk synth` wrote (synthesized once per session)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from callguard.names import ROUTES, Scope, full_scope
from local.gateway import public_paths
from tests.conftest import Synth, is_cdk_provider

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def template(synth: Synth) -> Template:
    return Template.from_json(synth.template)


def _ref_id(value: Any) -> str:
    """Logical id behind ``{"Fn::GetAtt": [id, ...]}`` or ``{"Ref": id}``."""
    if "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value["Ref"])


def _key_ids(synth: Synth) -> dict[str, str]:
    keys = synth.resources("AWS::KMS::Key")
    by_alias = {}
    for alias in synth.resources("AWS::KMS::Alias").values():
        by_alias[alias["Properties"]["AliasName"]] = _ref_id(alias["Properties"]["TargetKeyId"])
    assert set(by_alias.values()) <= set(keys)
    return by_alias


def test_stack_is_pinned_to_an_eu_region(synth: Synth) -> None:
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    environment = manifest["artifacts"]["Callguard"]["environment"]
    assert environment.endswith("/eu-central-1")


def test_keys_rotate_and_the_hmac_key_exists(synth: Synth) -> None:
    aliases = _key_ids(synth)
    keys = synth.resources("AWS::KMS::Key")
    data = keys[aliases["alias/callguard/data"]]["Properties"]
    audit = keys[aliases["alias/callguard/audit"]]["Properties"]
    hmac = keys[aliases["alias/callguard/subject-ids"]]["Properties"]
    assert data["EnableKeyRotation"] is True
    assert audit["EnableKeyRotation"] is True
    assert hmac["KeySpec"] == "HMAC_256"
    assert hmac["KeyUsage"] == "GENERATE_VERIFY_MAC"
    for key in (data, audit, hmac):
        principals = json.dumps(key["KeyPolicy"])
        assert '"AWS": "*"' not in principals
        assert '"*"' not in json.dumps([s.get("Principal") for s in key["KeyPolicy"]["Statement"]])


def test_every_table_uses_the_cmk_with_pitr_deletion_protection_and_ttl(synth: Synth) -> None:
    data_key = _key_ids(synth)["alias/callguard/data"]
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    assert len(tables) >= 4
    for name, table in tables.items():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert props["SSESpecification"]["SSEType"] == "KMS", name
        replica = props["Replicas"][0]
        assert _ref_id(replica["SSESpecification"]["KMSMasterKeyId"]) == data_key, name
        assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert replica["DeletionProtectionEnabled"] is True, name
        assert props["TimeToLiveSpecification"]["Enabled"] is True, name
        assert props["BillingMode"] == "PAY_PER_REQUEST", name


def test_subject_keys_pitr_window_is_short_enough_for_crypto_shredding(synth: Synth) -> None:
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    keys_table = next(t for k, t in tables.items() if "SubjectKeys" in k)
    pitr = keys_table["Properties"]["Replicas"][0]["PointInTimeRecoverySpecification"]
    assert pitr["RecoveryPeriodInDays"] == 7  # well inside the one-month erasure deadline


def test_calls_table_has_subject_and_expiry_indexes(synth: Synth) -> None:
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    calls = next(t for k, t in tables.items() if k.startswith("DataCalls"))
    names = {g["IndexName"] for g in calls["Properties"]["GlobalSecondaryIndexes"]}
    assert names == {"by_subject", "by_expiry", "by_due"}


def test_transcripts_bucket_is_kms_encrypted_versioned_private_and_logged(synth: Synth) -> None:
    data_key = _key_ids(synth)["alias/callguard/data"]
    buckets = synth.resources("AWS::S3::Bucket")
    transcripts = next(b for k, b in buckets.items() if k.startswith("DataTranscripts"))["Properties"]
    rule = transcripts["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert _ref_id(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == data_key
    assert rule["BucketKeyEnabled"] is True
    assert transcripts["VersioningConfiguration"]["Status"] == "Enabled"
    assert transcripts["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "DestinationBucketName" in transcripts["LoggingConfiguration"]


def test_every_bucket_is_private_and_tls_only(synth: Synth) -> None:
    buckets = synth.resources("AWS::S3::Bucket")
    policies = synth.resources("AWS::S3::BucketPolicy")
    covered = {_ref_id(p["Properties"]["Bucket"]) for p in policies.values()}
    assert covered == set(buckets)
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        deny_plain = [
            s
            for s in statements
            if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert deny_plain, policy
    for bucket in buckets.values():
        assert bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True


def test_trail_validates_log_files_encrypts_and_logs_data_events(synth: Synth) -> None:
    audit_key = _key_ids(synth)["alias/callguard/audit"]
    (trail,) = synth.resources("AWS::CloudTrail::Trail").values()
    props = trail["Properties"]
    assert props["EnableLogFileValidation"] is True
    assert _ref_id(props["KMSKeyId"]) == audit_key
    assert "CloudWatchLogsLogGroupArn" in props
    assert "EventSelectors" not in props
    selectors = {s["Name"]: s["FieldSelectors"] for s in props["AdvancedEventSelectors"]}
    s3_selector = next(v for k, v in selectors.items() if k.startswith("S3"))
    ddb_selector = next(v for k, v in selectors.items() if k.startswith("DynamoDB"))
    s3_arns = json.dumps(next(f for f in s3_selector if f["Field"] == "resources.ARN"))
    assert "DataTranscripts" in s3_arns
    ddb_arns = next(f for f in ddb_selector if f["Field"] == "resources.ARN")["Equals"]
    table_ids = {_ref_id(a) for a in ddb_arns}
    assert table_ids == set(synth.resources("AWS::DynamoDB::GlobalTable"))


def test_trail_bucket_is_object_locked_with_lifecycle(synth: Synth) -> None:
    buckets = synth.resources("AWS::S3::Bucket")
    trail_bucket = next(b for k, b in buckets.items() if "TrailBucket" in k)["Properties"]
    assert trail_bucket["ObjectLockEnabled"] is True
    assert trail_bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
    assert trail_bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 6 * 365


def test_log_groups_are_encrypted_with_retention(synth: Synth) -> None:
    audit_key = _key_ids(synth)["alias/callguard/audit"]
    groups = synth.resources("AWS::Logs::LogGroup")
    assert groups
    for name, group in groups.items():
        assert _ref_id(group["Properties"]["KmsKeyId"]) == audit_key, name
        assert group["Properties"]["RetentionInDays"] >= 365, name


def test_every_api_method_is_behind_the_authorizer_with_the_route_scope(synth: Synth) -> None:
    paths = public_paths(synth.template)
    seen = {}
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        path = paths[_ref_id(props["ResourceId"])]
        seen[(props["HttpMethod"], path)] = props
    expected = {(r.method, r.path): r for r in ROUTES}
    assert set(seen) == set(expected)
    for key, props in seen.items():
        route = expected[key]
        if route.scope is None:
            assert props["AuthorizationType"] == "NONE"
            assert props["Integration"]["Type"] == "MOCK"
            continue
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS", key
        assert props["AuthorizationScopes"] == [full_scope(route.scope)], key
        assert "AuthorizerId" in props


def test_ingest_route_publishes_its_body_model_and_leaves_validation_to_the_function(
    template: Template, synth: Synth
) -> None:
    """API Gateway would answer a schema error with its `validationErrorString`, which quotes the values
    (personal data); the function validates against the same model and names only field and rule."""
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationScopes": ["callguard/calls:write"],
            "RequestModels": {"application/json": Match.any_value()},
        },
    )
    for validator in synth.resources("AWS::ApiGateway::RequestValidator").values():
        assert not validator["Properties"].get("ValidateRequestBody"), "a gateway body validator would echo values"
    for response in synth.resources("AWS::ApiGateway::GatewayResponse").values():
        assert "validationErrorString" not in json.dumps(response["Properties"])
    template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {
            "Name": "CallIn",
            "Schema": Match.object_like(
                {"$schema": "http://json-schema.org/draft-04/schema#", "additionalProperties": False}
            ),
        },
    )


def test_stage_throttles_logs_access_and_never_logs_bodies(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
            "TracingEnabled": True,
            "MethodSettings": [
                Match.object_like(
                    {
                        "DataTraceEnabled": False,
                        "LoggingLevel": "ERROR",
                        "ThrottlingRateLimit": Match.any_value(),
                        "ThrottlingBurstLimit": Match.any_value(),
                    }
                )
            ],
        },
    )


def test_gateway_errors_have_the_contract_shape(synth: Synth) -> None:
    responses = synth.resources("AWS::ApiGateway::GatewayResponse")
    by_type = {r["Properties"]["ResponseType"]: r["Properties"] for r in responses.values()}
    assert by_type["UNAUTHORIZED"]["StatusCode"] == "401"
    assert by_type["ACCESS_DENIED"]["StatusCode"] == "403"
    assert by_type["BAD_REQUEST_BODY"]["StatusCode"] == "422"
    for props in by_type.values():
        body = json.loads(props["ResponseTemplates"]["application/json"])
        assert set(body) == {"error", "request_id"}
        assert set(body["error"]) == {"code", "message", "details"}


def test_waf_uses_managed_rules_and_lets_long_transcripts_pass(synth: Synth) -> None:
    (acl,) = synth.resources("AWS::WAFv2::WebACL").values()
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert "AWSManagedRulesKnownBadInputsRuleSet" in rules
    assert len(synth.resources("AWS::WAFv2::WebACLAssociation")) == 1
    (logging,) = synth.resources("AWS::WAFv2::LoggingConfiguration").values()
    assert logging["Properties"]["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}]


def test_user_pool_requires_mfa_with_threat_protection_and_contract_scopes(template: Template, synth: Synth) -> None:
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "MfaConfiguration": "ON",
            "UserPoolTier": "PLUS",
            "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        },
    )
    (server,) = synth.resources("AWS::Cognito::UserPoolResourceServer").values()
    assert server["Properties"]["Identifier"] == "callguard"
    assert {s["ScopeName"] for s in server["Properties"]["Scopes"]} == {s.value for s in Scope}
    clients = [c["Properties"] for c in synth.resources("AWS::Cognito::UserPoolClient").values()]
    platform = next(c for c in clients if c.get("AllowedOAuthFlows") == ["client_credentials"])
    assert platform["GenerateSecret"] is True
    scopes = json.dumps(platform["AllowedOAuthScopes"])
    assert "calls:write" in scopes
    assert "routing:decide" in scopes
    assert "privacy:manage" not in scopes
    people = next(c for c in clients if c.get("AllowedOAuthFlows") == ["code"])
    assert "GenerateSecret" not in people or people["GenerateSecret"] is False


def test_functions_are_arm64_traced_with_explicit_limits(synth: Synth) -> None:
    functions = synth.product_functions()
    assert len(functions) >= 2
    for name, fn in functions.items():
        props = fn["Properties"]
        assert props["Architectures"] == ["arm64"], name
        runtime = props["Runtime"]
        assert runtime.startswith("python3."), name
        assert int(runtime.split(".")[1]) >= 12, name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["MemorySize"] >= 128, name
        # request-path functions answer within a minute; only the batch purge may run to Lambda's limit
        assert props["Timeout"] <= (900 if name.startswith("RetentionPurge") else 60), name
        assert len(props["Layers"]) == 2, name


def test_queue_is_cmk_encrypted_with_dlq(synth: Synth) -> None:
    data_key = _key_ids(synth)["alias/callguard/data"]
    queues = synth.resources("AWS::SQS::Queue")
    main = next(q for k, q in queues.items() if k.startswith("DataAnalysisQueue"))["Properties"]
    dlq_id = next(k for k in queues if k.startswith("DataAnalysisDlq"))
    assert _ref_id(main["KmsMasterKeyId"]) == data_key
    assert _ref_id(main["RedrivePolicy"]["deadLetterTargetArn"]) == dlq_id
    assert main["RedrivePolicy"]["maxReceiveCount"] == 5
    assert _ref_id(queues[dlq_id]["Properties"]["KmsMasterKeyId"]) == data_key


def test_iam_has_no_wildcard_actions_and_no_aws_managed_policies_on_functions(synth: Synth) -> None:
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for name, policy in synth.resources(kind).items():
            if is_cdk_provider(name):  # CDK's own deployment-time provider (acknowledged in the construct)
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), (name, actions)
    for name, role in synth.resources("AWS::IAM::Role").items():
        if is_cdk_provider(name):
            continue
        if "Function" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"]) or "lambda" in json.dumps(
            role["Properties"]["AssumeRolePolicyDocument"]
        ):
            assert "ManagedPolicyArns" not in role["Properties"] or all(
                "aws:policy" not in json.dumps(arn) for arn in role["Properties"]["ManagedPolicyArns"]
            ), name


def test_ingest_policy_grants_exactly_what_ingestion_calls(synth: Synth) -> None:
    policies = synth.resources("AWS::IAM::ManagedPolicy")
    ingest = next(p for k, p in policies.items() if k.startswith("IngestApiIngest"))
    actions = set()
    for statement in ingest["Properties"]["PolicyDocument"]["Statement"]:
        actions |= set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    assert "dynamodb:Scan" not in actions
    assert "kms:GenerateMac" in actions
    assert {"sqs:SendMessage", "kms:GenerateDataKey", "dynamodb:PutItem"} <= actions
    # S3 access (write, and read for live appends) only ever under the transcripts prefix
    for statement in ingest["Properties"]["PolicyDocument"]["Statement"]:
        statement_actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith("s3:") for a in statement_actions):
            assert json.dumps(statement["Resource"]).endswith('/transcripts/*"]]}')


def test_layer_is_built_for_lambda_arm64_without_docker(synth: Synth) -> None:
    assets = json.loads((synth.outdir / "Callguard.assets.json").read_text())["files"]
    layer_dirs = [
        synth.outdir / a["source"]["path"]
        for a in assets.values()
        if (synth.outdir / a["source"]["path"] / "python" / "pydantic_core").is_dir()
    ]
    assert layer_dirs  # one third-party layer per distinct set of imports (tests/infra/test_function_packages.py)
    for layer_dir in layer_dirs:
        binaries = list((layer_dir / "python" / "pydantic_core").glob("*.so"))
        assert binaries
        assert all("aarch64-linux-gnu" in b.name for b in binaries)
        assert not (layer_dir / "python" / "botocore").exists()  # provided by the runtime


def test_rule_packs_ran_and_every_finding_is_acknowledged_with_a_reason(synth: Synth) -> None:
    reports = {r["pluginName"]: r for r in synth.report["pluginReports"]}
    assert {"AwsSolutions", "HIPAA.Security", "NIST.800.53.R5"} <= set(reports)
    for name, report in reports.items():
        assert report["conclusion"] == "success", name
        assert report["violations"] == [], name
        for suppressed in report.get("suppressedViolations", []):
            assert len(suppressed["reason"]) >= 40, suppressed["ruleName"]
            # acknowledged on a construct inside the stack, never on the app or the whole stack
            assert suppressed["acknowledgedAt"].count("/") >= 1, suppressed


def test_scorecard_dashboard_charts_the_routing_and_analysis_metrics(synth: Synth) -> None:
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("HandledByAI", "Escalations", "RepeatCallers", "SentimentShift", "FollowupsOpened"):
        assert metric in body


def test_routes_of_every_capability_are_deployed_with_their_scope(synth: Synth) -> None:
    methods = synth.resources("AWS::ApiGateway::Method").values()
    scopes = sorted(s for m in methods for s in m["Properties"].get("AuthorizationScopes", []))
    assert scopes == sorted(full_scope(r.scope) for r in ROUTES if r.scope is not None)


def test_tables_with_personal_data_keep_backups_no_longer_than_the_key_table(synth: Synth) -> None:
    """Issue 14: a PITR window longer than the crypto-shredding window kept erased analyses, consent
    history and identifier MACs restorable past the one-month erasure deadline."""
    tables = synth.resources("AWS::DynamoDB::GlobalTable")
    keys_window = next(t for k, t in tables.items() if "SubjectKeys" in k)["Properties"]["Replicas"][0][
        "PointInTimeRecoverySpecification"
    ]["RecoveryPeriodInDays"]
    for prefix in ("DataCalls", "DataSubjects", "DataPrivacy", "DataIdempotency"):
        (table,) = [t for k, t in tables.items() if k.startswith(prefix)]
        pitr = table["Properties"]["Replicas"][0]["PointInTimeRecoverySpecification"]
        assert pitr["PointInTimeRecoveryEnabled"] is True, prefix
        assert pitr["RecoveryPeriodInDays"] <= keys_window, prefix


def _join(value: Any, template: dict[str, Any]) -> str:
    """A template string with ``Fn::Join`` evaluated; a stage's ``Ref`` is its name, any other ``Ref``
    (the API's id, the region, the URL suffix) a placeholder that carries no ``/``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_join(part, template) for part in parts)
    if "Ref" in value:
        resource = template["Resources"].get(value["Ref"])
        if resource is not None and resource["Type"] == "AWS::ApiGateway::Stage":
            return str(resource["Properties"]["StageName"])
        return "ref-" + value["Ref"].replace(":", "-").lower()
    raise AssertionError(f"unexpected intrinsic in the invoke URL: {value}")


def test_deployed_paths_are_the_contracts_never_a_doubled_stage(synth: Synth) -> None:
    """The ApiUrl output (the stage's invoke URL) plus each method's resource path is the contract's
    path: ``https://<api>/v1/`` + ``calls`` = ``/v1/calls``, not ``/v1/v1/calls``."""
    from urllib.parse import urljoin, urlsplit

    from local.gateway import resource_paths

    outputs = synth.template["Outputs"]
    (url_output,) = (o for name, o in outputs.items() if name.startswith("ApiUrl"))
    invoke_url = _join(url_output["Value"], synth.template)
    assert invoke_url.startswith("https://")
    assert invoke_url.endswith("/v1/")
    relative = resource_paths(synth.template)
    deployed = set()
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = relative[_ref_id(props["ResourceId"])]
        deployed.add((props["HttpMethod"], urlsplit(urljoin(invoke_url, resource.lstrip("/"))).path))
    assert ("POST", "/v1/calls") in deployed
    assert deployed == {(r.method, r.path) for r in ROUTES}
    assert not any("/v1/v1" in path for _, path in deployed)
