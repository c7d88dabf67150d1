"""The permission proof: every AWS call a function makes locally, judged against the synthesized template.

moto grants every permission, so on its own the embedded stack proves behaviour, not authorization.
This module closes that gap:

* :class:`TemplateModel` reads ``cdk.out``: each function's role and every policy attached to it, key
  policies, topic/bucket/queue policies, Lambda permissions, and which CMK encrypts which table,
  queue, topic, bucket and state machine. CloudFormation intrinsics resolve against the template's
  logical ids (or, locally, against what the provisioner created), so statements compare with the
  ARNs the handlers really use.
* :func:`record` (a botocore ``before-parameter-build`` handler registered once for every session,
  see :func:`install`) sees each call, and, while a function runs (:func:`acting_as`, set by the
  in-process Lambda runtime, the SQS pollers and :func:`local.harness.load_handler`), turns it into the
  IAM requests AWS would authorize: the call itself, plus the KMS calls AWS makes on the caller's
  behalf for KMS-encrypted DynamoDB tables, SQS queues, SNS topics, S3 objects and state machines
  (with their encryption context, and the key policy consulted). A denied request is kept as a
  :class:`Violation` naming the function, the call and the statement that is missing.
* :func:`service_principal_violations` checks, from the template alone, what services do on the
  product's behalf: CloudWatch → SNS (and the topic key), Step Functions → KMS and Lambda, CloudWatch
  Logs → KMS, EventBridge/Scheduler/API Gateway/Cognito → Lambda, CloudTrail → S3/KMS/Logs, Lambda →
  the SQS event source, and every service's ``sts:AssumeRole`` on the roles it is given.

The tests fail on any violation (``tests/conftest.py``); ``make local``/``make demo`` log them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from local.iam import Decision, Principal, Request, Verdict, authorize, authorize_kms

__all__ = [
    "Acting",
    "TemplateModel",
    "Violation",
    "absorb",
    "acting_as",
    "activate",
    "active_model",
    "deactivate",
    "implied_key_violations",
    "install",
    "judged_pairs",
    "model_for",
    "service_principal_violations",
    "service_principals_checked",
    "take_violations",
]

ACCOUNT = "123456789012"
REGION = "eu-central-1"
PARTITION = "aws"
logger = logging.getLogger("callguard.local.permissions")


_STACK_UUID = "00000000-0000-0000-0000-000000000000"

# -- resolving the template ------------------------------------------------------------------------


class Resolver:
    """CloudFormation intrinsics → values: ``Ref``/``Fn::GetAtt`` of the template's logical ids (the
    physical names the template sets, otherwise names derived from the logical id the way the local
    provisioner derives them), pseudo parameters, ``Fn::Join``/``Sub``/``Select``/``Split``.
    ``refs``/``attributes`` (e.g. the provisioner's) override the derived values."""

    def __init__(
        self,
        template: Mapping[str, Any],
        refs: Mapping[str, str] | None = None,
        attributes: Mapping[str, Mapping[str, str]] | None = None,
        *,
        account: str = ACCOUNT,
        region: str = REGION,
        stack: str = "Callguard",
    ) -> None:
        self.resources: Mapping[str, Any] = template["Resources"]
        self.account, self.region, self.stack = account, region, stack
        self._refs = dict(refs or {})
        self._attributes = {k: dict(v) for k, v in (attributes or {}).items()}
        self._pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/{_STACK_UUID}",
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, arg),) = value.items()
            if name == "Ref" or name.startswith("Fn::"):
                return self._intrinsic(name, arg)
        return {k: self(v) for k, v in value.items()}

    def _intrinsic(self, name: str, arg: Any) -> Any:
        if name == "Ref":
            return self.ref(arg)
        if name == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.attribute(logical, attribute)
        if name == "Fn::Join":
            return arg[0].join(str(self(p)) for p in self(arg[1]))
        if name == "Fn::Select":
            return self(arg[1])[int(self(arg[0]))]
        if name == "Fn::Split":
            return str(self(arg[1])).split(arg[0])
        if name == "Fn::Sub":
            return self._sub(arg)
        raise ValueError(f"intrinsic {name} is not resolved by the permission check")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def sub(match: Any) -> str:
            expression = match.group(1)
            if expression in variables:
                return str(self(variables[expression]))
            if "." in expression and not expression.startswith("AWS::"):
                return str(self.attribute(*expression.split(".", 1)))
            return str(self.ref(expression))

        return re.sub(r"\$\{([^}!]+)\}", sub, text)

    def _name(self, logical: str) -> str:
        resource = self.resources[logical]
        props = resource.get("Properties", {})
        type_ = resource["Type"]
        explicit = {
            "AWS::DynamoDB::GlobalTable": "TableName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::IAM::Role": "RoleName",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::CloudWatch::Alarm": "AlarmName",
            "AWS::Events::Rule": "Name",
            "AWS::Scheduler::Schedule": "Name",
            "AWS::CloudTrail::Trail": "TrailName",
            "AWS::ApiGateway::Stage": "StageName",
        }.get(type_)
        if explicit and explicit in props:
            return str(self(props[explicit]))
        if type_ in {"AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table", "AWS::SQS::Queue"}:
            return f"callguard-{logical}"  # as local/provision.py names them
        if type_ == "AWS::S3::Bucket":
            return f"callguard-{logical.lower()}"[:63]
        if type_ == "AWS::StepFunctions::StateMachine":
            return f"callguard-{logical}"
        if type_ == "AWS::Logs::LogGroup":
            return f"{self.stack}-{logical}"  # CloudFormation's generated name has this shape
        return logical

    def ref(self, logical: str) -> Any:
        if logical in self._pseudo:
            return self._pseudo[logical]
        if logical in self._refs:
            return self._refs[logical]
        if logical not in self.resources:
            raise ValueError(f"Ref to unknown {logical}")
        type_ = self.resources[logical]["Type"]
        if type_ in {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy"}:
            return self.attribute(logical, "Arn")
        if type_ == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self._name(logical)}"
        if type_ == "AWS::KMS::Key":
            return logical
        if type_ in {"AWS::Lambda::Version", "AWS::Lambda::Alias"}:
            # a version's or alias' Ref is its qualified ARN: the function's ARN and ``:<version>``/``:<alias>``
            props = self.resources[logical]["Properties"]
            qualifier = self.version(logical) if type_ == "AWS::Lambda::Version" else props["Name"]
            return self._qualified(props, str(qualifier))
        return self._name(logical)

    def version(self, logical: str) -> str:
        """A published version's number: the provisioner's, or the first one (any number is checked alike)."""
        return str(self._attributes.get(logical, {}).get("Version", "1"))

    def _qualified(self, props: Mapping[str, Any], qualifier: str) -> str:
        function = str(self(props["FunctionName"]))
        if not function.startswith("arn:"):
            function = f"arn:aws:lambda:{self.region}:{self.account}:function:{function}"
        return f"{function}:{qualifier}"

    def attribute(self, logical: str, attribute: str) -> Any:
        if attribute in self._attributes.get(logical, {}):
            return self._attributes[logical][attribute]
        type_ = self.resources[logical]["Type"]
        if type_ == "AWS::Lambda::Version" and attribute == "Version":
            return self.version(logical)
        name = self._name(logical)
        r, a = self.region, self.account
        if attribute in {"Arn", "TopicArn"}:
            arns = {
                "AWS::DynamoDB::GlobalTable": "arn:aws:dynamodb:{r}:{a}:table/{name}",
                "AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/{name}",
                "AWS::S3::Bucket": "arn:aws:s3:::{name}",
                "AWS::SQS::Queue": "arn:aws:sqs:{r}:{a}:{name}",
                "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{name}",
                "AWS::KMS::Key": "arn:aws:kms:{r}:{a}:key/{ref}",
                "AWS::StepFunctions::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{name}",
                "AWS::Lambda::Function": "arn:aws:lambda:{r}:{a}:function:{name}",
                "AWS::IAM::Role": "arn:aws:iam::{a}:role/{name}",
                "AWS::IAM::ManagedPolicy": "arn:aws:iam::{a}:policy/{name}",
                "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:{name}:*",
                "AWS::CloudWatch::Alarm": "arn:aws:cloudwatch:{r}:{a}:alarm:{name}",
                "AWS::Events::Rule": "arn:aws:events:{r}:{a}:rule/{name}",
                "AWS::Scheduler::Schedule": "arn:aws:scheduler:{r}:{a}:schedule/default/{name}",
                "AWS::CloudTrail::Trail": "arn:aws:cloudtrail:{r}:{a}:trail/{name}",
                "AWS::Cognito::UserPool": "arn:aws:cognito-idp:{r}:{a}:userpool/{ref}",
            }
            if type_ in arns:
                pattern = arns[type_]
                ref = self.ref(logical) if "{ref}" in pattern else ""
                return pattern.format(r=r, a=a, name=name, ref=ref)
            return f"arn:aws:{type_.split('::')[1].lower()}:{r}:{a}:{logical}"
        if attribute in {"QueueName", "TopicName", "Name"}:
            return name
        if attribute in {"QueueUrl", "KeyId"}:
            return self.ref(logical)
        if attribute == "RootResourceId":
            return f"{logical}-root"
        return f"{logical}.{attribute}"


