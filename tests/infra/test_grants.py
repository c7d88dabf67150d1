"""Every role's effective permissions in the synthesized template, against the grants table.

Effective: every statement of every policy attached to the role (customer-managed, inline, the
role's own) and every key-policy statement that names the role. Resources are rendered with
logical ids (``<DataAuditE4D9F575>/index/by_expiry``), so a statement on the wrong table is as
visible as a wrong action. The test also mutates the template to prove it catches a step that
gains a permission outside its row, and checks the promises of the table for every role that is
not in it: no one else deletes subject keys or audit entries, signs anchors or writes anchors.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from callguard.names import GSI_BY_EXPIRY, GSI_BY_SUBJECT
from infra.grants import GRANTS, PRIVACY_STEP_ROLES, Cond, Res, conditions
from tests.conftest import Synth

pytestmark = pytest.mark.infra

Permission = tuple[str, str, str]  # action, rendered resource, condition (JSON)
REGION = "eu-central-1"


def render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{value['Fn::GetAtt'][0]}>"
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(render(p) for p in parts)
    return json.dumps(value, sort_keys=True)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(statement: dict[str, Any]) -> Iterator[Permission]:
    if statement.get("Effect") != "Allow":
        return
    condition = json.dumps(statement.get("Condition") or {}, sort_keys=True)
    for action in _list(statement["Action"]):
        for resource in _list(statement.get("Resource", "*")):
            yield action, render(resource), condition


def _policy_statements(template: dict[str, Any], role: str) -> Iterator[dict[str, Any]]:
    for logical, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind in {"AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"} and {"Ref": role} in props.get("Roles", []):
            yield from props["PolicyDocument"]["Statement"]
        if logical == role and kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield from policy["PolicyDocument"]["Statement"]


def effective(template: dict[str, Any], role: str) -> set[Permission]:
    found: set[Permission] = set()
    for statement in _policy_statements(template, role):
        found |= set(_statements(statement))
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::KMS::Key":
            continue
        for statement in resource["Properties"]["KeyPolicy"]["Statement"]:
            if statement.get("Principal", {}).get("AWS") == {"Fn::GetAtt": [role, "Arn"]}:
                found |= {(action, f"<{logical}>", c) for action, _, c in _statements(statement)}
    return found


class Names:
    """Logical ids of the resources the table names, found in the template."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.r = template["Resources"]
        aliases = {
            v["Properties"]["AliasName"]: v["Properties"]["TargetKeyId"]["Fn::GetAtt"][0]
            for v in self.r.values()
            if v["Type"] == "AWS::KMS::Alias"
        }
        table = self.one
        self.arns: dict[Res, str] = {
            Res.CALLS: table("DataCalls", "AWS::DynamoDB::GlobalTable"),
            Res.SUBJECTS: table("DataSubjects", "AWS::DynamoDB::GlobalTable", not_="DataSubjectKeys"),
            Res.SUBJECT_KEYS: table("DataSubjectKeys", "AWS::DynamoDB::GlobalTable"),
            Res.IDEMPOTENCY: table("DataIdempotency", "AWS::DynamoDB::GlobalTable"),
            Res.PRIVACY: table("DataPrivacy", "AWS::DynamoDB::GlobalTable"),
            Res.AUDIT: table("DataAudit", "AWS::DynamoDB::GlobalTable"),
            Res.TRANSCRIPTS_BUCKET: table("DataTranscripts", "AWS::S3::Bucket"),
            Res.EXPORTS_BUCKET: table("DataExports", "AWS::S3::Bucket"),
            Res.ANCHORS_BUCKET: table("AuditAnchoringAnchors", "AWS::S3::Bucket"),
            Res.DATA_KEY: f"<{aliases['alias/callguard/data']}>",
            Res.EXPORTS_KEY: f"<{aliases['alias/callguard/exports']}>",
            Res.SUBJECT_ID_KEY: f"<{aliases['alias/callguard/subject-ids']}>",
            Res.AUDIT_KEY: f"<{aliases['alias/callguard/audit']}>",
            Res.ANCHOR_KEY: f"<{aliases['alias/callguard/audit-anchor']}>",
        }
        a = self.arns
        a |= {
            Res.CALLS_BY_SUBJECT: f"{a[Res.CALLS]}/index/{GSI_BY_SUBJECT}",
            Res.CALLS_BY_EXPIRY: f"{a[Res.CALLS]}/index/{GSI_BY_EXPIRY}",
            Res.SUBJECTS_BY_EXPIRY: f"{a[Res.SUBJECTS]}/index/{GSI_BY_EXPIRY}",
            Res.PRIVACY_BY_EXPIRY: f"{a[Res.PRIVACY]}/index/{GSI_BY_EXPIRY}",
            Res.AUDIT_BY_EXPIRY: f"{a[Res.AUDIT]}/index/{GSI_BY_EXPIRY}",
            Res.TRANSCRIPT_OBJECTS: f"{a[Res.TRANSCRIPTS_BUCKET]}/transcripts/*",
            Res.EXPORT_OBJECTS: f"{a[Res.EXPORTS_BUCKET]}/exports/*",
            Res.ANCHOR_OBJECTS: f"{a[Res.ANCHORS_BUCKET]}/*",
        }

    def one(self, prefix: str, type_: str, not_: str | None = None) -> str:
        (logical,) = [
            k
            for k, v in self.r.items()
            if k.startswith(prefix) and v["Type"] == type_ and not (not_ and k.startswith(not_))
        ]
        return f"<{logical}>"


