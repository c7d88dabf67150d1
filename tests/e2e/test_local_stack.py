"""The embedded stack over HTTP: parity with cdk.out, auth rules, storage, logs."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from callguard.names import ROUTES, full_scope
from local.client import fetch_token, http
from local.gateway import template_routes
from tests.conftest import Synth
from tests.e2e.conftest import RunningStack
from tests.support import PLANTED, call_body

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def tokens(stack: RunningStack) -> dict[str, str]:
    return {role: fetch_token(role, stack.state_file) for role in ("platform", "agent", "compliance")}


def test_ready_line_names_both_urls(stack: RunningStack) -> None:
    ready = next(line for line in stack.output if "ready" in line)
    assert stack.api_url in ready
    assert stack.aws_url in ready


def test_health_needs_no_token(stack: RunningStack) -> None:
    answer = http("GET", f"{stack.api_url}/v1/health")
    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_resources_come_from_cdk_out(stack: RunningStack, synth: Synth) -> None:
    tables = stack.client("dynamodb").list_tables()["TableNames"]
    assert len(tables) == len(synth.resources("AWS::DynamoDB::GlobalTable"))
    for name in tables:
        logical = name.removeprefix("callguard-")
        assert logical in synth.template["Resources"]
    buckets = {b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]}
    assert len(buckets) == len(synth.resources("AWS::S3::Bucket"))
    queues = stack.client("sqs").list_queues()["QueueUrls"]
    assert len(queues) == len(synth.resources("AWS::SQS::Queue"))
    pools = stack.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    assert len(pools) == 1


def test_routes_and_scopes_match_the_deployed_authorizer(synth: Synth) -> None:
    local = {(r.method, r.path): r for r in template_routes(synth.template)}
    assert set(local) == {(r.method, r.path) for r in ROUTES}
    for route in ROUTES:
        emulated = local[(route.method, route.path)]
        if route.scope is None:
            assert not emulated.authorized
        else:
            assert emulated.authorized
            assert emulated.scopes == (full_scope(route.scope),)


def test_platform_ingests_and_storage_holds_no_plaintext(stack: RunningStack, tokens: dict[str, str]) -> None:
    body = call_body(call_id="e2e-ingest-1")
    answer = http("POST", f"{stack.api_url}/v1/calls", body, tokens["platform"])
    assert answer.status == 202
    assert answer.body["analysis"] == "queued"
    assert http("POST", f"{stack.api_url}/v1/calls", body, tokens["platform"]).body == answer.body

    ddb, s3 = stack.client("dynamodb"), stack.client("s3")
    dump = []
    for table in ddb.list_tables()["TableNames"]:
        dump.append(repr(ddb.scan(TableName=table)["Items"]))
    for bucket in s3.list_buckets()["Buckets"]:
        if "exports" in bucket["Name"]:
            continue  # an access export is the subject's own data, released to them on purpose (7 days)
        for version in s3.list_object_versions(Bucket=bucket["Name"]).get("Versions", []):
            if version["Key"].startswith("callguard-quarantine/"):
                continue  # a bad import file kept for the operator (CMK-encrypted, expires; README)
            obj = s3.get_object(Bucket=bucket["Name"], Key=version["Key"], VersionId=version["VersionId"])
            dump.append(obj["Body"].read().decode("latin-1"))
    stored = "\n".join(dump)
    assert "e2e-ingest-1" in stored
    for value in PLANTED.values():
        assert value not in stored


def _forge(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("none", 401),
        ("garbage", 401),
        ("tampered_scope", 401),
        ("tampered_signature", 401),
        ("other_client", 401),
        ("agent", 403),
        ("compliance", 403),
        ("platform", 202),
    ],
)
def test_authorizer_rules(stack: RunningStack, tokens: dict[str, str], case: str, expected: int) -> None:
    token = {
        "none": None,
        "garbage": "not-a-jwt",
        "tampered_scope": _forge(tokens["agent"], scope="callguard/calls:write"),
        "tampered_signature": tokens["platform"][:-4] + ("AAAA" if not tokens["platform"].endswith("AAAA") else "BBBB"),
        "other_client": _forge(tokens["platform"], client_id="someone-else"),
        "agent": tokens["agent"],
        "compliance": tokens["compliance"],
        "platform": tokens["platform"],
    }[case]
    answer = http("POST", f"{stack.api_url}/v1/calls", call_body(call_id=f"e2e-auth-{case}"), token)
    assert answer.status == expected
    if expected >= 400:
        assert set(answer.body) == {"error", "request_id"}


def test_people_tokens_carry_only_their_group_scope(tokens: dict[str, str]) -> None:
    def scopes(token: str) -> set[str]:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return {s for s in claims["scope"].split() if s.startswith("callguard/")}

    assert scopes(tokens["agent"]) == {"callguard/calls:read"}
    assert scopes(tokens["compliance"]) == {"callguard/privacy:manage"}
    assert scopes(tokens["platform"]) == {"callguard/calls:write", "callguard/routing:decide"}


def test_body_limit_and_gateway_validation(stack: RunningStack, tokens: dict[str, str]) -> None:
    big = http("POST", f"{stack.api_url}/v1/calls", raw=b"{" + b" " * (256 * 1024) + b"}", token=tokens["platform"])
    assert (big.status, big.body["error"]["code"]) == (413, "payload_too_large")
    invalid = http("POST", f"{stack.api_url}/v1/calls", {"call_id": "x"}, tokens["platform"])
    assert (invalid.status, invalid.body["error"]["code"]) == (422, "validation_failed")
    unknown = http("GET", f"{stack.api_url}/v1/nowhere", token=tokens["platform"])
    assert unknown.status == 404


def test_handler_logs_are_json_without_personal_data(stack: RunningStack, tokens: dict[str, str]) -> None:
    http("POST", f"{stack.api_url}/v1/calls", call_body(call_id="e2e-logs-1"), tokens["platform"])
    http("POST", f"{stack.api_url}/v1/calls", call_body(call_id="e2e-logs-1", channel="chat"), tokens["platform"])
    deadline = time.monotonic() + 10  # the stack's stdout reaches this process through a pipe and a thread
    while True:
        records = [json.loads(line) for line in list(stack.output) if line.startswith("{")]
        if any(r.get("error_code") == "call_conflict" for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(r.get("message") == "call accepted" and r.get("call_id") == "e2e-logs-1" for r in records)
    assert any(r.get("error_code") == "call_conflict" for r in records)
    text = stack.text()
    for value in PLANTED.values():
        assert value not in text


def test_a_german_call_is_analysed_through_the_queue_and_the_agent_sees_it_redacted(
    stack: RunningStack, tokens: dict[str, str]
) -> None:
    import time

    segments = [
        {"speaker": "agent", "start_ms": 0, "end_ms": 2000, "text": "Guten Tag, Kundenservice."},
        {
            "speaker": "customer",
            "start_ms": 2100,
            "end_ms": 9000,
            "text": "Mein Name ist Erika Mustermann, IBAN DE89 3704 0044 0532 0130 00. Die Abbuchung ärgert mich.",
        },
    ]
    answer = http(
        "POST", f"{stack.api_url}/v1/calls", call_body(call_id="e2e-analysis-1", segments=segments), tokens["platform"]
    )
    assert answer.status == 202
    deadline = time.monotonic() + 30
    while True:
        view = http("GET", f"{stack.api_url}/v1/calls/e2e-analysis-1", token=tokens["agent"])
        if view.body.get("analysis", {}).get("status") == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert view.status == 200
    assert view.body["analysis"]["status"] == "done"
    assert view.body["analysis"]["sentiment"]["by_speaker"]["customer"] == "NEGATIVE"
    assert "[NAME]" in view.body["segments"][1]["text"]
    assert "[IBAN]" in view.body["segments"][1]["text"]
    text = json.dumps(view.body, ensure_ascii=False)
    for value in ("Mustermann", "DE89", PLANTED["phone"], PLANTED["email"]):
        assert value not in text
    platform_view = http("GET", f"{stack.api_url}/v1/calls/e2e-analysis-1", token=tokens["platform"])
    assert platform_view.status == 403
    assert http("GET", f"{stack.api_url}/v1/calls/unknown-call", token=tokens["agent"]).status == 404


def test_a_scheduled_target_runs_on_demand_through_the_embedded_lambda_endpoint(
    stack: RunningStack, synth: Synth
) -> None:
    rules = [
        r
        for r in synth.template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in r["Properties"]
    ]
    assert rules  # the deadline check is scheduled daily in AWS
    target = rules[0]["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]
    response = stack.client("lambda").invoke(FunctionName=target, Payload=b"{}")
    assert "FunctionError" not in response
    counts = json.loads(response["Payload"].read())
    assert set(counts) == {"open", "due_soon", "overdue"}


def test_the_whole_stack_output_holds_no_personal_data(stack: RunningStack) -> None:
    """Runs last in this module: every log line and metric the stack printed so far."""
    text = stack.text()
    assert "call analysed" in text  # the analysis function logged through the stack's output
    for value in (*PLANTED.values(), "Mustermann", "DE89 3704", "DE89370400440532013000"):
        assert value not in text


def test_the_embedded_lambda_endpoint_lists_the_functions_and_refuses_unknown_names(
    stack: RunningStack, synth: Synth
) -> None:
    from botocore.exceptions import ClientError

    client = stack.client("lambda")
    listed = {f["FunctionName"]: f for f in client.list_functions()["Functions"]}
    assert set(listed) == set(synth.resources("AWS::Lambda::Function"))
    for name, function in listed.items():
        assert function["FunctionArn"].endswith(f":function:{name}")
        assert function["Handler"] == synth.template["Resources"][name]["Properties"]["Handler"]
    for wrong in ("no-such-function", "arn:aws:lambda:eu-central-1:123456789012:function:nope", "purge"):
        with pytest.raises(ClientError) as raised:
            client.invoke(FunctionName=wrong, Payload=b"{}")
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize(
    ("change", "field", "issue"),
    [
        ("drop consent", "consent", "missing"),
        ("add caller.name", "caller.name", "extra_forbidden"),
        ("channel fax", "channel", "literal_error"),
        ("caller.phone a number", "caller.phone", "string_type"),
    ],
)
def test_schema_errors_name_the_field_and_the_rule_never_the_value(
    stack: RunningStack, tokens: dict[str, str], change: str, field: str, issue: str
) -> None:
    body = call_body(call_id=f"e2e-schema-{field}")
    if change == "drop consent":
        body.pop("consent")
    elif change == "add caller.name":
        body["caller"] = {**body["caller"], "name": PLANTED["name"]}
    elif change == "channel fax":
        body["channel"] = "fax"
    else:
        body["caller"] = {**body["caller"], "phone": 4915123456789}
    answer = http("POST", f"{stack.api_url}/v1/calls", body, tokens["platform"])
    assert answer.status == 422
    error = answer.body["error"]
    assert error["code"] == "validation_failed"
    assert {"field": field, "issue": issue} in [{"field": d["field"], "issue": d["issue"]} for d in error["details"]]
    text = json.dumps(answer.body, ensure_ascii=False)
    for value in (*PLANTED.values(), "fax", "4915123456789"):
        assert value not in text
    assert http("GET", f"{stack.api_url}/v1/calls/e2e-schema-{field}", token=tokens["agent"]).status == 404


def test_api_handlers_run_in_worker_processes_and_their_calls_are_judged(
    stack: RunningStack, tokens: dict[str, str]
) -> None:
    """The API's functions run in worker processes (local/workers.py), not in the stack's own; the
    permission proof still judges every call they make there: the stack writes the verdicts the
    workers ship back to the shared log, and their output reaches the stack's stdout as whole lines."""
    import os
    from pathlib import Path

    children = Path(f"/proc/{stack.process.pid}/task/{stack.process.pid}/children")
    if children.exists():
        pids = children.read_text().split()
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids]
        assert sum(b"multiprocessing.spawn" in c for c in commands) >= 2, "expected API worker processes"
    body = call_body(call_id="worker-judged-1")
    answer = http("POST", f"{stack.api_url}/v1/calls", body, tokens["platform"])
    assert answer.status == 202
    log = Path(os.environ["CALLGUARD_PERMISSION_LOG"])
    judged = {tuple(json.loads(line)["judged"]) for line in log.read_text().splitlines() if '"judged"' in line}
    ingest = {call for function, call in judged if function.startswith("IngestApiIngestFunction")}
    assert {"dynamodb:PutItem", "kms:GenerateMac", "s3:PutObject", "sqs:SendMessage"} <= ingest
    deadline = time.monotonic() + 10  # (the stack's stdout reaches this process through a pipe and a thread)
    while not (accepted := [line for line in list(stack.output) if "worker-judged-1" in line]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    accepted = [line for line in accepted if '"call accepted"' in line]
    assert len(accepted) == 1
    assert json.loads(accepted[0])["service"] == "callguard-ingest"


def test_a_client_that_hangs_up_before_its_answer_is_dropped_quietly(
    stack: RunningStack, tokens: dict[str, str]
) -> None:
    """A caller gone before the answer (Ctrl-C, a timeout) is nobody to send a 5xx to: the stack used to
    log a gateway failure and print a traceback when its error answer hit the closed socket too."""
    import socket
    import struct
    from urllib.parse import urlsplit

    address = urlsplit(stack.api_url)
    body = json.dumps(call_body(call_id="hang-up-1", caller={"phone": "+49 30 5550177"})).encode()
    request = (
        f"POST /v1/calls HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {tokens['platform']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    seen = len(stack.output)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
        sock.sendall(request)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("hang-up-1" in line for line in stack.output[seen:]):
        time.sleep(0.1)
    time.sleep(0.5)  # the answer's write to the reset connection comes after the handler's log line
    assert any("hang-up-1" in line for line in stack.output[seen:]), "the call was never handled"
    after = "\n".join(stack.output[seen:])
    assert "Traceback" not in after
    assert "local gateway failure" not in after
    assert http("GET", f"{stack.api_url}/v1/health").status == 200
