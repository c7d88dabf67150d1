"""Tenant offboarding as synthesized (with the README's tenants): each step's role is exactly its row of
``infra/grants.py``; only the shred step (besides the privacy erasure and the purge) deletes subject
keys, and the offboarding's batch writes reach only listed tenants' partitions and its object
deletions only ``tenants/``; the state machine runs start → shred → delete → verify → certificate,
looping while a step has more, retrying transient errors and never the ones the data decides. A
deployment without a tenant list has none of it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.tenant_offboarding import FINAL_ERRORS, OFFBOARDING_STEPS
from infra.grants import OFFBOARDING_ROLES, PRIVACY_STEP_ROLES, TENANT_GRANTS, Cond, Res, conditions
from infra.workflows.privacy_workflow import THROTTLING
from tests.conftest import Synth
from tests.infra.test_grants import REGION, Names, baseline, effective, roles_by_name

pytestmark = pytest.mark.infra


class TenantNames(Names):
    """The logical ids of the grants table's resources, with the tenants' object prefixes."""

    def __init__(self, template: dict[str, Any]) -> None:
        super().__init__(template)
        a = self.arns
        a[Res.TRANSCRIPT_TENANT_OBJECTS] = f"{a[Res.TRANSCRIPTS_BUCKET]}/tenants/*"
        a[Res.EXPORT_TENANT_OBJECTS] = f"{a[Res.EXPORTS_BUCKET]}/tenants/*"


def _all_roles(template: dict[str, Any]) -> dict[str, set[tuple[str, str, str]]]:
    return {k: effective(template, k) for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"}


def _roles(template: dict[str, Any]) -> dict[str, str]:
    return {k.replace("offboarding-", "offboarding."): v for k, v in roles_by_name(template).items()}


def differences(template: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    names, roles, out = TenantNames(template), _roles(template), {}
    for name, grants in TENANT_GRANTS.items():
        want = baseline(template, roles[name])
        for grant in grants:
            condition = json.dumps(conditions(grant.condition, REGION) if grant.condition else {}, sort_keys=True)
            want |= {(a, names.arns[r], condition) for a in grant.actions for r in grant.resources}
        have = effective(template, roles[name])
        if have != want:
            out[name] = {"outside its row": sorted(have - want), "missing": sorted(want - have)}
    return out


def test_each_offboarding_step_has_exactly_its_row(tenant_synth: Synth) -> None:
    assert set(TENANT_GRANTS) <= set(_roles(tenant_synth.template))
    assert differences(tenant_synth.template) == {}


def test_a_step_that_gains_a_deletion_outside_its_row_is_caught(tenant_synth: Synth) -> None:
    template = copy.deepcopy(tenant_synth.template)
    names, role = TenantNames(template), _roles(template)[OFFBOARDING_ROLES["verify_tenant_gone"]]
    (policy,) = [v for v in template["Resources"].values()
                 if v["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role} in v["Properties"]["Roles"]]  # fmt: skip
    calls = names.arns[Res.CALLS].strip("<>")
    policy["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "dynamodb:BatchWriteItem", "Resource": {"Fn::GetAtt": [calls, "Arn"]}}
    )
    assert differences(template) == {
        OFFBOARDING_ROLES["verify_tenant_gone"]: {
            "outside its row": [("dynamodb:BatchWriteItem", names.arns[Res.CALLS], "{}")],
            "missing": [],
        }
    }


def test_only_the_erasure_the_purge_and_the_offboarding_shred_delete_subject_keys(tenant_synth: Synth) -> None:
    names, roles = TenantNames(tenant_synth.template), _roles(tenant_synth.template)
    keys = names.arns[Res.SUBJECT_KEYS]
    deleting = {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"}
    deleters = {r for r, perms in _all_roles(tenant_synth.template).items()
                if any(a in deleting and res == keys for a, res, _ in perms)}  # fmt: skip
    assert deleters == {roles[PRIVACY_STEP_ROLES["shred_subject_key"]], roles["purge"],
                        roles[OFFBOARDING_ROLES["shred_tenant_keys"]]}  # fmt: skip


def test_offboarding_deletes_only_listed_tenants_partitions_and_objects(tenant_synth: Synth) -> None:
    """DynamoDB: every batch write of an offboarding role carries the ``T#`` leading-keys condition (never
    the default tenant's v1 items, never the processor's journal); S3: only ``tenants/*`` versions."""
    names, roles = TenantNames(tenant_synth.template), _roles(tenant_synth.template)
    guard = json.dumps(conditions(Cond.LISTED_TENANT_PARTITIONS, REGION), sort_keys=True)
    assert json.loads(guard) == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["T#*"]}}
    tenant_objects = {names.arns[Res.TRANSCRIPT_TENANT_OBJECTS], names.arns[Res.EXPORT_TENANT_OBJECTS]}
    for step in OFFBOARDING_STEPS:
        for action, resource, condition in effective(tenant_synth.template, roles[OFFBOARDING_ROLES[step]]):
            if action in {"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"}:
                assert condition == guard, (step, action, resource)
            if action.startswith("s3:Delete"):
                assert resource in tenant_objects, (step, action, resource)


def _machine(synth: Synth) -> dict[str, Any]:
    (machine,) = [m for k, m in synth.resources("AWS::StepFunctions::StateMachine").items() if "Offboarding" in k]
    return machine


def _definition(machine: dict[str, Any]) -> dict[str, Any]:
    body = machine["Properties"]["DefinitionString"]
    if isinstance(body, dict):
        body = "".join(p if isinstance(p, str) else "ARN" for p in body["Fn::Join"][1])
    definition: dict[str, Any] = json.loads(body)
    return definition


def test_the_machine_shreds_before_it_deletes_and_verifies_before_it_certifies(tenant_synth: Synth) -> None:
    machine = _machine(tenant_synth)
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["EncryptionConfiguration"]["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
    states = _definition(machine)["States"]
    order, state = [], _definition(machine)["StartAt"]
    while states[state]["Type"] != "Succeed":  # follow the "no more pages" path
        if states[state]["Type"] == "Task":
            order.append(state)
            # every task passes the tenant only, retries throttling first, never retries the data's errors
            assert states[state]["Parameters"] == {"tenant.$": "$.tenant"}
            retries = states[state]["Retry"]
            assert retries[0]["ErrorEquals"] == THROTTLING
            assert retries[1] == {"ErrorEquals": list(FINAL_ERRORS), "MaxAttempts": 0}
            assert retries[-1]["ErrorEquals"] == ["States.ALL"]
            assert retries[-1]["JitterStrategy"] == "FULL"
            state = states[state]["Next"]
        else:  # a loop: back to the task while it has more
            (loop,) = states[state]["Choices"]
            assert loop["BooleanEquals"] is True
            assert loop["Variable"] == "$.progress.more"
            state = states[state]["Default"]
    assert order == ["StartOffboarding", "ShredTenantKeys", "DeleteTenantData", "VerifyTenantGone",
                     "IssueOffboardingCertificate"]  # fmt: skip
    assert states[state].get("OutputPath") == "$.certificate"


def test_no_function_may_start_the_offboarding_only_an_operator_can(tenant_synth: Synth) -> None:
    """No API route, no tenant's token: no role of the stack holds ``states:StartExecution`` on the machine."""
    (logical,) = [k for k in tenant_synth.resources("AWS::StepFunctions::StateMachine") if "Offboarding" in k]
    starters = {role for role, perms in _all_roles(tenant_synth.template).items()
                if any(a in {"states:StartExecution", "states:*", "*"} and (logical in r or r == "*")
                       for a, r, _ in perms)}  # fmt: skip
    assert starters == set()
    privacy = [k for k in tenant_synth.resources("AWS::StepFunctions::StateMachine") if "PrivacyApi" in k]
    assert any(any(a == "states:StartExecution" and privacy[0] in r for a, r, _ in perms)
               for perms in _all_roles(tenant_synth.template).values())  # the check does see a starter  # fmt: skip


def test_a_deployment_without_tenants_has_no_offboarding(synth: Synth) -> None:
    names = [k for k in synth.template["Resources"] if k.startswith("Offboarding")]
    assert names == []


@pytest.mark.slow
def test_cfn_lint_and_checkov_find_on_the_offboarding_only_what_is_acknowledged_for_the_privacy_workflow(
    tenant_synth: Synth,
) -> None:
    """The independent checks (tests/infra/test_independent_checks.py) judge v1's template; the offboarding
    exists only with tenants, so here they run over that template, and every finding on an offboarding
    resource must be one acknowledged, for the same reason, on its privacy-workflow counterpart (a step
    function, the state machine) in ``infra/findings-acknowledged.yaml``."""
    import fnmatch
    import re

    from tests.infra.test_independent_checks import CHECKOV, acknowledged

    template = str(tenant_synth.outdir / "Callguard.template.json")
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    lint = subprocess.run([cfn_lint, "--append-rules", "cfn_lint_serverless.rules", "-f", "json", "--", template],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    checkov = subprocess.run([str(CHECKOV), "--skip-download", "-f", template, "--framework", "cloudformation",
                              "-o", "json", "--compact", "--quiet"],
                             capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    # (tool, rule, resource, message), as tests/infra/test_independent_checks.py reads both reports
    report = json.loads(checkov.stdout)
    report = report[0] if isinstance(report, list) else report
    findings = [("cfn-lint", m["Rule"]["Id"], str((m["Location"].get("Path") or ["", ""])[1]), m["Message"])
                for m in json.loads(lint.stdout or "[]")]  # fmt: skip
    findings += [("checkov", f["check_id"], f["resource"].split(".", 1)[1], f["check_name"])
                 for f in report["results"]["failed_checks"]]  # fmt: skip
    ours = [f for f in findings if f[2].startswith("Offboarding")]
    assert ours, "the checks ran over the offboarding's resources"
    counterpart = {
        r"^OffboardingStep\w+?Function[0-9A-F]{8}$": "PrivacyApiShredSubjectKeyFunction00000000",
        r"^OffboardingStateMachine[0-9A-F]{8}$": "PrivacyApiWorkflowStateMachine00000000",
    }
    entries = acknowledged()
    unacknowledged = []
    for tool, rule, resource, message in ours:
        twin = next((t for p, t in counterpart.items() if re.match(p, resource)), resource)
        if not any((e["tool"], e["rule"]) == (tool, rule) and any(fnmatch.fnmatchcase(twin, r) for r in e["resources"])
                   for e in entries):  # fmt: skip
            unacknowledged.append(f"{tool} {rule} {resource}: {message}")
    assert unacknowledged == []