# -- the template's permissions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Encrypted:
    """A resource encrypted with a CMK: the key's ARN and the encryption context AWS uses."""

    key_arn: str
    context: Mapping[str, str]


@dataclass
class TemplateModel:
    template: Mapping[str, Any]
    resolve: Resolver
    roles: dict[str, str] = field(default_factory=dict)  # role ARN → logical id
    identity: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)  # role ARN → (policy, stmt)
    trust: dict[str, dict[str, Any]] = field(default_factory=dict)  # role ARN → trust policy
    function_roles: dict[str, str] = field(default_factory=dict)  # function logical → role ARN
    function_arns: dict[str, str] = field(default_factory=dict)  # function logical → ARN
    key_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # key ARN → policy
    key_ids: dict[str, str] = field(default_factory=dict)  # key id / alias name / ARN → key ARN
    key_logical: dict[str, str] = field(default_factory=dict)  # key ARN → logical id
    resource_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # resource ARN → stmts
    tables: dict[str, Encrypted] = field(default_factory=dict)  # table name → CMK
    partitions: dict[str, str] = field(default_factory=dict)  # table name → its partition key attribute
    queues: dict[str, Encrypted] = field(default_factory=dict)  # queue ARN → CMK
    topics: dict[str, Encrypted] = field(default_factory=dict)  # topic ARN → CMK
    buckets: dict[str, tuple[str, bool]] = field(default_factory=dict)  # bucket → (key ARN, bucket key)
    machines: dict[str, tuple[str, str]] = field(default_factory=dict)  # machine ARN → (key ARN, role ARN)
    unmodelled: list[str] = field(default_factory=list)  # attached policies the check cannot read

    @classmethod
    def from_template(
        cls,
        template: Mapping[str, Any],
        refs: Mapping[str, str] | None = None,
        attributes: Mapping[str, Mapping[str, str]] | None = None,
    ) -> TemplateModel:
        model = cls(template, Resolver(template, refs, attributes))
        model._load()
        return model

    def for_template(self, template: Mapping[str, Any]) -> TemplateModel:
        """Another template (e.g. a variant of this one) with the same physical names and ARNs."""
        return TemplateModel.from_template(template, self.resolve._refs, self.resolve._attributes)

    def _load(self) -> None:
        resources = self.template["Resources"]
        loaders: dict[str, Any] = {
            "AWS::Lambda::Function": self._load_function,
            "AWS::KMS::Key": self._load_key,
            "AWS::KMS::Alias": self._load_alias,
            "AWS::DynamoDB::GlobalTable": self._load_table,
            "AWS::DynamoDB::Table": self._load_table,
            "AWS::SQS::Queue": self._load_queue,
            "AWS::SNS::Topic": self._load_topic,
            "AWS::S3::Bucket": self._load_bucket,
            "AWS::StepFunctions::StateMachine": self._load_machine,
            "AWS::S3::BucketPolicy": self._load_bucket_policy,
            "AWS::SQS::QueuePolicy": self._load_queue_policy,
            "AWS::SNS::TopicPolicy": self._load_topic_policy,
            "AWS::Lambda::Permission": lambda _logical, props: self._lambda_permission(props),
        }
        for logical, res in resources.items():
            if res["Type"] == "AWS::IAM::Role":
                self._load_role(logical, res["Properties"])
        for logical, res in resources.items():
            if res["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
                self._load_policy(logical, res["Properties"])
        for logical, res in resources.items():
            if res["Type"] in loaders:
                loaders[res["Type"]](logical, res.get("Properties", {}))

    def _load_role(self, logical: str, props: Mapping[str, Any]) -> None:
        r = self.resolve
        arn = r.attribute(logical, "Arn")
        self.roles[arn] = logical
        self.trust[arn] = r(props.get("AssumeRolePolicyDocument", {}))
        self.identity[arn] = [
            (f"{logical} inline {p.get('PolicyName')}", s)
            for p in r(props.get("Policies", []))
            for s in p["PolicyDocument"]["Statement"]
        ]
        for managed in props.get("ManagedPolicyArns", []):
            if not (isinstance(managed, dict) and "Ref" in managed):
                self.unmodelled.append(f"{logical}: AWS managed policy {json.dumps(managed)}")

    def _load_policy(self, logical: str, props: Mapping[str, Any]) -> None:
        statements = self.resolve(props["PolicyDocument"])["Statement"]
        for role in props.get("Roles", []):
            if "Ref" not in role:
                raise ValueError(f"{logical}: a role reference the permission check does not understand")
            arn = self.resolve.attribute(role["Ref"], "Arn")
            self.identity.setdefault(arn, []).extend((logical, s) for s in statements)

    def _load_function(self, logical: str, props: Mapping[str, Any]) -> None:
        self.function_roles[logical] = str(self.resolve(props["Role"]))
        self.function_arns[logical] = self.resolve.attribute(logical, "Arn")

    def _load_key(self, logical: str, props: Mapping[str, Any]) -> None:
        arn = self.resolve.attribute(logical, "Arn")
        self.key_policies[arn] = self.resolve(props["KeyPolicy"])
        self.key_logical[arn] = logical
        for alias in (arn, str(self.resolve.ref(logical)), arn.rsplit("/", 1)[1]):
            self.key_ids[alias] = arn

    def _load_alias(self, logical: str, props: Mapping[str, Any]) -> None:
        target = str(self.resolve(props["TargetKeyId"]))
        self.key_ids[str(props["AliasName"])] = self.key_ids.get(target, target)

    def _load_table(self, logical: str, props: Mapping[str, Any]) -> None:
        for key in props.get("KeySchema") or []:
            if key.get("KeyType") == "HASH":
                self.partitions[str(self.resolve.ref(logical))] = str(key["AttributeName"])
        replica = (props.get("Replicas") or [{}])[0]
        sse = replica.get("SSESpecification") or props.get("SSESpecification") or {}
        if sse.get("KMSMasterKeyId"):
            name = str(self.resolve.ref(logical))
            self.tables[name] = Encrypted(
                self._key(self.resolve(sse["KMSMasterKeyId"])),
                {"aws:dynamodb:tableName": name, "aws:dynamodb:subscriberId": self.resolve.account},
            )

    def _load_queue(self, logical: str, props: Mapping[str, Any]) -> None:
        if props.get("KmsMasterKeyId"):
            arn = self.resolve.attribute(logical, "Arn")
            self.queues[arn] = Encrypted(self._key(self.resolve(props["KmsMasterKeyId"])), {"aws:sqs:arn": arn})

    def _load_topic(self, logical: str, props: Mapping[str, Any]) -> None:
        if props.get("KmsMasterKeyId"):
            arn = self.resolve.attribute(logical, "Arn")
            key = self._key(self.resolve(props["KmsMasterKeyId"]))
            self.topics[arn] = Encrypted(key, {"aws:sns:topicArn": arn})

    def _load_bucket(self, logical: str, props: Mapping[str, Any]) -> None:
        for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
            default = rule.get("ServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") in {"aws:kms", "aws:kms:dsse"} and default.get("KMSMasterKeyID"):
                key = self._key(self.resolve(default["KMSMasterKeyID"]))
                self.buckets[str(self.resolve.ref(logical))] = (key, bool(rule.get("BucketKeyEnabled")))

    def _load_machine(self, logical: str, props: Mapping[str, Any]) -> None:
        enc = props.get("EncryptionConfiguration") or {}
        if enc.get("Type") == "CUSTOMER_MANAGED_KMS_KEY":
            key = self._key(self.resolve(enc["KmsKeyId"]))
            self.machines[str(self.resolve.attribute(logical, "Arn"))] = (key, str(self.resolve(props["RoleArn"])))

    def _load_bucket_policy(self, logical: str, props: Mapping[str, Any]) -> None:
        bucket = f"arn:aws:s3:::{self.resolve(props['Bucket'])}"
        self.resource_policies.setdefault(bucket, []).extend(self.resolve(props["PolicyDocument"])["Statement"])

    def _load_queue_policy(self, logical: str, props: Mapping[str, Any]) -> None:
        statements = self.resolve(props["PolicyDocument"])["Statement"]
        for url in self.resolve(props["Queues"]):
            self.resource_policies.setdefault(self.queue_arn(str(url)), []).extend(statements)

    def _load_topic_policy(self, logical: str, props: Mapping[str, Any]) -> None:
        statements = self.resolve(props["PolicyDocument"])["Statement"]
        for topic in self.resolve(props["Topics"]):
            self.resource_policies.setdefault(str(topic), []).extend(statements)

    def _lambda_permission(self, props: Mapping[str, Any]) -> None:
        """A statement of the function's resource policy. Lambda keeps one per qualifier: a permission on
        the function (unqualified) lets callers invoke the unqualified ARN only, one on an alias or version
        (``FunctionName`` its ARN, or ``Qualifier``) only that alias' or version's ARN."""
        r = self.resolve
        target = str(r(props["FunctionName"]))
        if not target.startswith("arn:"):
            target = f"arn:aws:lambda:{r.region}:{r.account}:function:{target}"
        if props.get("Qualifier") and len(target.split(":")) == 7:
            target = f"{target}:{r(props['Qualifier'])}"
        principal = str(r(props["Principal"]))
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
            "Action": str(r(props["Action"])),
            "Resource": target,
        }
        condition: dict[str, Any] = {}
        if "SourceArn" in props:
            condition["ArnLike"] = {"AWS:SourceArn": str(r(props["SourceArn"]))}
        if "SourceAccount" in props:
            condition["StringEquals"] = {"AWS:SourceAccount": str(r(props["SourceAccount"]))}
        if condition:
            statement["Condition"] = condition
        self.resource_policies.setdefault(unqualified_function_arn(target), []).append(statement)

    def _key(self, reference: Any) -> str:
        text = str(reference)
        return self.key_ids.get(text, text)

    def key_arn(self, key_id: str) -> str | None:
        if key_id in self.key_ids:
            return self.key_ids[key_id]
        if key_id.startswith("arn:") and ":alias/" in key_id:
            return self.key_ids.get(key_id.split(":", 5)[5])
        if key_id.startswith("arn:"):
            return key_id
        return None

    def queue_arn(self, url: str) -> str:
        path = urlparse(url).path.strip("/").split("/")
        return f"arn:aws:sqs:{self.resolve.region}:{path[-2] if len(path) > 1 else self.resolve.account}:{path[-1]}"

    def function_logical(self, arn: str) -> str | None:
        """The logical id of the template's function that ``arn`` (a function, version or alias ARN, or a
        function's name with or without its qualifier, as ``FunctionName`` takes it) names."""
        if not arn.startswith("arn:"):
            arn = f"arn:aws:lambda:{self.resolve.region}:{self.resolve.account}:function:{arn}"
        unqualified = unqualified_function_arn(arn)
        return next((logical for logical, fn in self.function_arns.items() if fn == unqualified), None)

    def function_for_service(self, service_name: str) -> str | None:
        """The logical id of the function whose ``POWERTOOLS_SERVICE_NAME`` is ``service_name``."""
        for logical, res in self.template["Resources"].items():
            if res["Type"] != "AWS::Lambda::Function":
                continue
            env = res["Properties"].get("Environment", {}).get("Variables", {})
            if env.get("POWERTOOLS_SERVICE_NAME") == service_name:
                return logical
        return None

    # -- evaluation -------------------------------------------------------------------------------

    def statements(self, role_arn: str) -> list[dict[str, Any]]:
        return [s for _, s in self.identity.get(role_arn, [])]

    def policy_names(self, role_arn: str) -> list[str]:
        return sorted({name for name, _ in self.identity.get(role_arn, [])})

    def check(self, principal: Principal, action: str, resource: str, context: Mapping[str, Any]) -> Verdict:
        request = Request(principal, action, resource, {**self.base_context(principal), **context})
        if action.lower().startswith("kms:") and resource in self.key_policies:
            return authorize_kms(
                request, key_policy=self.key_policies[resource], identity=self.statements(principal.arn)
            )
        return authorize(
            request,
            identity=self.statements(principal.arn) if principal.arn else [],
            resource=self.resource_policy(resource),
        )

    def resource_policy(self, resource: str) -> list[dict[str, Any]] | None:
        for arn, statements in self.resource_policies.items():
            if resource == arn or resource.startswith(arn + "/") or resource.startswith(arn + ":"):
                return statements
        if resource.startswith(f"arn:aws:sns:{self.resolve.region}:{self.resolve.account}:"):
            # no topic policy: SNS's default lets this account's principals (and its services) publish
            return [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes"],
                    "Resource": resource,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": self.resolve.account}},
                }
            ]
        return None

    def base_context(self, principal: Principal) -> dict[str, Any]:
        context: dict[str, Any] = {
            "aws:SecureTransport": "true",  # every SDK call and every service call uses TLS
            "aws:RequestedRegion": self.resolve.region,
            "kms:CallerAccount": self.resolve.account,
        }
        if principal.arn:
            context["aws:PrincipalArn"] = principal.arn
            context["aws:PrincipalAccount"] = self.resolve.account
        return context


