"""KMS keys: the data CMK, the HMAC key for subject ids, the audit/log key and the audit anchor key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

__all__ = ["KEY_ADMIN_ACTIONS", "TENANT_CONTEXT_KEY", "ProjectKeys"]

#: What the account's administrators may do with a key whose use they must not have: manage its
#: lifecycle and policy, never encrypt, decrypt, sign or create grants for themselves.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
    "kms:CreateAlias",
    "kms:DeleteAlias",
)


_SYMMETRIC_USE = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
_MAC_USE = ["kms:GenerateMac", "kms:VerifyMac"]


def _key_statement(
    sid: str, principal: iam.IPrincipal, actions: list[str], conditions: dict[str, Any] | None = None
) -> iam.PolicyStatement:
    """A key policy statement: in a key's own policy the resource is always the key itself (``*``)."""
    return iam.PolicyStatement(sid=sid, principals=[principal], actions=actions, resources=["*"], conditions=conditions)


def _managed_not_used(stack: Stack, usage: list[str]) -> iam.PolicyDocument:
    """A key policy in which the account's administrators manage the key but cannot use it.

    Use is delegated to IAM only for this stack's roles (named one by one in :meth:`ProjectKeys.finalize`,
    once every role exists), whose policies then grant exactly what each function may do; and to
    the CDK deployment role only while CloudFormation itself calls (creating the tables and the
    state machine). AWS services (DynamoDB) may create grants for the resources they encrypt.
    """
    account = iam.AccountRootPrincipal()
    deployer = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/cdk-*-cfn-exec-role-*"
    return iam.PolicyDocument(
        statements=[
            _key_statement("AdministratorsManageButCannotUse", account, list(KEY_ADMIN_ACTIONS)),
            _key_statement(
                "AwsServicesGrantThemselvesForTheirResources",
                account,
                ["kms:CreateGrant"],
                {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            ),
            _key_statement(
                "UseByTheDeploymentOnlyThroughCloudFormation",
                account,
                usage,
                {
                    "ArnLike": {"aws:PrincipalArn": deployer},
                    "ForAnyValue:StringEquals": {"aws:CalledVia": ["cloudformation.amazonaws.com"]},
                },
            ),
        ]
    )


#: the encryption-context key that binds a listed tenant's subject data keys to that tenant
#: (``callguard.security.crypto``; the default tenant's keys carry v1's context, without it)
TENANT_CONTEXT_KEY = "kms:EncryptionContext:callguard:tenant"


def _tenant_context_guard(tenants: Sequence[str]) -> iam.PolicyStatement:
    """Nobody (any principal, this stack's roles included) may wrap or unwrap a key under a tenant
    context that names no listed tenant: a tenant removed from the configuration loses every use
    of its subject keys at the next deploy, before anything is deleted (offboarding's first step),
    and no code path can mint keys for a tenant the deployment does not serve."""
    return iam.PolicyStatement(
        sid="SubjectKeysOnlyForTheListedTenants",
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=_SYMMETRIC_USE,
        resources=["*"],
        conditions={"Null": {TENANT_CONTEXT_KEY: "false"}, "StringNotEquals": {TENANT_CONTEXT_KEY: sorted(tenants)}},
    )


class ProjectKeys(Construct):
    """Customer-managed keys, rotation on where KMS supports it.

    * ``data`` (symmetric): DynamoDB tables, S3 buckets, SQS queues and the wrapping
      of per-subject data keys. Administrators manage it but cannot use it; use is delegated
      only to this stack's roles, whose policies grant it per function with conditions
      (a subject id in the encryption context, or use through S3/SQS only: ``infra/grants.py``).
    * ``exports`` (symmetric): the exports bucket only, so the functions that may decrypt transcripts
      through S3 (agent view, analysis) cannot read a subject's complete export.
    * ``subject_ids`` (HMAC_256): ``GenerateMac`` over normalised identifiers; administrators
      cannot compute pseudonyms either. A listed tenant's identifiers are MACed with the tenant in
      the message (``callguard.security.identity``), so one phone number is one subject per tenant.
    * with tenants listed, the data key's policy denies every use under a ``callguard:tenant``
      encryption context that names no listed tenant (:func:`_tenant_context_guard`); each listed
      tenant's subject keys are wrapped with its id in that context (README "Tenants", "Keys").
    * ``audit`` (symmetric): CloudTrail logs and CloudWatch log groups, kept apart so
      that those who may read data cannot read or alter the audit trail's key.
    * ``audit_anchor`` (ECC NIST P-256, ``SIGN_VERIFY``): signs the audit chain's anchors. Its
      policy lets administrators manage it but not sign; principals of the account may verify
      (and read the public key); :meth:`allow_anchor_signing` names the one role that may sign.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, removal: RemovalPolicy, tenants: Sequence[str] = ()
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._data_policy = _managed_not_used(stack, _SYMMETRIC_USE)
        if tenants:
            self._data_policy.add_statements(_tenant_context_guard(tenants))
        self._exports_policy = _managed_not_used(stack, _SYMMETRIC_USE)
        self._subject_ids_policy = _managed_not_used(stack, _MAC_USE)
        self.data = kms.Key(
            self,
            "DataKey",
            alias="alias/callguard/data",
            description="callguard: personal data at rest and per-subject data key wrapping",
            enable_key_rotation=True,
            removal_policy=removal,
            policy=self._data_policy,  # CDK adds its statements (the state machine's log delivery) to it
        )
        self.exports = kms.Key(
            self,
            "ExportsKey",
            alias="alias/callguard/exports",
            description="callguard: access and portability exports (readable only by the roles that hand them out)",
            enable_key_rotation=True,
            removal_policy=removal,
            policy=self._exports_policy,
        )
        self.subject_ids = kms.Key(
            self,
            "SubjectIdKey",
            alias="alias/callguard/subject-ids",
            description="callguard: HMAC key that pseudonymises caller identifiers",
            key_spec=kms.KeySpec.HMAC_256,
            key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
            removal_policy=removal,
            policy=self._subject_ids_policy,
        )
        self.audit = kms.Key(
            self,
            "AuditKey",
            alias="alias/callguard/audit",
            description="callguard: CloudTrail and CloudWatch Logs encryption",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        account = iam.AccountRootPrincipal()
        self.audit_anchor = kms.Key(
            self,
            "AuditAnchorKey",
            alias="alias/callguard/audit-anchor",
            description="callguard: signs the audit chain's day anchors and checkpoints (sign: anchoring only)",
            key_spec=kms.KeySpec.ECC_NIST_P256,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            removal_policy=removal,
            policy=iam.PolicyDocument(
                statements=[
                    _key_statement("AdministratorsManageButCannotSign", account, list(KEY_ADMIN_ACTIONS)),
                    _key_statement("AccountPrincipalsMayVerify", account, ["kms:Verify", "kms:GetPublicKey"]),
                ]
            ),
        )
        region = Stack.of(self).region
        self.audit.add_to_resource_policy(
            _key_statement(
                "CloudWatchLogsUseForThisAccountOnly",
                iam.ServicePrincipal(f"logs.{region}.amazonaws.com"),
                ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": f"arn:{Aws.PARTITION}:logs:{region}:{Aws.ACCOUNT_ID}:*"
                    }
                },
            )
        )
        self.audit.add_to_resource_policy(
            _key_statement(
                "CloudTrailEncryptForThisAccountOnly",
                iam.ServicePrincipal("cloudtrail.amazonaws.com"),
                ["kms:GenerateDataKey*"],
                {
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": (
                            f"arn:{Aws.PARTITION}:cloudtrail:*:{Aws.ACCOUNT_ID}:trail/*"
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        self.audit.add_to_resource_policy(
            _key_statement(
                "CloudWatchAlarmsPublishToEncryptedTopics",
                iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                ["kms:Decrypt", "kms:GenerateDataKey*"],
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.audit.add_to_resource_policy(
            _key_statement(
                "CloudTrailDescribeKey",
                iam.ServicePrincipal("cloudtrail.amazonaws.com"),
                ["kms:DescribeKey"],
                {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )

    def finalize(self) -> None:
        """Once every role exists: delegate use of the data, exports and subject-id keys to IAM for
        exactly this stack's roles (their policies then say what each may do), and bind the service
        principals other constructs added to the data key's policy (the state machine's log
        delivery, added by CDK) to this account's log deliveries."""
        stack = Stack.of(self)
        roles = sorted((c for c in stack.node.find_all() if isinstance(c, iam.CfnRole)), key=lambda c: c.node.path)
        arns = [role.attr_arn for role in roles]
        for document, usage in ((self._data_policy, _SYMMETRIC_USE), (self._exports_policy, _SYMMETRIC_USE),
                                (self._subject_ids_policy, _MAC_USE)):  # fmt: skip
            document.add_statements(
                _key_statement(
                    "UseByThisStacksRolesThroughTheirPolicies",
                    iam.AccountRootPrincipal(),
                    usage,
                    {"ArnEquals": {"aws:PrincipalArn": arns}},
                )
            )
        cfn = self.data.node.default_child
        if not isinstance(cfn, kms.CfnKey):
            raise TypeError("the data key's default child is not a CfnKey")
        statements = stack.resolve(self._data_policy)["Statement"]
        for index, statement in enumerate(statements):
            if statement.get("Principal", {}).get("Service") == "delivery.logs.amazonaws.com":
                cfn.add_property_override(
                    f"KeyPolicy.Statement.{index}.Condition",
                    {
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:logs:{stack.region}:{Aws.ACCOUNT_ID}:*"},
                    },
                )

    def allow_anchor_signing(self, role: iam.IRole) -> None:
        """The anchoring function's role, and only it, may sign with the anchor key."""
        self.audit_anchor.add_to_resource_policy(
            # an ECC_NIST_P256 key signs with ECDSA_SHA_256 only
            _key_statement("OnlyTheAnchoringFunctionSigns", iam.ArnPrincipal(role.role_arn), ["kms:Sign"])
        )
