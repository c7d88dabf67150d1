"""What every store shares: one BatchGetItem across tables (with unprocessed keys read again),
item keys that come back as they were given, transaction cancellation reasons per entry."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from callguard.storage.dynamo import BatchRead, ItemKey, TransactionCanceledError, Write, write_together

pytestmark = pytest.mark.unit


class _Throttled:
    """A DynamoDB client that leaves every key unprocessed the first time it is asked for it."""

    def __init__(self, items: dict[str, list[dict[str, Any]]]) -> None:
        self.items = items
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.requests.append(RequestItems)
        if len(self.requests) == 1:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        found = {
            table: [
                i
                for i in self.items.get(table, [])
                if any(all(i[k] == v for k, v in key.items()) for key in spec["Keys"])
            ]
            for table, spec in RequestItems.items()
        }
        return {"Responses": found, "UnprocessedKeys": {}}


def test_one_batch_reads_keys_of_several_tables_and_retries_what_was_left_unprocessed() -> None:
    call = {"pk": {"S": "CALL#c-1"}, "sk": {"S": "CALL"}, "call_id": {"S": "c-1"}}
    key = {"subject_id": {"S": "s-1"}, "wrapped_key": {"B": b"w"}}
    client = _Throttled({"calls": [call], "keys": [key]})
    batch = BatchRead(client)
    found_call = batch.add("calls", ItemKey("CALL#c-1", "CALL").wire())
    again = batch.add("calls", ItemKey("CALL#c-1", "CALL").wire())  # asked twice, read once
    missing = batch.add("calls", ItemKey("CALL#c-2", "CALL").wire())
    found_key = batch.add("keys", {"subject_id": {"S": "s-1"}})
    with pytest.raises(RuntimeError):
        found_call()  # nothing is read before run()
    batch.run()
    assert len(client.requests) == 2  # the unprocessed keys were asked for again
    assert len(client.requests[0]["calls"]["Keys"]) == 2
    assert all(spec["ConsistentRead"] for spec in client.requests[0].values())
    assert found_call() == call
    assert again() == call
    assert missing() is None
    assert found_key() == key


def test_item_keys_keep_their_attribute_types() -> None:
    for wire in (
        {"pk": {"S": "CALL#c-1"}, "sk": {"S": "CALL"}},
        {"pk": {"S": "AUDIT#2026-11-30"}, "sk": {"N": "17"}},
    ):
        assert ItemKey.of(wire).wire() == wire


class _Cancelling:
    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803 - boto3's name
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
            },
            "TransactWriteItems",
        )


def test_a_cancelled_transaction_names_the_entry_that_failed() -> None:
    with pytest.raises(TransactionCanceledError) as cancelled:
        write_together(_Cancelling(), [Write({"Put": {}}), Write({"Put": {}})])
    assert cancelled.value.reasons == [None, "ConditionalCheckFailed"]