# -- the calls a function makes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One IAM request a call needs: ``as_role`` overrides the caller (Step Functions' execution role)."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    implicit: str = ""  # why AWS makes it on the caller's behalf
    as_role: str = ""


_S3_ACTIONS = {
    "ListObjectVersions": ("s3:ListBucketVersions", "bucket"),
    "ListObjectsV2": ("s3:ListBucket", "bucket"),
    "ListObjects": ("s3:ListBucket", "bucket"),
    "HeadBucket": ("s3:ListBucket", "bucket"),
    "HeadObject": ("s3:GetObject", "object"),
    "GetObject": ("s3:GetObject", "object"),
    "PutObject": ("s3:PutObject", "object"),
    "CreateMultipartUpload": ("s3:PutObject", "object"),
    "UploadPart": ("s3:PutObject", "object"),
    "CompleteMultipartUpload": ("s3:PutObject", "object"),
    "UploadPartCopy": ("s3:PutObject", "object"),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", "object"),
    "DeleteObject": ("s3:DeleteObject", "object"),
    "GetObjectTagging": ("s3:GetObjectTagging", "object"),
    "PutObjectTagging": ("s3:PutObjectTagging", "object"),
}
_VERSIONED = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion"}
_DDB_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
#: DynamoDB's expression grammar (keywords in any case, functions as written): not attribute names
_DDB_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN"})
_DDB_FUNCTIONS = frozenset(
    {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains", "size",
     "if_not_exists", "list_append"}
)  # fmt: skip
_DDB_EXPRESSIONS = ("UpdateExpression", "ConditionExpression", "ProjectionExpression", "FilterExpression",
                    "KeyConditionExpression")  # fmt: skip
