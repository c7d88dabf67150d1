"""SQS → Lambda event source mappings, emulated with the deployed settings.

Batch size and ``ReportBatchItemFailures`` come from the template's
``AWS::Lambda::EventSourceMapping``; redrive to the DLQ after ``maxReceiveCount``
is the queue's own (moto applies it on receive). One local acceleration: a failed
message is made visible again after ``retry_seconds`` instead of the queue's
visibility timeout, so retries take seconds on a laptop; the number of attempts
before the DLQ is unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.permissions import acting_as

__all__ = ["SqsPoller"]

logger = logging.getLogger("callguard.local.pollers")


@dataclass
class SqsPoller:
    sqs: Any
    queue_url: str
    queue_arn: str
    handler: Callable[[dict[str, Any]], Any]
    batch_size: int = 10
    report_batch_item_failures: bool = True
    retry_seconds: int = 1
    wait_seconds: int = 1
    #: the template's logical id of the function: Lambda polls and deletes with the function's role
    function_id: str = ""

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        """Receive one batch, invoke the handler, settle the messages. Returns the batch size."""
        with acting_as(self.function_id, "event source mapping"):
            response = self._receive()
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._record(m) for m in messages]}
        failed: set[str]
        try:
            result = self.handler(event)
        except Exception as exc:  # the whole batch failed, as on Lambda
            if not self._stop.is_set():  # (a batch the stack's stop cut short just goes back to the queue)
                logger.warning("batch failed", extra={"error_type": type(exc).__name__, "size": len(messages)})
            failed = {m["MessageId"] for m in messages}
        else:
            failed = set()
            if self.report_batch_item_failures and isinstance(result, dict):
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            with acting_as(self.function_id, "event source mapping"):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
        # (Lambda lets a failed message's visibility timeout run out; the local retry delay is the
        # emulator's own shortcut, so it is not judged as the function's call)
        retry = [m for m in messages if m["MessageId"] in failed]
        if retry:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_seconds}
                    for i, m in enumerate(retry)
                ],
            )
        return len(messages)

    def _receive(self) -> dict[str, Any]:
        response: dict[str, Any] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, 10),
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.queue_arn.split(":")[3],
        }

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poller-{self.queue_arn}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                logger.warning("poll failed", extra={"error_type": type(exc).__name__})
                self._stop.wait(1)

    def signal_stop(self) -> None:
        """Ask the poller to stop after its current long poll (see :meth:`stop`)."""
        self._stop.set()

    def stop(self) -> None:
        self.signal_stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
