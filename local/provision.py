"""Create moto resources from the synthesized CloudFormation template.

The local stack must be the deployed system in miniature, so nothing here names a
table, a key or a queue: every resource comes from ``cdk.out/<stack>.template.json``.
Resource types that have no local meaning (IAM, logging, WAF, API Gateway, Lambda
itself) are listed explicitly as skipped; any other unknown type, and any intrinsic
function the resolver does not know, fails loudly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ProvisionError", "Provisioned", "Provisioner", "function_logical", "load_template"]

ACCOUNT = "123456789012"

#: Types that exist in the template but have no local counterpart to create.
SKIPPED_TYPES = frozenset(
    {
        "AWS::CDK::Metadata",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::Logs::LogGroup",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        # SnapStart's published version and its alias: invoking either runs the function in-process
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventSourceMapping",  # emulated by local/pollers.py
        "AWS::Lambda::EventInvokeConfig",  # retries of asynchronous invocations; locally runs are on demand
        "AWS::Scheduler::Schedule",  # run on demand: `make purge AS_OF=…` invokes the target
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Resource",
        "AWS::ApiGateway::Method",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::Account",
        "AWS::ApiGateway::Authorizer",
        "AWS::ApiGateway::RequestValidator",
        "AWS::ApiGateway::Model",
        "AWS::ApiGateway::GatewayResponse",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::WAFv2::LoggingConfiguration",
        "AWS::CloudTrail::Trail",
        "AWS::CloudWatch::Dashboard",
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
        "AWS::SNS::Subscription",  # alarm contacts' e-mail subscriptions: no mail leaves the machine
        "AWS::Cognito::UserPoolDomain",
        # the compliance console's CDN and file copy (local/console.py serves the files itself)
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::Function",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "Custom::CDKBucketDeployment",
    }
)


class ProvisionError(RuntimeError):
    """The template holds something the provisioner cannot reproduce faithfully."""


def load_template(cdk_out: Path, stack: str = "Callguard") -> dict[str, Any]:
    path = cdk_out / f"{stack}.template.json"
    if not path.is_file():
        raise ProvisionError(f"{path} does not exist; run `make synth` first")
    template: dict[str, Any] = json.loads(path.read_text())
    return template


@dataclass
class Provisioned:
    """What was created: per logical id, its ``Ref`` value and its attributes."""

    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def of_type(self, type_: str) -> dict[str, str]:
        return {k: self.refs[k] for k, t in self.types.items() if t == type_ and k in self.refs}


_REF_PATTERN = re.compile(r"\$\{([^}]+)\}")


class Provisioner:
    def __init__(self, session: Any, *, region: str, endpoint_url: str | None = None) -> None:
        self._session = session
        self._region = region
        self._endpoint = endpoint_url
        self._clients: dict[str, Any] = {}
        self.result = Provisioned()
        self._handlers: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::DynamoDB::GlobalTable": self._table,
            "AWS::DynamoDB::Table": self._table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::SQS::Queue": self._queue,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Cognito::UserPool": self._user_pool,
            "AWS::Cognito::UserPoolResourceServer": self._resource_server,
            "AWS::Cognito::UserPoolClient": self._user_pool_client,
            "AWS::Cognito::UserPoolGroup": self._user_pool_group,
            # event-pattern rules are created (moto delivers S3's EventBridge events to their SQS
            # targets); schedules are not: `python -m local` commands run their targets on demand
            "AWS::Events::Rule": self._rule,
        }

    def _client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = self._session.client(name, region_name=self._region, endpoint_url=self._endpoint)
        return self._clients[name]

    # -- intrinsic functions -------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, arg),) = value.items()
            if name == "Ref":
                return self._ref(arg)
            if name == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical, attribute)
            if name == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in parts)
            if name == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                return _REF_PATTERN.sub(lambda m: str(self._ref_or_att(m.group(1))), text)
            if name.startswith("Fn::") or name == "Condition":
                raise ProvisionError(f"intrinsic function {name} is not supported by the local provisioner")
        return {k: self.resolve(v) for k, v in value.items()}

    def _pseudo_arn(self, type_: str, logical: str) -> str:
        if type_ == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{self._region}:{ACCOUNT}:function:{logical}"
        if type_.startswith("AWS::IAM::"):
            return f"arn:aws:iam::{ACCOUNT}:{type_.rsplit('::', 1)[1].lower()}/{logical}"
        service = type_.split("::")[1].lower()
        return f"arn:aws:{service}:{self._region}:{ACCOUNT}:{logical}"

    def _qualified_function(self, logical: str, resource: dict[str, Any], resources: dict[str, Any]) -> None:
        """A version's or alias' ``Ref`` is its qualified ARN (``function:<name>:<version or alias>``),
        as CloudFormation gives it; a version's ``Version`` is the first one published."""
        function = function_logical(resource["Properties"]["FunctionName"], resources)
        qualifier = "1" if resource["Type"] == "AWS::Lambda::Version" else str(resource["Properties"]["Name"])
        arn = f"{self._pseudo_arn('AWS::Lambda::Function', function)}:{qualifier}"
        self.result.refs[logical] = arn
        self.result.attributes[logical] = {"Arn": arn, "Version": "1"} if qualifier == "1" else {"Arn": arn}

    def _ref_or_att(self, expression: str) -> str:
        if "." in expression:
            logical, attribute = expression.split(".", 1)
            return self._get_att(logical, attribute)
        return self._ref(expression)

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self._region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "Callguard",
        }
        if name in pseudo:
            return pseudo[name]
        if name not in self.result.refs:
            raise ProvisionError(f"Ref to {name}, which is not provisioned (yet)")
        return self.result.refs[name]

    def _get_att(self, logical: str, attribute: str) -> str:
        try:
            return self.result.attributes[logical][attribute]
        except KeyError:
            raise ProvisionError(f"Fn::GetAtt {logical}.{attribute} is not known locally") from None

    # -- ordering ------------------------------------------------------------
    @staticmethod
    def _dependencies(resource: dict[str, Any], known: set[str]) -> set[str]:
        found: set[str] = set(resource.get("DependsOn", []) if isinstance(resource.get("DependsOn"), list) else [])
        if isinstance(resource.get("DependsOn"), str):
            found.add(resource["DependsOn"])

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "Ref" in node and isinstance(node["Ref"], str):
                    found.add(node["Ref"])
                if "Fn::GetAtt" in node:
                    arg = node["Fn::GetAtt"]
                    found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
                for child in node.values():
                    walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(resource.get("Properties", {}))
        return found & known

    def provision(self, template: dict[str, Any]) -> Provisioned:
        resources: dict[str, dict[str, Any]] = template["Resources"]
        unknown = sorted({r["Type"] for r in resources.values()} - SKIPPED_TYPES - set(self._handlers))
        if unknown:
            raise ProvisionError(f"resource types without a local counterpart: {', '.join(unknown)}")
        for logical, resource in resources.items():
            if resource["Type"] in SKIPPED_TYPES:
                # Not created in moto (functions run in-process; IAM, logging and the API have no
                # local counterpart). Their names and ARNs still resolve, so references do too.
                self.result.refs[logical] = logical
                self.result.attributes[logical] = {"Arn": self._pseudo_arn(resource["Type"], logical)}
                if resource["Type"] in {"AWS::Lambda::Version", "AWS::Lambda::Alias"}:
                    self._qualified_function(logical, resource, resources)
                if resource["Type"] == "AWS::CloudFront::Distribution":  # named in the people client's URLs
                    self.result.attributes[logical]["DomainName"] = f"{logical.lower()}.cloudfront.invalid"
        wanted = {k for k, r in resources.items() if r["Type"] in self._handlers}
        done: set[str] = set()
        while wanted - done:
            ready = [k for k in sorted(wanted - done) if self._dependencies(resources[k], wanted) <= done]
            if not ready:
                raise ProvisionError("circular references between resources: " + ", ".join(sorted(wanted - done)))
            for logical in ready:
                resource = resources[logical]
                self.result.types[logical] = resource["Type"]
                self._handlers[resource["Type"]](logical, self.resolve(resource.get("Properties", {})))
                done.add(logical)
        for logical, resource in resources.items():
            self.result.types.setdefault(logical, resource["Type"])
        return self.result

    # -- resource types ------------------------------------------------------
    def _kms_key(self, logical: str, props: dict[str, Any]) -> None:
        kms = self._client("kms")
        meta = kms.create_key(
            KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
            Description=props.get("Description", logical),
            Tags=[{"TagKey": "aws:cloudformation:logical-id", "TagValue": logical}],
        )["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        self.result.refs[logical] = meta["KeyId"]
        self.result.attributes[logical] = {"Arn": meta["Arn"], "KeyId": meta["KeyId"]}

    def _kms_alias(self, logical: str, props: dict[str, Any]) -> None:
        self._client("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
        self.result.refs[logical] = props["AliasName"]

    def _table(self, logical: str, props: dict[str, Any]) -> None:
        ddb = self._client("dynamodb")
        name = props.get("TableName") or f"callguard-{logical}"
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {k: v for k, v in gsi.items() if k in {"IndexName", "KeySchema", "Projection"}}
                for gsi in props["GlobalSecondaryIndexes"]
            ]
        replica = (props.get("Replicas") or [{}])[0]
        sse = replica.get("SSESpecification") or props.get("SSESpecification") or {}
        if sse.get("KMSMasterKeyId"):
            kwargs["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": sse["KMSMasterKeyId"]}
        if replica.get("DeletionProtectionEnabled"):
            kwargs["DeletionProtectionEnabled"] = True
        table = ddb.create_table(**kwargs)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )
        pitr = replica.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        self.result.refs[logical] = name
        self.result.attributes[logical] = {"Arn": table["TableArn"]}

    def _bucket(self, logical: str, props: dict[str, Any]) -> None:
        s3 = self._client("s3")
        name = props.get("BucketName") or f"callguard-{logical.lower()}"[:63]
        lock = props.get("ObjectLockConfiguration")
        s3.create_bucket(
            Bucket=name,
            CreateBucketConfiguration={"LocationConstraint": self._region},
            **({"ObjectLockEnabledForBucket": True} if props.get("ObjectLockEnabled") else {}),
        )
        if lock and lock.get("Rule"):
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=lock)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        encryption = props.get("BucketEncryption")
        if encryption:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                            **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                        }
                        for rule in encryption["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        lifecycle = props.get("LifecycleConfiguration")
        if lifecycle:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration=_lifecycle(lifecycle))
        self.result.refs[logical] = name
        self.result.attributes[logical] = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self._region}.amazonaws.com",
        }

    def _queue(self, logical: str, props: dict[str, Any]) -> None:
        sqs = self._client("sqs")
        name = queue_name(logical, props)
        attributes: dict[str, str] = {}
        mapping = {
            "VisibilityTimeout": "VisibilityTimeout",
            "MessageRetentionPeriod": "MessageRetentionPeriod",
            "KmsMasterKeyId": "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
        }
        for prop, attribute in mapping.items():
            if prop in props:
                attributes[attribute] = str(props[prop])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.result.refs[logical] = url
        self.result.attributes[logical] = {"Arn": arn, "QueueUrl": url, "QueueName": name}

    def _state_machine(self, logical: str, props: dict[str, Any]) -> None:
        """The synthesized definition, Lambda ARNs resolved to the in-process functions."""
        definition = props.get("DefinitionString")
        if definition is None and "Definition" in props:
            definition = json.dumps(props["Definition"])
        if not isinstance(definition, str):
            raise ProvisionError(f"state machine {logical} has no definition the provisioner understands")
        arn = self._client("stepfunctions").create_state_machine(
            name=props.get("StateMachineName") or f"callguard-{logical}",
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        self.result.refs[logical] = arn
        self.result.attributes[logical] = {"Arn": arn, "Name": arn.rsplit(":", 1)[1]}

    def _rule(self, logical: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or f"callguard-{logical}"[:64]
        arn = f"arn:aws:events:{self._region}:{ACCOUNT}:rule/{name}"
        if "EventPattern" in props:
            events = self._client("events")
            arn = events.put_rule(Name=name, EventPattern=json.dumps(props["EventPattern"]), State="ENABLED")["RuleArn"]
            targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets", [])]
            if targets:
                events.put_targets(Rule=name, Targets=targets)
        self.result.refs[logical] = name
        self.result.attributes[logical] = {"Arn": arn}

    def _user_pool(self, logical: str, props: dict[str, Any]) -> None:
        cognito = self._client("cognito-idp")
        kwargs: dict[str, Any] = {"PoolName": props.get("UserPoolName") or f"callguard-{logical}"}
        if props.get("MfaConfiguration"):
            kwargs["MfaConfiguration"] = props["MfaConfiguration"]
        pool = cognito.create_user_pool(**kwargs)["UserPool"]
        self.result.refs[logical] = pool["Id"]
        self.result.attributes[logical] = {
            "Arn": pool["Arn"],
            "ProviderName": f"cognito-idp.{self._region}.amazonaws.com/{pool['Id']}",
            "ProviderURL": f"https://cognito-idp.{self._region}.amazonaws.com/{pool['Id']}",
            "UserPoolId": pool["Id"],
        }

    def _resource_server(self, logical: str, props: dict[str, Any]) -> None:
        self._client("cognito-idp").create_resource_server(
            UserPoolId=props["UserPoolId"],
            Identifier=props["Identifier"],
            Name=props["Name"],
            Scopes=props.get("Scopes", []),
        )
        self.result.refs[logical] = props["Identifier"]

    def _user_pool_client(self, logical: str, props: dict[str, Any]) -> None:
        keep = {
            "GenerateSecret",
            "AllowedOAuthFlows",
            "AllowedOAuthScopes",
            "AllowedOAuthFlowsUserPoolClient",
            "CallbackURLs",
            "ExplicitAuthFlows",
            "SupportedIdentityProviders",
        }
        kwargs = {k: v for k, v in props.items() if k in keep}
        client = self._client("cognito-idp").create_user_pool_client(
            UserPoolId=props["UserPoolId"], ClientName=props.get("ClientName") or logical, **kwargs
        )["UserPoolClient"]
        self.result.refs[logical] = client["ClientId"]
        self.result.attributes[logical] = {"ClientSecret": client.get("ClientSecret", ""), "Name": logical}

    def _user_pool_group(self, logical: str, props: dict[str, Any]) -> None:
        self._client("cognito-idp").create_group(UserPoolId=props["UserPoolId"], GroupName=props["GroupName"])
        self.result.refs[logical] = props["GroupName"]

    # -- function environments -----------------------------------------------
    def function_environment(self, template: dict[str, Any], function_logical_prefix: str) -> dict[str, str]:
        """The environment variables a function gets in the template, resolved locally."""
        matches = [
            (k, r)
            for k, r in template["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function" and k.startswith(function_logical_prefix)
        ]
        if len(matches) != 1:
            raise ProvisionError(f"expected one function with logical id prefix {function_logical_prefix!r}")
        variables = matches[0][1]["Properties"].get("Environment", {}).get("Variables", {})
        return {k: str(self.resolve(v)) for k, v in variables.items()}


def queue_name(logical: str, props: dict[str, Any]) -> str:
    """The name the local stack gives the template's queue ``logical`` (its ``QueueName``, if set)."""
    return str(props.get("QueueName") or f"callguard-{logical}")


def consumed_queue(mapping: dict[str, Any], resources: dict[str, Any]) -> str | None:
    """The logical id of the template's SQS queue an event source mapping (its properties) reads, or
    None when its ``EventSourceArn`` names no queue of the template."""
    source = mapping.get("EventSourceArn")
    logical = source.get("Fn::GetAtt", [""])[0] if isinstance(source, dict) else ""
    return str(logical) if resources.get(str(logical), {}).get("Type") == "AWS::SQS::Queue" else None


def function_logical(reference: Any, resources: dict[str, Any]) -> str:
    """The function a ``FunctionName`` reference names: ``Ref``/``GetAtt`` of the function itself, or of a
    version or alias of it (followed to the function)."""
    if isinstance(reference, dict) and "Ref" in reference:
        logical = str(reference["Ref"])
    elif isinstance(reference, dict) and "Fn::GetAtt" in reference:
        arg = reference["Fn::GetAtt"]
        logical = str(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
    else:
        raise ProvisionError(f"a function reference the local stack does not understand: {reference!r}")
    type_ = resources[logical]["Type"]
    if type_ == "AWS::Lambda::Function":
        return logical
    if type_ in {"AWS::Lambda::Version", "AWS::Lambda::Alias"}:
        return function_logical(resources[logical]["Properties"]["FunctionName"], resources)
    raise ProvisionError(f"{logical} ({type_}) is not a Lambda function, version or alias")


def _lifecycle(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle shape → the S3 API's."""
    rules = []
    for index, rule in enumerate(config["Rules"]):
        out: dict[str, Any] = {
            "ID": rule.get("Id", f"rule-{index}"),
            "Status": rule.get("Status", "Enabled"),
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            out["Expiration"] = {"Days": rule["ExpirationInDays"]}
        elif rule.get("ExpiredObjectDeleteMarker"):
            out["Expiration"] = {"ExpiredObjectDeleteMarker": True}
        if "NoncurrentVersionExpiration" in rule:
            out["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            }
        if "AbortIncompleteMultipartUpload" in rule:
            out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
        if "Transitions" in rule:
            out["Transitions"] = [
                {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
            ]
        rules.append(out)
    return {"Rules": rules}
