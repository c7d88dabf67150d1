"""Lazily built boto3 clients that callers may replace by injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import boto3
from botocore.config import Config

__all__ = ["RETRY_CONFIG", "AwsClients", "Lazy"]

T = TypeVar("T")

#: Standard retry mode: exponential backoff with full jitter, throttling aware.
RETRY_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=3, read_timeout=10)


class AwsClients:
    """Builds each client on first use from ``session`` (or takes the ones passed in).

    ``AwsClients(session=boto3.Session(...))`` or ``AwsClients(dynamodb=my_stub_client)``.
    """

    def __init__(self, session: boto3.Session | None = None, endpoint_url: str | None = None, **clients: Any) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = dict(clients)

    def _get(self, name: str) -> Any:
        client = self._clients.get(name)
        if client is None:
            session = self._session or boto3.Session()
            client = session.client(name, config=RETRY_CONFIG, endpoint_url=self._endpoint_url)
            self._clients[name] = client
        return client

    @property
    def dynamodb(self) -> Any:
        return self._get("dynamodb")

    @property
    def s3(self) -> Any:
        return self._get("s3")

    @property
    def kms(self) -> Any:
        return self._get("kms")

    @property
    def sqs(self) -> Any:
        return self._get("sqs")

    @property
    def comprehend(self) -> Any:
        return self._get("comprehend")

    @property
    def stepfunctions(self) -> Any:
        return self._get("stepfunctions")

    @property
    def connect(self) -> Any:
        return self._get("connect")


class Lazy(Generic[T]):
    """A handler's dependencies, built once per execution environment on first use.

    ``deps()`` returns them (building with default clients the first time);
    ``deps(clients)`` rebuilds them with injected clients — how tests and the local
    stack wire a handler without patching module globals.
    """

    def __init__(self, build: Callable[[AwsClients], T]) -> None:
        self._build = build
        self._value: T | None = None

    def __call__(self, clients: AwsClients | None = None) -> T:
        if clients is not None or self._value is None:
            self._value = self._build(clients or AwsClients())
        return self._value
