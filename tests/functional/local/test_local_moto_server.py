"""The embedded AWS endpoint (local/moto_server.py): kept connections and transactions.

Two local changes to moto's serving keep the embedded stack fast under load; each must keep the
behaviour a client of AWS relies on:

* HTTP/1.1 keep-alive: many calls over one connection, including a body the application never
  reads (an unknown function's ``Invoke``) and a large one, never mix one request into the next;
* ``TransactWriteItems`` backs up only the items it names: a cancelled transaction leaves every one
  of them as it was (a new item gone again, an updated one unchanged), and writes to other items of
  the same table, made between, survive the rollback;
* SQS reads the retention period from the queue and counts its messages in one pass: the counts
  ``GetQueueAttributes`` answers (visible, in flight, delayed) and receiving within the retention
  period are as before;
* which moto backend serves a host is worked out once per host, not for every request (moto lists
  its package folder on disk each time, under a lock every request waits for): calls to several
  services still reach the right one.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import urllib3
from botocore.exceptions import ClientError

from local.moto_server import LocalMotoServer

pytestmark = [pytest.mark.functional]

REGION = "eu-central-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = _free_port()
    monkeypatch.setenv("MOTO_PORT", str(port))
    server = LocalMotoServer("127.0.0.1", port, functions={"echo": lambda event: {"echo": event}}).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _client(endpoint: str, service: str) -> Any:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
    return session.client(service, endpoint_url=endpoint)


def _table(ddb: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"  # moto's backends outlive a server in this process
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_one_connection_serves_many_calls_without_mixing_them(endpoint: str) -> None:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(endpoint.rsplit(":", 1)[1]), maxsize=1, block=True)
    headers = {"Content-Type": "application/json"}
    # an unknown function: answered without reading the body, which must not leak into the next request
    unread = json.dumps({"padding": "x" * 50_000}).encode()
    for i in range(5):
        missing = pool.request("POST", "/2015-03-31/functions/nope/invocations", body=unread, headers=headers)
        assert missing.status == 404
        answer = pool.request(
            "POST", "/2015-03-31/functions/echo/invocations", body=json.dumps({"n": i}), headers=headers
        )
        assert answer.status == 200
        assert json.loads(answer.data) == {"echo": {"n": i}}
        assert answer.headers.get("Connection", "").lower() != "close"
    assert pool.num_connections == 1  # every request above went over the one kept connection


def test_sdk_calls_reuse_their_connection(endpoint: str) -> None:
    ddb = _client(endpoint, "dynamodb")
    table = _table(ddb)
    opened = {"n": 0}
    original = urllib3.connection.HTTPConnection._new_conn

    def counting(self: Any) -> Any:
        opened["n"] += 1
        return original(self)

    urllib3.connection.HTTPConnection._new_conn = counting  # type: ignore[method-assign]
    try:
        for i in range(20):
            ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": str(i)}, "v": {"S": "x" * 2000}})
        items = ddb.query(
            TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}
        )
    finally:
        urllib3.connection.HTTPConnection._new_conn = original  # type: ignore[method-assign]
    assert items["Count"] == 20
    assert opened["n"] <= 1


def test_a_cancelled_transaction_leaves_the_items_it_names_as_they_were(endpoint: str) -> None:
    ddb = _client(endpoint, "dynamodb")
    table = _table(ddb)
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "other"}, "sk": {"S": "1"}, "v": {"N": "1"}})
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": table, "Key": {"pk": {"S": "other"}, "sk": {"S": "1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "missing"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"

    def get(pk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = ddb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "1"}}).get("Item")
        return item

    assert get("new") is None
    assert get("a") == {"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}}
    assert get("other") == {"pk": {"S": "other"}, "sk": {"S": "1"}, "v": {"N": "1"}}

    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "other"}, "sk": {"S": "1"}}}},
        ]
    )
    assert get("new") == {"pk": {"S": "new"}, "sk": {"S": "1"}}
    assert get("other") is None


def test_a_rollback_keeps_writes_to_other_items_made_meanwhile(endpoint: str) -> None:
    """moto's own rollback put back a copy of the whole table, undoing every other client's writes
    made while the transaction ran; the item backup restores only what the transaction names."""
    import moto.dynamodb.models as ddb_models

    ddb = _client(endpoint, "dynamodb")
    table = _table(ddb)
    backend_class = ddb_models.DynamoDBBackend
    patched = backend_class.put_item

    def put_and_meanwhile(self: Any, table_name: str, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        result = patched(self, table_name, item_attrs, *args, **kwargs)
        if item_attrs.get("pk") == {"S": "in-transaction"}:  # another client writes while it runs
            patched(self, table_name, {"pk": {"S": "meanwhile"}, "sk": {"S": "1"}})
        return result

    backend_class.put_item = put_and_meanwhile  # type: ignore[method-assign]
    try:
        with pytest.raises(ClientError):
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "in-transaction"}, "sk": {"S": "1"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": table,
                            "Key": {"pk": {"S": "missing"}, "sk": {"S": "1"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
    finally:
        backend_class.put_item = patched  # type: ignore[method-assign]
    keys = {item["pk"]["S"] for item in ddb.scan(TableName=table)["Items"]}
    assert keys == {"meanwhile"}


def test_queue_counts_and_receives_are_what_sqs_answers(endpoint: str) -> None:
    sqs = _client(endpoint, "sqs")
    url = sqs.create_queue(
        QueueName=f"q-{uuid.uuid4().hex[:8]}", Attributes={"MessageRetentionPeriod": "60", "VisibilityTimeout": "30"}
    )["QueueUrl"]
    for n in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=30)

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, AttributeNames=["All"])["Messages"]

    assert sorted(m["Body"] for m in received) == ["m0", "m1", "m2"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "1"  # m3: the delayed one is not available yet
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "3"  # in flight
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    assert counts["MessageRetentionPeriod"] == "60"


def test_each_host_is_resolved_to_its_backend_once(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lookups: list[str | None] = []
    resolve = DomainDispatcherApplication.get_backend_for_host

    def counted(self: Any, host: str | None) -> Any:
        lookups.append(host)
        return resolve(self, host)

    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host", counted)
    sqs, s3 = _client(endpoint, "sqs"), _client(endpoint, "s3")
    for n in range(3):
        url = sqs.create_queue(QueueName=f"resolved-{n}")["QueueUrl"]
        s3.create_bucket(Bucket=f"resolved-{n}", CreateBucketConfiguration={"LocationConstraint": REGION})
        assert sqs.get_queue_url(QueueName=f"resolved-{n}")["QueueUrl"] == url
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} >= {f"resolved-{n}" for n in range(3)}
    # ten requests to two services: moto's own look-up ran for each distinct host at most once
    assert lookups, "the dispatcher never asked moto"
    assert len(lookups) == len(set(lookups)), f"hosts resolved again: {sorted(map(str, lookups))}"
