"""Tenants in the template: without a list, exactly v1's resources; with one, v1's plus each tenant's identity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.names import ROUTES, Env, Scope, full_scope
from callguard.retention.policy import DataCategory
from callguard.security.tenancy import TenantDirectory
from callguard.security.tenant_settings import TenantSettingsDocument
from infra.constructs.platform import TENANT_AWARE_FUNCTIONS
from tests.conftest import TENANTS_EXAMPLE, Synth, run_cdk_synth
from tests.infra.v1_template import FIXTURE, digest

pytestmark = pytest.mark.infra

API_FUNCTIONS = {r.function for r in ROUTES if r.function}


def _differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "missing": sorted(set(before) - set(after)),
        "added": sorted(set(after) - set(before)),
        "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]),
    }


def test_a_deployment_without_a_tenant_list_synthesizes_v1s_template(synth: Synth) -> None:
    """Every resource and output of the synth of main before tenants existed, with the same properties
    (code assets aside); nothing added. Regenerate the fixture only for an intended v1 change."""
    v1 = json.loads(FIXTURE.read_text())
    now = digest(synth.template)
    resources = _differences(v1["resources"], now["resources"])
    outputs = _differences(v1["outputs"], now["outputs"])
    assert resources == {"missing": [], "added": [], "changed": []}, (
        f"the single-tenant template is no longer v1's; see {FIXTURE.name} ({__name__})"
    )
    assert outputs == {"missing": [], "added": [], "changed": []}
    functions = synth.resources("AWS::Lambda::Function").values()
    assert not any(Env.TENANTS.value in f["Properties"].get("Environment", {}).get("Variables", {}) for f in functions)


def _function_env(synth: Synth, logical: str) -> dict[str, Any]:
    variables: dict[str, Any] = synth.template["Resources"][logical]["Properties"]["Environment"]["Variables"]
    return variables


def _service(synth: Synth, logical: str) -> str:
    """The function's folder (``privacy_steps`` for every step of the privacy workflow)."""
    service = str(_function_env(synth, logical).get("POWERTOOLS_SERVICE_NAME", "")).removeprefix("callguard-")
    return service.partition("-")[0]


def _key_policy(synth: Synth, alias: str) -> list[dict[str, Any]]:
    (target,) = [
        a["Properties"]["TargetKeyId"]["Fn::GetAtt"][0]
        for a in synth.resources("AWS::KMS::Alias").values()
        if a["Properties"]["AliasName"] == alias
    ]
    statements: list[dict[str, Any]] = synth.template["Resources"][target]["Properties"]["KeyPolicy"]["Statement"]
    return statements


#: a listed tenant's transcripts are under ``tenants/<id>/transcripts/`` (``callguard.storage.scope``)
TENANT_TRANSCRIPTS = "/tenants/*/transcripts/*"
TENANT_EXPORTS = "/tenants/*/exports/*"


