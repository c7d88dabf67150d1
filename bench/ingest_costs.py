"""AWS API calls (and KMS calls) per ingested call, against a minimum.

The real ingest handler (``functions/ingest/handler.py``) runs in-process against moto,
provisioned from the synthesized template, with the ingest function's environment.
Every AWS call is counted by botocore's ``after-call`` event on the session the clients are
built from; Powertools' idempotency layer gets the service's DynamoDB client injected
(``boto3_client=clients.dynamodb``), so its calls are counted there too. A counter on
boto3's default session catches any client built outside that session.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from bench.fixtures import BASE_ENV, CallCounter, FakeContext, api_event, call_body, environ, load_handler, moto_session
from callguard.clients import AwsClients
from local.provision import Provisioner, load_template

ONE = {"phone": "+49 151 23456789"}
THREE = {"phone": "+49 30 1234567", "email": "erika.bench@example.de", "customer_id": "K-BENCH-3"}


@dataclass(frozen=True)
class Scenario:
    name: str
    call_id: str
    caller: dict[str, str]
    #: the minimum: (all AWS calls, KMS calls, DynamoDB calls)
    minimum: tuple[int, int, int]


def _minimum(identifiers: int, new_subject: bool) -> tuple[int, int, int]:
    """See :data:`MINIMUM_RULE`: MACs + data key; resolve read, call, consent, idempotency x2,
    new-subject write; the S3 object and the queue message."""
    kms = identifiers + (1 if new_subject else 0)
    dynamodb = 1 + 1 + 1 + 2 + (1 if new_subject else 0)
    return kms + dynamodb + 2, kms, dynamodb


SCENARIOS = (
    Scenario("(a) first call, new caller, 1 identifier", "bench-a-1", ONE, _minimum(1, True)),
    Scenario("(b) first call, new caller, 3 identifiers", "bench-b-1", THREE, _minimum(3, True)),
    Scenario("(c) second call of a known caller (1 identifier)", "bench-a-2", ONE, _minimum(1, False)),
    Scenario("(d) the same call again (idempotent replay)", "bench-a-2", ONE, (1, 0, 1)),
)

MINIMUM_RULE = (
    "Minimum: one KMS `GenerateMac` per identifier, one DynamoDB read to resolve the subject (all identifier "
    "links in one `BatchGetItem`), one write each for the call item, the consent record, the sealed transcript "
    "object (S3) and the analysis message (SQS), and the idempotency claim and completion; a new subject adds "
    "one `GenerateDataKey` and one DynamoDB write for its links, profile and wrapped key (one transaction), a known "
    "subject adds nothing (its unwrapped key cached in the warm environment); a replay needs only the idempotency "
    "claim, which returns the stored answer."
)


def _invoke(module: Any, scenario: Scenario) -> dict[str, Any]:
    event = api_event("POST", "/v1/calls", call_body(scenario.call_id, scenario.caller))
    response = module.lambda_handler(event, FakeContext())
    if response["statusCode"] != 202:
        raise RuntimeError(f"{scenario.name}: ingest answered {response['statusCode']}")
    answer: dict[str, Any] = json.loads(response["body"])
    return answer


def measure(template: dict[str, Any]) -> list[tuple[Scenario, CallCounter, int]]:
    """Per scenario: the calls counted on the service's session, and those seen elsewhere."""
    results = []
    with mock_aws(), environ(BASE_ENV):
        session = moto_session()
        provisioner = Provisioner(session, region=BASE_ENV["AWS_DEFAULT_REGION"])
        provisioner.provision(template)
        env = provisioner.function_environment(template, "IngestApiIngest")
        counter = CallCounter().attach(session)
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        default_session = boto3.DEFAULT_SESSION
        stray = CallCounter().attach(default_session)
        # the handler logs and prints metrics to stdout: keep them out of the report
        with environ({**env, "POWERTOOLS_SERVICE_NAME": "callguard-bench"}), contextlib.redirect_stdout(io.StringIO()):
            module = load_handler("ingest")
            module.dependencies(AwsClients(session=session))
            subjects = {}
            for scenario in SCENARIOS:
                counter.reset()
                stray.reset()
                subjects[scenario.name] = _invoke(module, scenario)["subject_id"]
                results.append((scenario, _copy(counter), stray.total()))
        stray.detach(default_session)
        if subjects[SCENARIOS[0].name] != subjects[SCENARIOS[2].name]:
            raise RuntimeError("the known caller's second call resolved to another subject")
    return results


def _copy(counter: CallCounter) -> CallCounter:
    snapshot = CallCounter()
    snapshot.calls.update(counter.calls)
    return snapshot


def _operations(counter: CallCounter) -> str:
    return ", ".join(
        f"{service}:{operation}" + (f" x{n}" if n > 1 else "")
        for (service, operation), n in sorted(counter.calls.items())
    )


def ingest_costs(cdk_out: Path) -> tuple[str, dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]]]:
    """The table and, per scenario, the measured and the minimum (AWS, KMS, DynamoDB) calls."""
    results = measure(load_template(cdk_out))
    rows = [
        "| scenario | AWS calls | minimum | ratio | KMS calls | minimum | ratio | DynamoDB calls | minimum "
        "| ratio | calls outside the service's session |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    details = []
    measured: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {}
    for scenario, counter, stray in results:
        actual = (counter.total(), counter.total("kms"), counter.total("dynamodb"))
        cells = []
        for have, least in zip(actual, scenario.minimum, strict=True):
            ratio = f"{have / least:.2f}" if least else ("1.00" if have == 0 else "n/a")
            cells.append(f"{have} | {least} | {ratio}")
        rows.append(f"| {scenario.name} | " + " | ".join(cells) + f" | {stray} |")
        measured[scenario.name] = (actual, scenario.minimum)
        details.append(f"- {scenario.name}: {_operations(counter)}")
    text = "\n".join(rows) + "\n\n" + MINIMUM_RULE + "\n\nThe calls, per scenario:\n\n" + "\n".join(details)
    return text, measured


def ingest_gap(measured: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]], margin: int = 2) -> str | None:
    """The gap line when any scenario makes more than ``margin`` calls over its minimum, with the causes."""
    above = {name: (actual[0], least[0]) for name, (actual, least) in measured.items() if actual[0] > least[0] + margin}
    if not above:
        return None
    kms_above = [name for name, (actual, least) in measured.items() if actual[1] > least[1]]
    line = (
        "- Ingest makes more AWS calls than the minimum + "
        f"{margin}: "
        + ", ".join(f"{name.split(' ', 1)[0]} {have} vs {least}" for name, (have, least) in above.items())
        + ". Causes, from the calls listed above: `mark_enqueued`, the `UpdateItem` after the queue message "
        "that lets a retry (or the same file imported again) tell a sent message from one never sent, so a call "
        "is queued once; any read beyond the one `BatchGetItem` (call, identifier links and rights, the likely "
        "subject's profile and wrapped key) comes from a subject other than the likely one (an authenticated "
        "identifier linked elsewhere) or from an objection that arrived between that read and the transaction."
    )
    if kms_above:
        line += (
            " KMS above its minimum in "
            + ", ".join(name.split(" ", 1)[0] for name in kms_above)
            + ": the known subject's wrapped key (read in the `BatchGetItem`) is unwrapped (`Decrypt`) on every "
            "invocation as the keyring cache is cleared at the start of each one, by design (a shredded key "
            "stops working at once)."
        )
    return line