def roles_by_name(template: dict[str, Any]) -> dict[str, str]:
    """Table row name → role logical id, from each function's service name."""
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        service = resource["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME", "")
        name = str(service).removeprefix("callguard-").replace("privacy_steps-", "privacy_steps.")
        found[name] = resource["Properties"]["Role"]["Fn::GetAtt"][0]
    return found


def baseline(template: dict[str, Any], role: str) -> set[Permission]:
    """What every function has besides its row: its own log group, X-Ray, its dead-letter queue."""
    resources = template["Resources"]
    (function,) = [
        v for v in resources.values() if v["Type"] == "AWS::Lambda::Function" and v["Properties"]["Role"] == {
            "Fn::GetAtt": [role, "Arn"]}
    ]  # fmt: skip
    props = function["Properties"]
    log_group = f"<{props['LoggingConfig']['LogGroup']['Ref']}>"
    found = {(a, log_group, "{}") for a in ("logs:CreateLogStream", "logs:PutLogEvents")}
    found |= {(a, "*", "{}") for a in ("xray:PutTelemetryRecords", "xray:PutTraceSegments")}
    if "DeadLetterConfig" in props:
        found.add(("sqs:SendMessage", render(props["DeadLetterConfig"]["TargetArn"]), "{}"))
    return found


def expected(template: dict[str, Any], name: str, role: str) -> set[Permission]:
    names = Names(template)
    found = baseline(template, role)
    for grant in GRANTS[name]:
        condition = json.dumps(conditions(grant.condition, REGION) if grant.condition else {}, sort_keys=True)
        found |= {(a, names.arns[r], condition) for a in grant.actions for r in grant.resources}
    if name == "audit_anchor":  # the key policy names the role for Sign (see ProjectKeys.allow_anchor_signing)
        found.add(("kms:Sign", names.arns[Res.ANCHOR_KEY], "{}"))
    return found


def differences(template: dict[str, Any]) -> dict[str, dict[str, list[Permission]]]:
    roles = roles_by_name(template)
    out: dict[str, dict[str, list[Permission]]] = {}
    for name in GRANTS:
        have, want = effective(template, roles[name]), expected(template, name, roles[name])
        if have != want:
            out[name] = {"outside its row": sorted(have - want), "missing": sorted(want - have)}
    return out


def test_every_role_in_the_table_has_exactly_its_row(synth: Synth) -> None:
    assert set(GRANTS) <= set(roles_by_name(synth.template)), "a row of the table has no function"
    assert differences(synth.template) == {}


def test_a_step_that_gains_a_permission_outside_its_row_is_caught(synth: Synth) -> None:
    template = copy.deepcopy(synth.template)
    names, roles = Names(template), roles_by_name(template)
    role = roles[PRIVACY_STEP_ROLES["mark_failed"]]
    (policy,) = [
        v for v in template["Resources"].values()
        if v["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role} in v["Properties"]["Roles"]
    ]  # fmt: skip
    keys_table = names.arns[Res.SUBJECT_KEYS].strip("<>")
    policy["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": {"Fn::GetAtt": [keys_table, "Arn"]}}
    )
    found = differences(template)
    assert set(found) == {PRIVACY_STEP_ROLES["mark_failed"]}
    assert found[PRIVACY_STEP_ROLES["mark_failed"]]["outside its row"] == [
        ("dynamodb:DeleteItem", names.arns[Res.SUBJECT_KEYS], "{}")
    ]
    # ... and one that loses a permission of its row
    template = copy.deepcopy(synth.template)
    role = roles[PRIVACY_STEP_ROLES["shred_subject_key"]]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role} in resource["Properties"]["Roles"]:
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            for statement in statements:
                if isinstance(statement["Action"], list) and "dynamodb:DeleteItem" in statement["Action"]:
                    statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:DeleteItem"]
            statements[:] = [s for s in statements if s["Action"] not in ("dynamodb:DeleteItem", [])]
    assert differences(template)[PRIVACY_STEP_ROLES["shred_subject_key"]]["missing"] == [
        ("dynamodb:DeleteItem", names.arns[Res.SUBJECT_KEYS], "{}")
    ]


