"""The SQS queue that feeds the analysis function (not DynamoDB: kept beside the stores)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["AnalysisQueue"]


class AnalysisQueue:
    """Messages carry the call id only."""

    def __init__(self, *, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def enqueue(self, call_id: str) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"call_id": call_id}))
