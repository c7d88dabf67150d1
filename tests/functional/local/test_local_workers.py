"""API handlers in worker processes (local/workers.py) stay under the permission proof and keep their output.

A worker is another interpreter: the botocore hook there judges the calls its functions make, and the
verdicts must reach the stack's process (and from there the log every test reads), or a grant missing
from the template would pass unseen as soon as the handlers left the stack's process. Here the routing
role loses its table-key statement (the defect of issue 21); the routing function runs in a worker
against the embedded AWS over HTTP, and the stack's process must name the denied call.
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator

import boto3
import pytest

from local import permissions
from local.moto_server import LocalMotoServer
from local.provision import Provisioner
from local.workers import WorkerPool
from tests.conftest import Synth
from tests.support import api_event

pytestmark = [pytest.mark.functional, pytest.mark.slow]

REGION = "eu-central-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def routing_in_a_worker(synth: Synth) -> Iterator[tuple[WorkerPool, list[str]]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _routing_in_a_worker(synth, monkeypatch)


def _routing_in_a_worker(synth: Synth, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WorkerPool, list[str]]]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "MOTO_PORT": str(port),
        "POWERTOOLS_TRACE_DISABLED": "1",
    }.items():
        monkeypatch.setenv(name, value)
    server = LocalMotoServer("127.0.0.1", port).start()
    real = permissions.active_model()
    pool: WorkerPool | None = None
    try:
        provisioner = Provisioner(boto3.Session(region_name=REGION), region=REGION, endpoint_url=endpoint)
        provisioned = provisioner.provision(synth.template)
        template = copy.deepcopy(synth.template)
        (policy,) = [r for k, r in template["Resources"].items() if k.startswith("RoutingApiRoutePolicy")]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        policy["Properties"]["PolicyDocument"]["Statement"] = [
            s for s in statements if "kms:ViaService" not in json.dumps(s)
        ]
        model = permissions.model_for(template, provisioned)
        permissions.activate(model, log=False)  # the denial below is this test's point, not a failure
        (route,) = [k for k, r in template["Resources"].items() if k.startswith("RoutingApiRouteFunction")
                    and r["Type"] == "AWS::Lambda::Function"]  # fmt: skip
        output: list[str] = []
        pool = WorkerPool(
            synth.outdir,
            synth.template,
            {route: provisioner.function_environment(synth.template, route)},
            size=1,
            model=model,
            write=output.append,
        ).start()
        yield pool, output
    finally:
        if pool is not None:
            pool.stop()
        permissions.take_violations()
        if real is not None:
            permissions.activate(real)
        else:
            permissions.deactivate()
        server.stop()


def test_a_call_denied_in_a_worker_is_named_in_the_stacks_process(
    routing_in_a_worker: tuple[WorkerPool, list[str]],
) -> None:
    pool, output = routing_in_a_worker
    permissions.take_violations()
    (route,) = pool.functions
    body = {"caller": {"phone": "+49 30 1234567"}, "channel": "voice", "utterance": "Wo ist meine Lieferung?"}
    answer = pool.invoke(route, api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide"))
    assert answer["statusCode"] == 200  # moto allows it; AWS would not
    found = permissions.take_violations()
    assert found, "no verdict came back from the worker"
    text = "\n".join(str(v) for v in found)
    assert "RoutingApiRouteFunction" in text
    assert "needs kms:Decrypt" in text
    assert "DynamoDB decrypts the table key" in text
    # the handler's Powertools log lines came back whole, from the routing function's service
    records = [json.loads(line) for chunk in output for line in chunk.splitlines() if line.startswith("{")]
    assert any(r.get("service") == "callguard-route" for r in records)
    assert "+49 30 1234567" not in "".join(output)


def test_a_handler_exception_is_reported_by_type_only(routing_in_a_worker: tuple[WorkerPool, list[str]]) -> None:
    from local.workers import RemoteFunctionError

    pool, _ = routing_in_a_worker
    (route,) = pool.functions
    with pytest.raises(RemoteFunctionError) as raised:
        pool.invoke(route, {"not": "an API Gateway event", "phone": "+49 30 1234567"})
    assert raised.value.function == route
    assert "+49" not in str(raised.value)
    # the worker is still there for the next invocation
    body = {"caller": {"customer_id": "K-1"}, "channel": "chat"}
    answer = pool.invoke(route, api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide"))
    assert answer["statusCode"] == 200
    permissions.take_violations()