def _without_tenant_transcripts(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A managed policy's statements with the listed tenants' transcript and export objects taken out again."""
    statements: list[dict[str, Any]] = json.loads(json.dumps(policy["Properties"]["PolicyDocument"]["Statement"]))
    for statement in statements:
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        kept = [t for t in targets if TENANT_TRANSCRIPTS not in json.dumps(t) and TENANT_EXPORTS not in json.dumps(t)]
        statement["Resource"] = kept[0] if len(kept) == 1 else kept
    return statements


def _without_tenants(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A managed policy's statements with every object of a listed tenant (``/tenants/…``) taken out again."""
    statements: list[dict[str, Any]] = json.loads(json.dumps(policy["Properties"]["PolicyDocument"]["Statement"]))
    for statement in statements:
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        kept = [target for target in targets if "/tenants/" not in json.dumps(target)]
        statement["Resource"] = kept[0] if len(kept) == 1 else kept
    return statements


def test_listing_tenants_only_adds_to_v1_and_changes_no_v1_resource_but_the_tenant_wiring(
    synth: Synth, tenant_synth: Synth
) -> None:
    v1, multi = digest(synth.template)["resources"], digest(tenant_synth.template)["resources"]
    # tenant offboarding (tests/infra/test_offboarding_infra.py) exists only with tenants: set aside here
    multi = {k: v for k, v in multi.items() if not k.startswith("Offboarding")}
    diff = _differences(v1, multi)
    assert diff["missing"] == []
    resources = tenant_synth.template["Resources"]
    changed: dict[str, list[str]] = {}
    for logical in diff["changed"]:
        changed.setdefault(resources[logical]["Type"], []).append(logical)
    assert set(changed) == {
        "AWS::Lambda::Function",  # the tenant wiring of the functions, below
        "AWS::KMS::Key",  # the data key refuses unlisted tenants' contexts
        "AWS::CloudWatch::Alarm",  # every alarm also notifies each listed tenant's contacts
        "AWS::StepFunctions::StateMachine",  # the privacy workflow hands each step the request's tenant
        "AWS::IAM::ManagedPolicy",  # the roles that read or remove transcripts or exports reach the listed tenants' too
        "AWS::Events::Rule",  # the import rule routes each listed tenant's upload prefixes too
    }, changed
    for logical in changed["AWS::IAM::ManagedPolicy"]:
        before, after = synth.template["Resources"][logical], resources[logical]
        if "Importer" in logical:  # its tenants' upload prefixes and transcripts (infra/constructs/call_import.py)
            assert "/tenants/acme-energie/Analysis/Voice/*" in json.dumps(after), logical
            assert _without_tenants(after) == before["Properties"]["PolicyDocument"]["Statement"], logical
        else:
            assert TENANT_TRANSCRIPTS in json.dumps(after) or TENANT_EXPORTS in json.dumps(after), logical
            assert _without_tenant_transcripts(after) == before["Properties"]["PolicyDocument"]["Statement"], logical
        assert {k: v for k, v in after["Properties"].items() if k != "PolicyDocument"} == {
            k: v for k, v in before["Properties"].items() if k != "PolicyDocument"
        }
    (rule,) = changed["AWS::Events::Rule"]
    keys = resources[rule]["Properties"]["EventPattern"]["detail"]["object"]["key"]
    v1_prefixes = ("Analysis/Voice/", "Analysis/Chat/", "CallAnalytics/")
    assert {k["prefix"] for k in keys} == {f"{t}{p}" for t in ("", "tenants/acme-energie/") for p in v1_prefixes}
    functions = {logical: _service(tenant_synth, logical) for logical in changed["AWS::Lambda::Function"]}
    scheduled = {"importer", "purge", "audit_anchor"}  # act for every tenant, reading the settings document
    tenant_aware = API_FUNCTIONS | {"pre_token", "analyze", "privacy_steps", "deadline_check"} | scheduled
    assert set(functions.values()) == tenant_aware, functions
    for logical, service in functions.items():
        before, after = _function_env(synth, logical), _function_env(tenant_synth, logical)
        rewritten = {k for k in before if before[k] != after.get(k)}  # v1's variables: only the trigger's groups
        assert rewritten == ({Env.GROUP_SCOPES.value} if service == "pre_token" else set()), logical
        settings_only = {"analyze", "privacy_steps", "deadline_check", *scheduled}
        expected = {Env.TENANT_SETTINGS.value} if service in settings_only else (
            set() if service == "pre_token" else {Env.TENANTS.value, Env.TENANT_SETTINGS.value}
        )  # fmt: skip
        assert set(after) - set(before) == expected, logical
    # the offboarding's roles join the stack's roles each key delegates to, and the data key lets its state
    # machine's execution role use it for its own executions' data only (tests/infra/test_offboarding_infra.py)
    offboarding = {"SubjectKeysOnlyForTheListedTenants", "StepFunctionsTenantOffboardingExecutionData"}

    def without_offboarding_roles(statement: dict[str, Any]) -> dict[str, Any]:
        arns = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:PrincipalArn")
        if not arns:
            return statement
        kept = [a for a in arns if not str(a.get("Fn::GetAtt", [""])[0]).startswith("Offboarding")]
        return {**statement, "Condition": {"ArnEquals": {"aws:PrincipalArn": kept}}}

    (data_key,) = [k for k in changed["AWS::KMS::Key"] if "DataKey" in k]
    for key in changed["AWS::KMS::Key"]:
        v1_policy = synth.template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
        tenant_policy = resources[key]["Properties"]["KeyPolicy"]["Statement"]
        rest = [without_offboarding_roles(s) for s in tenant_policy if s.get("Sid") not in offboarding]
        assert rest == v1_policy, key
        added = {s.get("Sid") for s in tenant_policy if s.get("Sid") in offboarding}
        assert added == (offboarding if key == data_key else set()), key
    for alarm in changed["AWS::CloudWatch::Alarm"]:
        before, after = synth.template["Resources"][alarm]["Properties"], resources[alarm]["Properties"]
        assert {k for k in set(before) | set(after) if before.get(k) != after.get(k)} <= {"AlarmActions", "OKActions"}
        assert before["AlarmActions"] == after["AlarmActions"][: len(before["AlarmActions"])]
    added_types = sorted(resources[k]["Type"] for k in diff["added"])
    assert added_types == [
        "AWS::CloudWatch::Dashboard",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolGroup",
        "AWS::Cognito::UserPoolGroup",
        "AWS::SNS::Subscription",
        "AWS::SNS::Topic",
        "AWS::SNS::TopicPolicy",
    ]


def test_each_tenant_has_its_own_platform_client_groups_and_scopes(tenant_synth: Synth) -> None:
    clients = tenant_synth.resources("AWS::Cognito::UserPoolClient")
    machines = {k: v for k, v in clients.items() if v["Properties"].get("AllowedOAuthFlows") == ["client_credentials"]}
    assert len(machines) == 2
    assert "IdentityUserPoolPlatformClient" in "".join(machines)  # v1's client keeps its logical id
    for client in machines.values():
        props = client["Properties"]
        assert props["GenerateSecret"] is True
        scopes = {json.dumps(s) for s in props["AllowedOAuthScopes"]}
        assert len(scopes) == 2
        assert all("calls:write" in s or "routing:decide" in s for s in scopes)
    groups = {g["Properties"]["GroupName"] for g in tenant_synth.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"agent", "compliance", "acme-energie:agent", "acme-energie:compliance"}
    (pre_token,) = [k for k in tenant_synth.resources("AWS::Lambda::Function") if "PreToken" in k]
    mapping = json.loads(_function_env(tenant_synth, pre_token)[Env.GROUP_SCOPES.value])
    assert mapping["acme-energie:agent"] == mapping["agent"] == [full_scope(Scope.CALLS_READ)]
    assert mapping["acme-energie:compliance"] == ["callguard/privacy:manage"]
    outputs = tenant_synth.template["Outputs"]
    assert any(v.get("Description") == "platform client of tenant acme-energie" for v in outputs.values())


def test_the_api_functions_map_each_platform_client_to_its_tenant(tenant_synth: Synth) -> None:
    clients = {
        k for k, v in tenant_synth.resources("AWS::Cognito::UserPoolClient").items()
        if v["Properties"].get("AllowedOAuthFlows") == ["client_credentials"]
    }  # fmt: skip
    for logical, function in tenant_synth.resources("AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if _service(tenant_synth, logical) not in API_FUNCTIONS:
            assert Env.TENANTS.value not in variables, logical
            continue
        joined = variables[Env.TENANTS.value]["Fn::Join"]
        refs = {part["Ref"] for part in joined[1] if isinstance(part, dict)}
        assert refs == clients, logical
        # resolved with stand-in client ids, it is a directory of two tenants with one client each
        text = "".join(part if isinstance(part, str) else f"id-{part['Ref']}" for part in joined[1])
        directory = TenantDirectory.from_env({Env.TENANTS.value: text})
        assert directory.tenants == {"default", "acme-energie"}
        assert sorted((directory.clients or {}).values()) == ["acme-energie", "default"]


# -- runtime settings, keys, alarms and scorecards per tenant ---------------------------------------------


def test_the_tenant_aware_functions_and_only_they_carry_each_listed_tenants_settings(tenant_synth: Synth) -> None:
    tenant_aware = {"analyze", "privacy_steps", "deadline_check", "importer", "purge", "audit_anchor"}
    assert tenant_aware | API_FUNCTIONS == TENANT_AWARE_FUNCTIONS
    seen = set()
    for logical, function in tenant_synth.resources("AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        service = _service(tenant_synth, logical)
        if service not in TENANT_AWARE_FUNCTIONS:
            assert Env.TENANT_SETTINGS.value not in variables, logical
            if service.startswith("offboarding"):  # only the ids it may offboard, no settings
                assert json.loads(variables[Env.OFFBOARDABLE_TENANTS.value]) == ["acme-energie"], logical
            continue
        seen.add(service)
        document = TenantSettingsDocument.from_env(variables[Env.TENANT_SETTINGS.value])
        assert set(document.tenants) == {"acme-energie"}  # the default tenant keeps v1's variables
        acme = document.settings_of("acme-energie")
        assert acme.retention[DataCategory.TRANSCRIPTS.value] == 30
        assert acme.intents is not None
        assert acme.routing == {
            "after_hours_queue": "acme-callback",
            "base_priority": 3,
            "skills": {
                "address_change": "service",
                "billing": "billing",
                "cancellation": "retention",
                "general": "service",
                "meter_reading": "metering",
            },
        }
        # Lambda allows 4 KB of environment; tokens (ARNs, names) resolve to strings of about this length
        text = "".join(v if isinstance(v, str) else "x" * 90 for v in variables.values()) + "".join(variables)
        assert len(text.encode()) < 4096, (logical, len(text.encode()))
    assert seen == TENANT_AWARE_FUNCTIONS


def test_the_data_key_refuses_every_principal_a_tenant_context_of_no_listed_tenant(
    synth: Synth, tenant_synth: Synth
) -> None:
    sid = "SubjectKeysOnlyForTheListedTenants"
    assert not any(s.get("Sid") == sid for s in _key_policy(synth, "alias/callguard/data"))
    (guard,) = [s for s in _key_policy(tenant_synth, "alias/callguard/data") if s.get("Sid") == sid]
    assert guard["Effect"] == "Deny"
    assert guard["Principal"] == {"AWS": "*"}
    assert guard["Condition"] == {
        "Null": {"kms:EncryptionContext:callguard:tenant": "false"},
        "StringNotEquals": {"kms:EncryptionContext:callguard:tenant": ["acme-energie"]},
    }
    for alias in ("alias/callguard/exports", "alias/callguard/subject-ids"):
        assert not any(s.get("Sid") == sid for s in _key_policy(tenant_synth, alias))


def test_each_listed_tenants_alarm_contacts_hear_of_every_alarm_on_a_topic_of_their_own(tenant_synth: Synth) -> None:
    topics = tenant_synth.resources("AWS::SNS::Topic")
    (tenant_topic,) = [k for k in topics if "Tenantacmeenergie" in k]
    assert topics[tenant_topic]["Properties"]["KmsMasterKeyId"]  # encrypted like the operations topic
    (subscription,) = tenant_synth.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "noc@acme-energie.example"
    assert subscription["Properties"]["TopicArn"] == {"Ref": tenant_topic}
    alarms = tenant_synth.resources("AWS::CloudWatch::Alarm")
    assert alarms
    for logical, alarm in alarms.items():
        assert {"Ref": tenant_topic} in alarm["Properties"]["AlarmActions"], logical
        assert {"Ref": tenant_topic} in alarm["Properties"]["OKActions"], logical
    (policy,) = [p for p in tenant_synth.resources("AWS::SNS::TopicPolicy").values()
                 if {"Ref": tenant_topic} in p["Properties"]["Topics"]]  # fmt: skip
    assert any(s.get("Sid") == "CloudWatchAlarmsOfThisAccountPublish"
               for s in policy["Properties"]["PolicyDocument"]["Statement"])  # fmt: skip


def test_each_listed_tenant_has_a_scorecard_over_its_own_metrics(synth: Synth, tenant_synth: Synth) -> None:
    def bodies(s: Synth) -> dict[str, str]:
        dashboards = s.resources("AWS::CloudWatch::Dashboard").values()
        found = {}
        for d in dashboards:
            body = d["Properties"]["DashboardBody"]
            text = body if isinstance(body, str) else json.dumps(body)
            found[d["Properties"]["DashboardName"]] = text
        return found

    assert set(bodies(synth)) == {"callguard-scorecard"}
    dashboards = bodies(tenant_synth)
    assert set(dashboards) == {"callguard-scorecard", "callguard-scorecard-acme-energie"}
    assert dashboards["callguard-scorecard"] == bodies(synth)["callguard-scorecard"]  # v1's, unchanged
    acme = dashboards["callguard-scorecard-acme-energie"]
    assert '\\"tenant\\",\\"acme-energie\\"' in acme or '"tenant","acme-energie"' in acme
    assert acme.count("acme-energie") >= 8  # every metric of every widget carries the tenant


def _payloads(synth: Synth) -> list[dict[str, Any]]:
    """Every Lambda task's payload in the privacy workflow's definition (ARNs stood in)."""
    (machine,) = [m for k, m in synth.resources("AWS::StepFunctions::StateMachine").items() if "PrivacyApi" in k]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("".join(p if isinstance(p, str) else "arn:stand-in" for p in parts))
    found: list[dict[str, Any]] = []

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            parameters = state.get("Parameters")
            if state.get("Type") == "Task" and parameters is not None:
                # a task-token invocation names the payload; an invocation of the response only is the payload
                found.append(parameters.get("Payload", parameters))
            for branch in state.get("Branches", []):
                walk(branch["States"])

    walk(definition["States"])
    return found


def test_the_privacy_workflow_hands_every_step_the_requests_tenant_only_when_tenants_are_listed(
    synth: Synth, tenant_synth: Synth
) -> None:
    v1 = _payloads(synth)
    multi = _payloads(tenant_synth)
    assert len(multi) == len(v1) > 15
    assert not any("tenant.$" in p for p in v1)  # v1's workflow and its input are unchanged
    for before, after in zip(v1, multi, strict=True):
        assert after == {**before, "tenant.$": "$['tenant']"}


def test_synth_stops_in_one_sentence_before_a_function_environment_lambda_would_refuse(tmp_path: Any) -> None:
    """Each listed tenant grows the API functions' environment (its client, its settings): too many
    tenants with their own intents stop synth, naming the function, instead of failing the deploy."""
    import hashlib

    example = json.loads(TENANTS_EXAMPLE.read_text())["tenants"][0]

    def words(i: int) -> list[str]:  # each brand's own vocabulary (nothing for the deflation to share)
        return [hashlib.sha256(f"{i}-{j}".encode()).hexdigest()[:12] for j in range(8)]

    def brands(n: int) -> str:
        def brand(i: int) -> dict[str, Any]:
            return {
                **example,
                "id": f"brand-{i}",
                "alarm_emails": [],
                "intents": {"rules": [{"name": "own", "keywords": words(i)}]},
            }

        tenants = [brand(i) for i in range(n)]
        return f"callguard={json.dumps({'tenants': tenants})}"

    result = run_cdk_synth(tmp_path / "three", brands(3))
    assert result.returncode != 0
    (sentence,) = [line for line in result.stderr.splitlines() if line.startswith("callguard: ")]
    assert sentence.startswith("callguard: Function 'ingest' would carry about ")
    assert "more than Lambda's 4096" in sentence
    assert "Traceback" not in result.stderr
    assert run_cdk_synth(tmp_path / "two", brands(2)).returncode == 0  # the README's measured limit
    # one tenant with its own intents and routing fits (the README's example: tests/conftest.py synthesizes it)
    from infra.constructs.platform import environment_bytes

    assert environment_bytes({"A": "${Token[TOKEN.1]}"}) == 1 + 128