def _all_roles(template: dict[str, Any]) -> dict[str, set[Permission]]:
    return {k: effective(template, k) for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"}


def test_only_the_shred_step_and_the_purge_delete_subject_keys(synth: Synth) -> None:
    names, roles = Names(synth.template), roles_by_name(synth.template)
    keys = names.arns[Res.SUBJECT_KEYS]
    deleters = {r for r, perms in _all_roles(synth.template).items()
                if any(a in {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"} and res == keys
                       for a, res, _ in perms)}  # fmt: skip
    assert deleters == {roles[PRIVACY_STEP_ROLES["shred_subject_key"]], roles["purge"]}


def test_only_the_deletion_step_and_the_purge_delete_calls_and_transcripts(synth: Synth) -> None:
    names, roles = Names(synth.template), roles_by_name(synth.template)
    targets = {names.arns[Res.CALLS], names.arns[Res.TRANSCRIPT_OBJECTS]}
    deleting = {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "s3:DeleteObject", "s3:DeleteObjectVersion"}
    deleters = {r for r, perms in _all_roles(synth.template).items()
                if any(a in deleting and res in targets for a, res, _ in perms)}  # fmt: skip
    # ingest, and the importer (the same IngestService), remove only what they have just written when
    # storing the call fails (nothing half-written): the transcript version and the transcript marker;
    # neither batch-deletes or deletes objects outright
    writers = {roles["ingest"], roles["importer"]}
    assert deleters == {roles[PRIVACY_STEP_ROLES["delete_subject_data"]], roles["purge"], *writers}
    for writer in writers:
        undo = {(a, r) for a, r, _ in effective(synth.template, writer) if a in deleting and r in targets}
        assert undo == {("s3:DeleteObjectVersion", names.arns[Res.TRANSCRIPT_OBJECTS]),
                        ("dynamodb:DeleteItem", names.arns[Res.CALLS])}, writer  # fmt: skip


def test_bookkeeping_steps_touch_only_the_request_item_and_append_to_the_audit_log(synth: Synth) -> None:
    names, roles = Names(synth.template), roles_by_name(synth.template)
    allowed = {names.arns[Res.PRIVACY], names.arns[Res.AUDIT]}
    table_key = ("kms:Decrypt", names.arns[Res.DATA_KEY], json.dumps(conditions(Cond.VIA_DYNAMODB, REGION)))
    for step in ("await_verification", "route_request", "complete_request", "mark_rejected", "mark_failed"):
        role = roles[PRIVACY_STEP_ROLES[step]]
        # the data key only as DynamoDB uses it to open the tables the step touches
        data = {(a, r) for a, r, _ in effective(synth.template, role) - baseline(synth.template, role) - {table_key}}
        assert {r for _, r in data} <= allowed, step
        assert {a for a, r in data if r == names.arns[Res.AUDIT]} <= {"dynamodb:PutItem", "dynamodb:Query"}, step


def test_audit_writers_may_only_append_and_only_the_anchoring_signs(synth: Synth) -> None:
    names, roles = Names(synth.template), roles_by_name(synth.template)
    audit, anchors = names.arns[Res.AUDIT], names.arns[Res.ANCHORS_BUCKET]
    for role, perms in _all_roles(synth.template).items():
        on_audit = {a for a, r, _ in perms if r == audit}
        if role == roles["purge"]:
            assert on_audit == {"dynamodb:BatchWriteItem"}  # deletes of anchored, expired days only
        else:
            assert on_audit <= {"dynamodb:PutItem", "dynamodb:Query"}, role
        writes_anchors = {a for a, r, _ in perms if r.startswith(anchors) and not a.startswith(("s3:Get", "s3:List"))}
        signs = {a for a, r, _ in perms if r == names.arns[Res.ANCHOR_KEY] and a in {"kms:Sign", "kms:*"}}
        if role == roles["audit_anchor"]:
            assert (writes_anchors, signs) == ({"s3:PutObject"}, {"kms:Sign"})
        else:
            assert (writes_anchors, signs) == (set(), set()), role


def test_the_anchor_key_lets_administrators_manage_but_not_sign(synth: Synth) -> None:
    names = Names(synth.template)
    key = synth.template["Resources"][names.arns[Res.ANCHOR_KEY].strip("<>")]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    for statement in key["KeyPolicy"]["Statement"]:
        actions = set(_list(statement["Action"]))
        if "kms:Sign" in actions or "kms:*" in actions:
            assert statement["Principal"]["AWS"] == {
                "Fn::GetAtt": [roles_by_name(synth.template)["audit_anchor"], "Arn"]
            }
        assert not {"kms:CreateGrant", "kms:*", "kms:Decrypt"} & actions


def test_every_data_key_grant_of_a_function_carries_a_condition(synth: Synth) -> None:
    """Subject keys only with a subject id in the encryption context, S3/SQS only through the service."""
    names, roles = Names(synth.template), roles_by_name(synth.template)
    allowed = {json.dumps(conditions(c, REGION), sort_keys=True) for c in Cond}
    for name, role in roles.items():
        for action, resource, condition in effective(synth.template, role):
            if resource in {names.arns[Res.DATA_KEY], names.arns[Res.EXPORTS_KEY]} and action.startswith("kms:"):
                assert condition in allowed, (name, action)


USE = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:Sign",
       "kms:GenerateMac", "kms:Decrypt*", "kms:Encrypt*", "kms:*", "kms:CreateGrant"}  # fmt: skip


def test_administrators_manage_the_data_and_subject_id_keys_but_cannot_use_them(synth: Synth) -> None:
    names, stack = Names(synth.template), synth.template["Resources"]
    for res in (Res.DATA_KEY, Res.EXPORTS_KEY, Res.SUBJECT_ID_KEY, Res.ANCHOR_KEY):
        for statement in stack[names.arns[res].strip("<>")]["Properties"]["KeyPolicy"]["Statement"]:
            if "AWS" not in statement.get("Principal", {}) or statement["Principal"]["AWS"] != {
                "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]
            }:
                continue
            granted = USE & set(_list(statement["Action"]))
            if not granted:
                continue
            # use delegated to IAM only for this stack's roles, grants only for AWS services' own resources,
            # the deployment role only while CloudFormation calls
            condition = json.dumps(statement.get("Condition"))
            assert "aws:PrincipalArn" in condition or "kms:GrantIsForAWSResource" in condition, (res, statement)
            if "aws:PrincipalArn" in condition and "cloudformation.amazonaws.com" not in condition:
                named = statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]  # this stack's roles, one by one
                assert {a["Fn::GetAtt"][0] for a in named} == set(synth.resources("AWS::IAM::Role")), res