#: the calls whose request context carries ``dynamodb:Attributes``
_DDB_ATTRIBUTE_CALLS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"})


def _ddb_attributes(params: Mapping[str, Any]) -> list[str]:
    """The top-level attribute names a request names (condition key ``dynamodb:Attributes``): those of its
    key or item, and every attribute its expressions name (``#placeholders`` resolved; nested paths count
    by their top-level attribute)."""
    names = params.get("ExpressionAttributeNames") or {}
    found = set(params.get("Key") or {}) | set(params.get("Item") or {})
    for field_name in _DDB_EXPRESSIONS:
        text = re.sub(r":\w+|\.#?\w+|\[\d+\]", " ", params.get(field_name) or "")  # values, nested paths
        for token in re.findall(r"#?[A-Za-z_]\w*", text):
            if token.startswith("#"):
                found.add(names.get(token, token))
            elif token.upper() not in _DDB_KEYWORDS and token not in _DDB_FUNCTIONS:
                found.add(token)
    return sorted(found)


_SFN_EXECUTION_DATA = {"StartExecution", "StartSyncExecution", "SendTaskSuccess", "SendTaskFailure"}
_SFN_READS = {"DescribeExecution", "GetExecutionHistory", "DescribeStateMachine", "DescribeStateMachineForExecution"}


