"""Step Functions locally: moto executes the synthesized ASL; Lambda tasks run the real handlers."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks

from infra.constructs.lambda_packaging import LAMBDA_RUNTIME
from local.gateway import LambdaRuntime
from local.moto_server import LocalMotoServer, function_name
from local.provision import Provisioner, load_template

pytestmark = [pytest.mark.functional, pytest.mark.slow]

REGION = "eu-central-1"

HANDLER = """
class PlantedError(Exception):
    pass

def double(event, context):
    return {"n": event["n"] * 2}

def fail(event, context):
    raise PlantedError("step failed")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def synthesized(tmp_path: Path) -> Path:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER)
    # the CLI enables asset metadata; the local runtime finds packaged code through it
    app = App(outdir=str(tmp_path / "cdk.out"), context={"aws:cdk:enable-asset-metadata": True})
    stack = Stack(app, "Callguard", env={"region": REGION})

    def function(name: str, handler: str) -> lambda_.Function:
        return lambda_.Function(
            stack,
            name,
            code=lambda_.Code.from_asset(str(code)),
            handler=f"handler.{handler}",
            runtime=LAMBDA_RUNTIME,
            timeout=Duration.seconds(5),
        )

    double = tasks.LambdaInvoke(
        stack, "Double", lambda_function=function("Doubler", "double"), payload_response_only=True
    )
    failing = tasks.LambdaInvoke(stack, "Fail", lambda_function=function("Failer", "fail"), payload_response_only=True)
    failing.add_catch(
        sfn.Pass(stack, "Caught", result=sfn.Result.from_object({"caught": True}), result_path="$.caught"),
        result_path="$.error",
    )
    sfn.StateMachine(stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(double.next(failing)))
    app.synth()
    return tmp_path / "cdk.out"


@pytest.fixture
def running(synthesized: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    port = _free_port()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_PORT": str(port),
    }.items():
        monkeypatch.setenv(name, value)
    server = LocalMotoServer("127.0.0.1", port).start()
    try:
        session = boto3.Session(region_name=REGION)
        endpoint = f"http://127.0.0.1:{port}"
        template = load_template(synthesized)
        provisioner = Provisioner(session, region=REGION, endpoint_url=endpoint)
        result = provisioner.provision(template)
        runtime = LambdaRuntime(synthesized, template, provisioner)
        runtime.load_all()
        server.functions.update({name: f.invoke for name, f in runtime.functions.items()})
        yield {"sfn": session.client("stepfunctions", endpoint_url=endpoint), "result": result, "template": template}
    finally:
        server.stop()


def test_the_executed_definition_is_the_synthesized_one(running: dict[str, Any]) -> None:
    ((_logical, arn),) = running["result"].of_type("AWS::StepFunctions::StateMachine").items()
    described = running["sfn"].describe_state_machine(stateMachineArn=arn)
    definition = json.loads(described["definition"])
    assert set(definition["States"]) == {"Double", "Fail", "Caught"}
    assert "Fn::Join" not in described["definition"]
    assert definition["States"]["Double"]["Resource"].endswith(
        ":function:" + next(k for k in running["result"].of_type("AWS::Lambda::Function") if k.startswith("Doubler"))
    )


def test_lambda_tasks_run_the_real_handlers_and_errors_are_caught(running: dict[str, Any]) -> None:
    (arn,) = running["result"].of_type("AWS::StepFunctions::StateMachine").values()
    execution = running["sfn"].start_execution(stateMachineArn=arn, input=json.dumps({"n": 21}))["executionArn"]
    deadline = time.monotonic() + 30
    while True:
        described = running["sfn"].describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["n"] == 42  # computed by the handler, in this process
    assert output["error"]["Error"] == "PlantedError"


def test_function_names_from_arns_and_qualifiers() -> None:
    assert function_name("arn%3Aaws%3Alambda%3Aeu-central-1%3A123%3Afunction%3ADoubler%3A%24LATEST") == "Doubler"
    assert function_name("Doubler") == "Doubler"
