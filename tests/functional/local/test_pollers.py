"""SQS → Lambda emulation with the deployed queue settings (redrive, maxReceiveCount)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.pollers import SqsPoller
from local.provision import Provisioner
from tests.conftest import Synth

pytestmark = pytest.mark.functional


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch, synth: Synth) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        session = boto3.Session(region_name="eu-central-1")
        result = Provisioner(session, region="eu-central-1").provision(synth.template)
        main = next(k for k in result.of_type("AWS::SQS::Queue") if k.startswith("DataAnalysisQueue"))
        dlq = next(k for k in result.of_type("AWS::SQS::Queue") if k.startswith("DataAnalysisDlq"))
        redrive = synth.template["Resources"][main]["Properties"]["RedrivePolicy"]
        yield {
            "sqs": session.client("sqs"),
            "url": result.refs[main],
            "arn": result.attributes[main]["Arn"],
            "dlq": result.refs[dlq],
            "max_receive": int(redrive["maxReceiveCount"]),
        }


def test_poisoned_message_reaches_the_dlq_after_max_receive_count_and_the_rest_is_processed(queues: Any) -> None:
    sqs = queues["sqs"]
    for call_id in ("ok-1", "poison", "ok-2"):
        sqs.send_message(QueueUrl=queues["url"], MessageBody=json.dumps({"call_id": call_id}))
    processed: list[str] = []
    attempts: dict[str, int] = {}

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            call_id = json.loads(record["body"])["call_id"]
            attempts[call_id] = attempts.get(call_id, 0) + 1
            if call_id == "poison":
                failures.append({"itemIdentifier": record["messageId"]})
            else:
                processed.append(call_id)
        return {"batchItemFailures": failures}

    poller = SqsPoller(sqs, queues["url"], queues["arn"], handler, batch_size=5, retry_seconds=0, wait_seconds=0)
    for _ in range(queues["max_receive"] + 3):
        poller.poll_once()

    assert sorted(processed) == ["ok-1", "ok-2"]  # each processed exactly once
    assert attempts["poison"] == queues["max_receive"]
    dead = sqs.receive_message(QueueUrl=queues["dlq"], MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"])["call_id"] for m in dead] == ["poison"]
    assert "Messages" not in sqs.receive_message(QueueUrl=queues["url"], MaxNumberOfMessages=10)


def test_a_raising_handler_fails_the_whole_batch(queues: Any) -> None:
    sqs = queues["sqs"]
    sqs.send_message(QueueUrl=queues["url"], MessageBody="{}")
    calls = []

    def handler(event: dict[str, Any]) -> None:
        calls.append(len(event["Records"]))
        raise RuntimeError("boom")

    poller = SqsPoller(sqs, queues["url"], queues["arn"], handler, retry_seconds=0, wait_seconds=0)
    poller.poll_once()
    poller.poll_once()
    assert calls == [1, 1]  # redelivered after the failure