class CallMapper:
    """A botocore call (service, operation, parameters) → the IAM requests AWS evaluates for it."""

    def __init__(self, model: TemplateModel) -> None:
        self.model = model
        self.region, self.account = model.resolve.region, model.resolve.account

    def accesses(self, service: str, operation: str, params: Mapping[str, Any]) -> list[Access]:
        method = getattr(self, f"_{service.replace('-', '_')}", None)
        if method is None:
            return [Access(f"{service}:{operation}", "*")]
        result: list[Access] = method(operation, params)
        return result

    # DynamoDB: per table (batch and transaction calls name several), plus the table key's Decrypt
    def _table_arn(self, table: str, index: str | None = None) -> str:
        arn = table if table.startswith("arn:") else f"arn:aws:dynamodb:{self.region}:{self.account}:table/{table}"
        return f"{arn}/index/{index}" if index else arn

    def _dynamodb_table(
        self, action: str, table: str, index: str | None = None, context: Mapping[str, Any] | None = None
    ) -> list[Access]:
        name = table.rsplit("/", 1)[-1]
        out = [Access(f"dynamodb:{action}", self._table_arn(table, index), context or {})]
        encrypted = self.model.tables.get(name)
        if encrypted and action not in {"DescribeTable", "ListTables", "DescribeTimeToLive"}:
            out.append(
                Access(
                    "kms:Decrypt",
                    encrypted.key_arn,
                    {**_context(encrypted.context), "kms:ViaService": f"dynamodb.{self.region}.amazonaws.com"},
                    implicit=f"DynamoDB decrypts the table key of {name}",
                )
            )
        return out

    def _leading_keys(self, table: str, requests: list[Mapping[str, Any]]) -> dict[str, Any]:
        """``dynamodb:LeadingKeys`` of a batch write on ``table``: the partition key value of each request."""
        attribute = self.model.partitions.get(table.rsplit("/", 1)[-1])
        if attribute is None:
            return {}
        values = []
        for request in requests:
            item = (request.get("DeleteRequest") or {}).get("Key") or (request.get("PutRequest") or {}).get("Item")
            value = (item or {}).get(attribute) or {}
            values.append(str(next(iter(value.values()), "")))
        return {"dynamodb:LeadingKeys": sorted(set(values))}

    def _dynamodb(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        if operation == "BatchWriteItem":  # with dynamodb:LeadingKeys: the partition keys it writes or deletes
            return [
                access
                for table, requests in params.get("RequestItems", {}).items()
                for access in self._dynamodb_table("BatchWriteItem", table, None, self._leading_keys(table, requests))
            ]
        if operation in {"BatchGetItem", "BatchWriteItem"}:
            action = "BatchGetItem" if operation == "BatchGetItem" else "BatchWriteItem"
            return [a for table in params.get("RequestItems", {}) for a in self._dynamodb_table(action, table)]
        if operation in {"TransactWriteItems", "TransactGetItems"}:
            out = []
            for item in params.get("TransactItems", []):
                for kind, body in item.items():
                    action = "GetItem" if operation == "TransactGetItems" else _DDB_TRANSACT[kind]
                    out += self._dynamodb_table(action, body["TableName"])
            return out
        if operation == "ListTables":
            return [Access("dynamodb:ListTables", "*")]
        context = {"dynamodb:Attributes": _ddb_attributes(params)} if operation in _DDB_ATTRIBUTE_CALLS else {}
        return self._dynamodb_table(operation, params["TableName"], params.get("IndexName"), context)

    # S3: bucket or object resources, versioned actions, SSE-KMS data keys
    def _s3(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        bucket = params.get("Bucket", "")
        if operation == "DeleteObjects":
            return [
                Access(
                    "s3:DeleteObjectVersion" if obj.get("VersionId") else "s3:DeleteObject",
                    f"arn:aws:s3:::{bucket}/{obj['Key']}",
                )
                for obj in params.get("Delete", {}).get("Objects", [])
            ]
        if operation == "CopyObject":
            return self._s3_copy(bucket, params)
        if operation not in _S3_ACTIONS:
            return [Access(f"s3:{operation}", f"arn:aws:s3:::{bucket}")]
        action, kind = _S3_ACTIONS[operation]
        if params.get("VersionId") and action in _VERSIONED:
            action = _VERSIONED[action]
        if kind == "bucket":
            return [Access(action, f"arn:aws:s3:::{bucket}")]
        key = params.get("Key", "")
        out = [Access(action, f"arn:aws:s3:::{bucket}/{key}")]
        if operation in {"GetObject", "HeadObject"}:
            out += self._s3_kms(bucket, key, "kms:Decrypt")
        elif operation in {"PutObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy"}:
            out += self._s3_kms(bucket, key, "kms:GenerateDataKey", params.get("SSEKMSKeyId"))
            if operation != "PutObject":  # multipart uploads decrypt the data key for each part
                out += self._s3_kms(bucket, key, "kms:Decrypt", params.get("SSEKMSKeyId"))
        elif operation == "CompleteMultipartUpload":
            out += self._s3_kms(bucket, key, "kms:Decrypt")
        return out

    def _s3_copy(self, bucket: str, params: Mapping[str, Any]) -> list[Access]:
        source = params["CopySource"]
        src_bucket, src_key = (
            (source["Bucket"], source["Key"]) if isinstance(source, dict) else source.lstrip("/").split("/", 1)
        )
        return [
            Access("s3:GetObject", f"arn:aws:s3:::{src_bucket}/{src_key}"),
            *self._s3_kms(src_bucket, src_key, "kms:Decrypt"),
            Access("s3:PutObject", f"arn:aws:s3:::{bucket}/{params['Key']}"),
            *self._s3_kms(bucket, params["Key"], "kms:GenerateDataKey"),
        ]

    def _s3_kms(self, bucket: str, key: str, action: str, key_id: str | None = None) -> list[Access]:
        configured = self.model.buckets.get(bucket)
        if configured is None and not key_id:
            return []
        key_arn = self.model.key_arn(key_id) if key_id else None
        bucket_key = configured[1] if configured else False
        arn = key_arn or (configured[0] if configured else "")
        resource = f"arn:aws:s3:::{bucket}" if bucket_key else f"arn:aws:s3:::{bucket}/{key}"
        return [
            Access(
                action,
                arn,
                {"kms:EncryptionContext:aws:s3:arn": resource, "kms:ViaService": f"s3.{self.region}.amazonaws.com"},
                implicit=f"S3 {'encrypts' if 'Generate' in action else 'decrypts'} the object with SSE-KMS",
            )
        ]

    # SQS: the queue by its URL, and the queue key for producers and consumers
    def _sqs(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        arn = self.model.queue_arn(params["QueueUrl"]) if "QueueUrl" in params else "*"
        action = {
            "SendMessageBatch": "SendMessage",
            "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
        }.get(operation, operation)
        out = [Access(f"sqs:{action}", arn)]
        encrypted = self.model.queues.get(arn)
        if encrypted:
            via = {**_context(encrypted.context), "kms:ViaService": f"sqs.{self.region}.amazonaws.com"}
            why = "SQS uses the queue key"
            if action == "SendMessage":
                out += [
                    Access("kms:GenerateDataKey", encrypted.key_arn, via, why),
                    Access("kms:Decrypt", encrypted.key_arn, via, why),
                ]
            elif action == "ReceiveMessage":
                out.append(Access("kms:Decrypt", encrypted.key_arn, via, why))
        return out

    def _sns(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        arn = params.get("TopicArn") or params.get("TargetArn") or "*"
        out = [Access(f"sns:{operation}", arn)]
        encrypted = self.model.topics.get(arn)
        if encrypted and operation in {"Publish", "PublishBatch"}:
            via = {**_context(encrypted.context), "kms:ViaService": f"sns.{self.region}.amazonaws.com"}
            out += [
                Access("kms:GenerateDataKey", encrypted.key_arn, via, "SNS uses the topic key"),
                Access("kms:Decrypt", encrypted.key_arn, via, "SNS uses the topic key"),
            ]
        return out

    # KMS: the key named by id, alias or ARN; Decrypt without a KeyId names it inside the ciphertext
    def _kms(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        key_id = params.get("KeyId") or params.get("DestinationKeyId")
        if not key_id and "CiphertextBlob" in params:
            key_id = _ciphertext_key_id(params["CiphertextBlob"])
        arn = self.model.key_arn(str(key_id)) if key_id else None
        context = {f"kms:EncryptionContext:{k}": v for k, v in (params.get("EncryptionContext") or {}).items()}
        if params.get("EncryptionContext"):
            context["kms:EncryptionContextKeys"] = list(params["EncryptionContext"])
        return [Access(f"kms:{operation}", arn or f"unknown key {key_id!r}", context)]

    # Step Functions: the machine (or execution); with a CMK, the execution role encrypts the data
    def _states(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        machine = params.get("stateMachineArn")
        resource = machine or params.get("executionArn") or "*"
        if operation in {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}:
            # the token does not say which machine issued it locally: the product has one with tasks
            machines = list(self.model.machines) or ["*"]
            machine = resource = machines[0]
        if machine is None and "executionArn" in params:
            parts = str(params["executionArn"]).split(":")
            machine = ":".join([*parts[:5], "stateMachine", parts[6]]) if len(parts) >= 7 else None
        out = [Access(f"states:{operation}", resource)]
        if machine in self.model.machines:
            key_arn, role = self.model.machines[machine]
            context = {
                "kms:EncryptionContext:aws:states:stateMachineArn": machine,
                "kms:ViaService": f"states.{self.region}.amazonaws.com",
            }
            if operation in _SFN_EXECUTION_DATA:
                why = "Step Functions encrypts the execution data with the execution role"
                out += [
                    Access("kms:GenerateDataKey", key_arn, context, why, as_role=role),
                    Access("kms:Decrypt", key_arn, context, why, as_role=role),
                ]
            elif operation in _SFN_READS:
                out.append(Access("kms:Decrypt", key_arn, context, "Step Functions decrypts the execution data"))
        return out

    def _lambda(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        name = str(params.get("FunctionName", "*"))
        if not name.startswith("arn:"):
            name = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        action = {"Invoke": "InvokeFunction"}.get(operation, operation)
        return [Access(f"lambda:{action}", name)]

    def _comprehend(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        return [Access(f"comprehend:{operation}", params.get("EndpointArn") or "*")]

    def _connect(self, operation: str, params: Mapping[str, Any]) -> list[Access]:
        # DescribeContact and GetContactAttributes authorize on the contact's ARN
        instance = str(params.get("InstanceId", "*"))
        if not instance.startswith("arn:"):
            instance = f"arn:aws:connect:{self.region}:{self.account}:instance/{instance}"
        contact = params.get("ContactId") or params.get("InitialContactId") or "*"
        return [Access(f"connect:{operation}", f"{instance}/contact/{contact}")]


def unqualified_function_arn(arn: str) -> str:
    """``arn:aws:lambda:<region>:<account>:function:<name>`` of a function, version or alias ARN."""
    return ":".join(arn.split(":")[:7])


#: a Lambda function's ARN, with its version or alias if it has one
_FUNCTION_ARN = re.compile(r"arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(?::[A-Za-z0-9_$-]+)?")


def _context(encryption_context: Mapping[str, str]) -> dict[str, Any]:
    return {f"kms:EncryptionContext:{k}": v for k, v in encryption_context.items()}


def _ciphertext_key_id(blob: Any) -> str | None:
    """moto's ciphertext starts with the key id (AWS's does too, opaquely)."""
    data = blob if isinstance(blob, bytes) else str(blob).encode()
    head = data[:36].decode("ascii", errors="replace")
    return head if len(head) == 36 and head.count("-") == 4 else None


# -- violations and recording ---------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    who: str  # function (and how it acts) or service
    call: str  # the API call, or what the service does
    action: str
    resource: str
    verdict: Verdict
    policies: tuple[str, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    implicit: str = ""

    def missing(self) -> str:
        needed: dict[str, Any] = {"Effect": "Allow", "Action": self.action, "Resource": _redact(self.resource)}
        conditions = {
            k: _redact(v) if isinstance(v, str) else v
            for k, v in self.context.items()
            if k.startswith("kms:EncryptionContext:") or k in {"aws:SourceArn", "kms:ViaService"}
        }
        if conditions:
            needed["Condition (request context)"] = conditions
        return json.dumps(needed, sort_keys=True)

    def __str__(self) -> str:
        how = f" (implicit: {self.implicit})" if self.implicit else ""
        verdict = self.verdict.decision.value
        if self.verdict.statement is not None and not self.verdict.allowed:
            verdict += f" by {json.dumps(self.verdict.statement, sort_keys=True)}"
        elif self.verdict.reason:
            verdict += f": {self.verdict.reason}"
        policies = f"; policies evaluated: {', '.join(self.policies)}" if self.policies else ""
        return (
            f"{self.who}: {self.call} needs {self.action} on {_redact(self.resource)}{how} — {verdict}; "
            f"missing statement: {self.missing()}{policies}"
        )


def _redact(resource: str) -> str:
    """S3 object keys hold (pseudonymous) subject ids: a message names the bucket and the key's first
    segment only, which is what a policy statement names anyway."""
    if resource.startswith("arn:aws:s3:::") and resource.count("/") >= 2:
        bucket_and_prefix = resource.split("/", 2)
        return f"{bucket_and_prefix[0]}/{bucket_and_prefix[1]}/*"
    return resource


@dataclass(frozen=True)
class Acting:
    function: str  # logical id in the template, or a service name resolved against it
    via: str = "handler"


_CURRENT: contextvars.ContextVar[Acting | None] = contextvars.ContextVar("callguard_acting", default=None)
_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"model": None, "mapper": None, "violations": [], "calls": 0, "log": None}


@contextlib.contextmanager
def acting_as(function: str, via: str = "handler") -> Iterator[None]:
    """AWS calls inside the block are the function's (``function``: a logical id, or
    ``service:<POWERTOOLS_SERVICE_NAME>``)."""
    token = _CURRENT.set(Acting(function, via))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def model_for(template: Mapping[str, Any], provisioned: Any) -> TemplateModel:
    """The model of ``template`` with the names and ARNs the local provisioner gave its resources."""
    from local.provision import SKIPPED_TYPES

    created = {k for k, t in provisioned.types.items() if t not in SKIPPED_TYPES}
    return TemplateModel.from_template(
        template,
        {k: v for k, v in provisioned.refs.items() if k in created},
        {k: v for k, v in provisioned.attributes.items() if k in created},
    )


def activate(model: TemplateModel, log_path: str | None = None, *, log: bool = True) -> None:
    """Judge calls against ``model`` from now on (``log_path``, default ``CALLGUARD_PERMISSION_LOG``: append
    violations as JSON lines; ``log=False`` keeps them in :func:`take_violations` only)."""
    path = (log_path or os.environ.get("CALLGUARD_PERMISSION_LOG")) if log else None
    with _LOCK:
        _STATE.update(model=model, mapper=CallMapper(model), log=path)


def active_model() -> TemplateModel | None:
    """The model calls are judged against now (None when the hook is not active)."""
    model: TemplateModel | None = _STATE["model"]
    return model


def deactivate() -> None:
    with _LOCK:
        _STATE.update(model=None, mapper=None)


def take_violations() -> list[Violation]:
    with _LOCK:
        found, _STATE["violations"] = _STATE["violations"], []
        return list(found)


def judged_calls() -> int:
    return int(_STATE["calls"])


def _function_logical(model: TemplateModel, acting: Acting) -> str | None:
    if acting.function.startswith("service:"):
        return model.function_for_service(acting.function.removeprefix("service:"))
    return acting.function if acting.function in model.function_roles else None


def record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    """botocore ``before-parameter-build``: judge the call if a function of the active template makes it."""
    acting = _CURRENT.get()
    template_model: TemplateModel | None = _STATE["model"]
    if acting is None or template_model is None:
        return
    logical = _function_logical(template_model, acting)
    if logical is None:
        return  # a function of another template (e.g. a test's own app)
    service = model.service_model.signing_name
    operation = model.name
    role = template_model.function_roles[logical]
    found = []
    for access in _STATE["mapper"].accesses(service, operation, params):
        principal_arn = access.as_role or role
        principal = Principal(arn=principal_arn, account=template_model.resolve.account)
        verdict = template_model.check(principal, access.action, access.resource, access.context)
        if not verdict.allowed:
            who = f"{logical} ({acting.via})"
            if access.as_role:
                who += f" via {template_model.roles.get(access.as_role, access.as_role)}"
            found.append(
                Violation(
                    who=who,
                    call=f"{service}:{operation}",
                    action=access.action,
                    resource=access.resource,
                    verdict=verdict,
                    policies=tuple(template_model.policy_names(principal_arn)),
                    context=access.context,
                    implicit=access.implicit,
                )
            )
    _report(found, {(logical, f"{service}:{operation}")}, calls=1)


def _report(found: list[Violation], judged: set[tuple[str, str]], *, calls: int) -> None:
    """Keep ``found`` for :func:`take_violations`; log each violation, and each (function, call) pair
    the first time this process sees it (the coverage summary), to the active log."""
    with _LOCK:
        _STATE["calls"] += calls
        _STATE["violations"].extend(found)
        log = _STATE["log"]
        first = sorted(judged - _SEEN)
        _SEEN.update(judged)
    if first and log:  # which function made which call, once per process: the coverage summary
        with open(log, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps({"judged": list(pair)}) + "\n" for pair in first))
    for violation in found:
        logger.error("permission denied in AWS: %s", violation)
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"violation": str(violation)}) + "\n")


def judged_pairs() -> set[tuple[str, str]]:
    """Every (function, ``service:operation``) judged in this process so far."""
    with _LOCK:
        return set(_SEEN)


def absorb(found: list[Violation], judged: set[tuple[str, str]]) -> None:
    """Verdicts reached in another process (an API worker, :mod:`local.workers`) on calls it made for a
    function of the active template: recorded and logged here as if the calls had been made here."""
    _report(list(found), set(judged), calls=0)


_SEEN: set[tuple[str, str]] = set()
_INSTALLED = {"done": False}


def install() -> None:
    """Register :func:`record` for every botocore session created from now on (once per process),
    and on boto3's default session if it already exists."""
    if _INSTALLED["done"]:
        return
    import boto3
    import botocore.handlers

    botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", record))
    if boto3.DEFAULT_SESSION is not None:
        boto3.DEFAULT_SESSION.events.register("before-parameter-build", record)
    _INSTALLED["done"] = True


# -- what services do on the product's behalf ----------------------------------------------------------


def _service(name: str, account: str) -> Principal:
    return Principal(service=name, account=account)


def service_principal_violations(model: TemplateModel) -> list[Violation]:
    """Every service principal the template relies on, checked against resource, key and trust policies."""
    return _run_service_checks(model).found


def service_principals_checked(model: TemplateModel) -> set[str]:
    """The services :func:`service_principal_violations` makes act (to compare with those the template names)."""
    return _run_service_checks(model).exercised


def _run_service_checks(model: TemplateModel) -> _ServiceChecks:
    checks = _ServiceChecks(model)
    for logical, res in model.template["Resources"].items():
        check = getattr(checks, "_" + res["Type"].replace("::", "_").lower(), None)
        if check is not None:
            check(logical, res.get("Properties", {}))
    return checks


class _ServiceChecks:
    """One method per resource type that makes a service act (named after the type)."""

    def __init__(self, model: TemplateModel) -> None:
        self.model, self.r = model, model.resolve
        self.account, self.region = model.resolve.account, model.resolve.region
        self.found: list[Violation] = []
        self.exercised: set[str] = set()

    def service(self, name: str) -> Principal:
        self.exercised.add(name)
        return Principal(service=name, account=self.account)

    def role(self, arn: str) -> Principal:
        return Principal(arn=arn, account=self.account)

    def need(self, who: str, call: str, principal: Principal, action: str, resource: str, context: Any) -> None:
        verdict = self.model.check(principal, action, resource, context)
        if not verdict.allowed:
            policies = tuple(self.model.policy_names(principal.arn))
            self.found.append(Violation(who, call, action, resource, verdict, policies, dict(context)))

    def assume(self, service: str, role_arn: str, why: str, source_arn: str = "") -> None:
        self.exercised.add(service)
        context = {"aws:SourceAccount": self.account, **({"aws:SourceArn": source_arn} if source_arn else {})}
        request = Request(self.service(service), "sts:AssumeRole", role_arn, context)
        verdict = authorize(request, resource=self.model.trust.get(role_arn, {}))
        if not verdict.allowed:
            self.found.append(Violation(f"service {service}", why, "sts:AssumeRole", role_arn, verdict))

    def _aws_lambda_function(self, logical: str, props: Mapping[str, Any]) -> None:
        self.assume("lambda.amazonaws.com", self.model.function_roles[logical], f"runs {logical}")

    def _aws_cloudwatch_alarm(self, logical: str, props: Mapping[str, Any]) -> None:
        alarm_arn = self.r.attribute(logical, "Arn")
        cw, who = self.service("cloudwatch.amazonaws.com"), f"service cloudwatch.amazonaws.com ({logical})"
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for topic in (str(a) for a in self.r(props.get(key, [])) if ":sns:" in str(a)):
                context = {"aws:SourceAccount": self.account, "aws:SourceArn": alarm_arn}
                self.need(who, f"alarm {key}", cw, "sns:Publish", topic, context)
                encrypted = self.model.topics.get(topic)
                if encrypted is None:
                    continue
                for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    context_k = {**context, **_context(encrypted.context)}
                    self.need(who, f"publish to {topic}", cw, action, encrypted.key_arn, context_k)

    def _aws_stepfunctions_statemachine(self, logical: str, props: Mapping[str, Any]) -> None:
        machine_arn = str(self.r.attribute(logical, "Arn"))
        role = str(self.r(props["RoleArn"]))
        self.assume("states.amazonaws.com", role, f"runs {logical}", machine_arn)
        who = f"{logical} execution role"
        if machine_arn in self.model.machines:
            key_arn, _ = self.model.machines[machine_arn]
            context = {
                "kms:EncryptionContext:aws:states:stateMachineArn": machine_arn,
                "kms:ViaService": f"states.{self.region}.amazonaws.com",
            }
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                self.need(who, "encrypt execution data", self.role(role), action, key_arn, context)
        if machine_arn in self.model.machines and props.get("LoggingConfiguration", {}).get("Destinations"):
            # vended log delivery reads the encrypted execution data to write the execution log
            key_arn, _ = self.model.machines[machine_arn]
            delivery = self.service("delivery.logs.amazonaws.com")
            # vended log delivery names this account and a logs ARN of it (AWS's documented key policy
            # for log delivery conditions on both): the log group it delivers to
            group = props["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
            context = {"aws:SourceAccount": self.account, "aws:SourceArn": str(self.r(group))}
            self.need("service delivery.logs", f"deliver {logical}'s logs", delivery, "kms:Decrypt", key_arn, context)
        definition = props.get("DefinitionString")
        text = json.dumps(self.r(definition)) if definition is not None else ""
        # every function, version or alias a task names, exactly as named (an alias' ARN is not its function's)
        for fn_arn in sorted(set(_FUNCTION_ARN.findall(text))):
            fn_logical = self.model.function_logical(fn_arn) or fn_arn
            self.need(who, f"invoke task {fn_logical}", self.role(role), "lambda:InvokeFunction", fn_arn, {})

    def _aws_logs_loggroup(self, logical: str, props: Mapping[str, Any]) -> None:
        if not props.get("KmsKeyId"):
            return
        key_arn = self.model._key(self.r(props["KmsKeyId"]))
        group_arn = str(self.r.attribute(logical, "Arn")).removesuffix(":*")
        logs = self.service(f"logs.{self.region}.amazonaws.com")
        for action in ("kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"):
            context = {"kms:EncryptionContext:aws:logs:arn": group_arn}
            self.need(f"service logs ({logical})", "encrypt log events", logs, action, key_arn, context)

    def _aws_events_rule(self, logical: str, props: Mapping[str, Any]) -> None:
        context = {"aws:SourceArn": self.r.attribute(logical, "Arn"), "aws:SourceAccount": self.account}
        events = self.service("events.amazonaws.com")
        for arn in (str(self.r(t["Arn"])) for t in props.get("Targets", [])):
            if ":lambda:" in arn:
                self.need(f"service events ({logical})", "invoke target", events, "lambda:InvokeFunction", arn, context)

    def _aws_scheduler_schedule(self, logical: str, props: Mapping[str, Any]) -> None:
        target = props["Target"]
        role = str(self.r(target["RoleArn"]))
        self.assume("scheduler.amazonaws.com", role, f"runs {logical}", str(self.r.attribute(logical, "Arn")))
        arn = str(self.r(target["Arn"]))
        self.need(f"{logical} schedule role", "invoke target", self.role(role), "lambda:InvokeFunction", arn, {})

    def _aws_lambda_eventsourcemapping(self, logical: str, props: Mapping[str, Any]) -> None:
        fn = self.model.function_logical(str(self.r(props["FunctionName"])))
        if fn is None:
            raise ValueError(f"{logical}: its FunctionName names no function of the template")
        principal, who = self.role(self.model.function_roles[fn]), f"{fn} (event source mapping)"
        source = str(self.r(props["EventSourceArn"]))
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            self.need(who, "poll the queue", principal, action, source, {})
        encrypted = self.model.queues.get(source)
        if encrypted:
            context = {**_context(encrypted.context), "kms:ViaService": f"sqs.{self.region}.amazonaws.com"}
            self.need(who, "poll the queue", principal, "kms:Decrypt", encrypted.key_arn, context)

    def _aws_apigateway_method(self, logical: str, props: Mapping[str, Any]) -> None:
        if props.get("Integration", {}).get("Type") == "AWS_PROXY":
            self.found += _api_gateway_invoke(self.model, logical, props)

    def _aws_cognito_userpool(self, logical: str, props: Mapping[str, Any]) -> None:
        context = {"aws:SourceArn": self.r.attribute(logical, "Arn"), "aws:SourceAccount": self.account}
        cognito = self.service("cognito-idp.amazonaws.com")
        for trigger, config in (props.get("LambdaConfig") or {}).items():
            arn = str(self.r(config["LambdaArn"] if isinstance(config, dict) else config))
            self.need(
                f"service cognito-idp ({trigger})", "invoke trigger", cognito, "lambda:InvokeFunction", arn, context
            )

    def _aws_cloudtrail_trail(self, logical: str, props: Mapping[str, Any]) -> None:
        self.exercised.add("cloudtrail.amazonaws.com")
        self.found += _cloudtrail(self.model, logical, props)

    def _aws_s3_bucket(self, logical: str, props: Mapping[str, Any]) -> None:
        logging_config = props.get("LoggingConfiguration")
        if not logging_config:
            return
        target = str(self.r(logging_config["DestinationBucketName"]))
        prefix = str(self.r(logging_config.get("LogFilePrefix", "")))
        source = self.r.attribute(logical, "Arn")
        context = {"aws:SourceArn": source, "aws:SourceAccount": self.account}
        obj = f"arn:aws:s3:::{target}/{prefix}2026-01-01-00-00-00-0000000000000000"
        s3 = self.service("logging.s3.amazonaws.com")
        self.need(f"service logging.s3 ({logical})", "deliver access logs", s3, "s3:PutObject", obj, context)

    def _aws_cloudfront_distribution(self, logical: str, props: Mapping[str, Any]) -> None:
        """CloudFront reads the console's files through origin access control (the bucket policy)."""
        distribution = f"arn:aws:cloudfront::{self.account}:distribution/{self.r({'Ref': logical})}"
        for origin in props.get("DistributionConfig", {}).get("Origins", []):
            domain = origin.get("DomainName")
            if "OriginAccessControlId" not in origin or not (isinstance(domain, dict) and "Fn::GetAtt" in domain):
                continue
            bucket = str(self.r({"Ref": domain["Fn::GetAtt"][0]}))
            cloudfront = self.service("cloudfront.amazonaws.com")
            context = {"aws:SourceArn": distribution, "aws:SourceAccount": self.account}
            self.need(f"service cloudfront ({logical})", "read the console's files", cloudfront, "s3:GetObject",
                      f"arn:aws:s3:::{bucket}/console/index.html", context)  # fmt: skip

    def _aws_apigateway_account(self, logical: str, props: Mapping[str, Any]) -> None:
        if props.get("CloudWatchRoleArn"):
            self.exercised.add("apigateway.amazonaws.com")
            role = str(self.r(props["CloudWatchRoleArn"]))
            self.assume("apigateway.amazonaws.com", role, "push execution and access logs")


def _api_gateway_invoke(model: TemplateModel, logical: str, props: Mapping[str, Any]) -> list[Violation]:
    r = model.resolve
    resources = model.template["Resources"]
    api = str(r(props["RestApiId"]))

    def path_of(resource: Any) -> str:
        if "Fn::GetAtt" in resource:
            return ""
        node = resources[resource["Ref"]]["Properties"]
        return f"{path_of(node['ParentId'])}/{node['PathPart']}"

    # a request for /v1/calls/<id> carries the id: path parameters become sample values
    path = re.sub(r"\{[^}]+\}", "sample-id", path_of(props["ResourceId"]))
    stages = [str(r(s["Properties"]["StageName"])) for s in resources.values() if s["Type"] == "AWS::ApiGateway::Stage"]
    # ``arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function, version or alias ARN>/invocations``
    targets = _FUNCTION_ARN.findall(str(r(props["Integration"]["Uri"])))
    found = []
    if len(targets) != 1 or model.function_logical(targets[0]) is None:
        return [
            Violation(f"service apigateway ({logical})", f"{props['HttpMethod']} {path}", "lambda:InvokeFunction",
                      ", ".join(targets) or "no function",
                      Verdict(Decision.IMPLICIT_DENY, reason="the integration names no function of the template"))
        ]  # fmt: skip
    (target,) = targets
    for stage in stages:
        source = f"arn:aws:execute-api:{r.region}:{r.account}:{api}/{stage}/{props['HttpMethod']}{path}"
        ctx = {"aws:SourceArn": source, "aws:SourceAccount": r.account}
        principal = _service("apigateway.amazonaws.com", r.account)
        verdict = model.check(principal, "lambda:InvokeFunction", target, ctx)
        if not verdict.allowed:
            found.append(
                Violation(
                    f"service apigateway ({logical})",
                    f"{props['HttpMethod']} {path}",
                    "lambda:InvokeFunction",
                    target,
                    verdict,
                    (),
                    ctx,
                )
            )
    return found


def _cloudtrail(model: TemplateModel, logical: str, props: Mapping[str, Any]) -> list[Violation]:
    r = model.resolve
    account, region = r.account, r.region
    trail_arn = r.attribute(logical, "Arn")
    bucket = str(r(props["S3BucketName"]))
    prefix = f"{r(props['S3KeyPrefix'])}/" if props.get("S3KeyPrefix") else ""
    trail = _service("cloudtrail.amazonaws.com", account)
    ctx = {"aws:SourceArn": trail_arn, "aws:SourceAccount": account}
    found = []

    def need(call: str, principal: Principal, action: str, resource: str, context: Mapping[str, Any]) -> None:
        verdict = model.check(principal, action, resource, context)
        if not verdict.allowed:
            found.append(
                Violation(f"service cloudtrail ({logical})", call, action, resource, verdict, (), dict(context))
            )

    need("check the bucket", trail, "s3:GetBucketAcl", f"arn:aws:s3:::{bucket}", ctx)
    log_object = f"arn:aws:s3:::{bucket}/{prefix}AWSLogs/{account}/CloudTrail/{region}/2026/01/01/file.json.gz"
    need("deliver log files", trail, "s3:PutObject", log_object, {**ctx, "s3:x-amz-acl": "bucket-owner-full-control"})
    if props.get("KMSKeyId"):
        key_arn = model._key(r(props["KMSKeyId"]))
        need(
            "encrypt log files",
            trail,
            "kms:GenerateDataKey",
            key_arn,
            {**ctx, "kms:EncryptionContext:aws:cloudtrail:arn": trail_arn},
        )
        need("check the key", trail, "kms:DescribeKey", key_arn, ctx)
    if props.get("CloudWatchLogsRoleArn"):
        role = str(r(props["CloudWatchLogsRoleArn"]))
        request = Request(trail, "sts:AssumeRole", role, ctx)
        verdict = authorize(request, resource=model.trust.get(role, {}))
        if not verdict.allowed:
            found.append(
                Violation(f"service cloudtrail ({logical})", "assume the logs role", "sts:AssumeRole", role, verdict)
            )
        group = str(r(props["CloudWatchLogsLogGroupArn"])).removesuffix(":*")
        stream = f"{group}:log-stream:{account}_CloudTrail_{region}"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            need("deliver to CloudWatch Logs", Principal(arn=role, account=account), action, stream, {})
    return found


# -- what every grant implies ------------------------------------------------------------------------

_TABLE_ACTIONS = {
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
    "dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
}  # fmt: skip


def implied_key_violations(model: TemplateModel) -> list[Violation]:
    """For every function: each KMS-encrypted table, queue or bucket its policies let it use must also be
    usable through its key (the implicit KMS calls), whether or not a test exercises the call."""
    mapper = CallMapper(model)
    found: list[Violation] = []
    for logical, role in sorted(model.function_roles.items()):
        principal = Principal(arn=role, account=model.resolve.account)
        needed: dict[tuple[str, str, str], Access] = {}
        for _, statement in model.identity.get(role, []):
            if statement.get("Effect") == "Allow":
                for access in _implied(mapper, statement):
                    needed[(access.action, access.resource, json.dumps(access.context, sort_keys=True))] = access
        for access in needed.values():
            verdict = model.check(principal, access.action, access.resource, access.context)
            if not verdict.allowed:
                found.append(
                    Violation(
                        f"{logical} (its policy's grants)",
                        "use what its policy grants",
                        access.action,
                        access.resource,
                        verdict,
                        tuple(model.policy_names(role)),
                        access.context,
                        access.implicit,
                    )
                )
    return found


def _implied(mapper: CallMapper, statement: Mapping[str, Any]) -> list[Access]:
    """The KMS calls AWS makes for the caller when it uses what ``statement`` allows."""
    actions = {str(a) for a in _as_list(statement.get("Action"))}
    out: list[Access] = []
    for resource in (str(x) for x in _as_list(statement.get("Resource"))):
        if actions & _TABLE_ACTIONS and ":table/" in resource and "*" not in resource:
            table = resource.split(":table/", 1)[1].split("/", 1)[0]
            out += mapper._dynamodb_table("GetItem", table)[1:]
        if ":sqs:" in resource:
            for action in {"SendMessage", "ReceiveMessage"} & {a.removeprefix("sqs:") for a in actions}:
                out += mapper._sqs(action, {"QueueUrl": _queue_url(resource)})[1:]
        if resource.startswith("arn:aws:s3:::") and "/" in resource:
            bucket, key = resource.removeprefix("arn:aws:s3:::").split("/", 1)
            if "s3:GetObject" in actions:
                out += mapper._s3_kms(bucket, key, "kms:Decrypt")
            if "s3:PutObject" in actions:
                out += mapper._s3_kms(bucket, key, "kms:GenerateDataKey")
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _queue_url(arn: str) -> str:
    _, _, _, region, account, name = arn.split(":", 5)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