def test_every_service_principal_in_a_key_policy_is_bound_to_this_account(synth: Synth) -> None:
    for logical, key in synth.resources("AWS::KMS::Key").items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            if "Service" in statement.get("Principal", {}):
                condition = json.dumps(statement.get("Condition") or {})
                assert "aws:SourceAccount" in condition or "kms:EncryptionContext:aws:logs:arn" in condition, (
                    logical,
                    statement["Principal"],
                )


def test_the_trail_records_every_region_and_scheduled_functions_keep_their_failures(synth: Synth) -> None:
    (trail,) = synth.resources("AWS::CloudTrail::Trail").values()
    assert trail["Properties"]["IsMultiRegionTrail"] is True
    functions = synth.resources("AWS::Lambda::Function")
    for prefix in ("AuditAnchoringAnchor", "RetentionPurge", "DeadlinesCheck"):
        (props,) = [f["Properties"] for k, f in functions.items() if k.startswith(prefix)]
        assert "TargetArn" in props["DeadLetterConfig"], prefix
        assert props["ReservedConcurrentExecutions"] == 1, prefix
    for prefix in ("PrivacyApiShredSubjectKey", "PrivacyApiMarkFailed", "AnalysisAnalyze"):
        (props,) = [f["Properties"] for k, f in functions.items() if k.startswith(prefix)]
        assert props["ReservedConcurrentExecutions"] >= 1, prefix
