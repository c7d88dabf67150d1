"""The retention purge's cost grows with what expires, not with what is stored.

Two tables in the embedded AWS (moto), provisioned from the synthesized template: the same
number of expired calls in each, buried among ten times as many live calls in the second. The purge
reads the expiry index; a scan-based purge (the naive alternative) reads every item.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from callguard.clients import AwsClients
from callguard.names import Env
from callguard.retention.policy import DataCategory, RetentionPolicy
from callguard.storage.expiry import expiry_attributes
from callguard.wiring import build_retention_purge
from local.provision import Provisioner, load_template

REGION = "eu-central-1"
EXPIRED = 1_000


def _fill(ddb: Any, table: str, total: int, now: datetime) -> None:
    policy = RetentionPolicy.defaults()
    requests = []
    for n in range(total):
        expired = n < EXPIRED
        start = now - timedelta(days=100 if expired else 1, microseconds=n)
        requests.append(
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"CALL#bench-{n}"},
                        "sk": {"S": "CALL"},
                        "subject_id": {"S": f"s{n % 100:03d}"},
                        "created_at": {"S": start.isoformat()},
                        **expiry_attributes(policy, DataCategory.CALLS, start),
                    }
                }
            }
        )
    for i in range(0, len(requests), 25):
        batch: dict[str, Any] = {table: requests[i : i + 25]}
        while batch:
            batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}


def _scan_purge_reads(ddb: Any, table: str, cutoff: int) -> int:
    """What a scan-based purge would read to find the same expired items (it deletes nothing here)."""
    read = 0
    for page in ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="expires_at <= :t",
        ExpressionAttributeValues={":t": {"N": str(cutoff)}},
    ):
        read += page["ScannedCount"]
    return read


#: Runs in the filled account before the purge (the erasure bench shares the fill); it must
#: leave the calls table as it found it.
AlsoHook = Callable[[boto3.Session, Provisioner, dict[str, Any]], dict[str, Any]]


def measure(total: int, template: dict[str, Any], also: AlsoHook | None = None) -> dict[str, Any]:
    with mock_aws():
        # B106 accepted: moto's dummy credentials
        session = boto3.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")  # noqa: S106  # nosec B106
        provisioner = Provisioner(session, region=REGION)
        provisioner.provision(template)
        env = provisioner.function_environment(template, "RetentionPurge")
        ddb = session.client("dynamodb")
        now = datetime.now(UTC)
        _fill(ddb, env[Env.CALLS_TABLE.value], total, now)
        extra = also(session, provisioner, template) if also is not None else None
        cutoff = int(now.timestamp())
        started = time.perf_counter()
        scan_reads = _scan_purge_reads(ddb, env[Env.CALLS_TABLE.value], cutoff)
        scan_seconds = time.perf_counter() - started
        purge = build_retention_purge(AwsClients(session=session), env)
        started = time.perf_counter()
        report = purge.run(now)
        purge_seconds = time.perf_counter() - started
        pages = ddb.get_paginator("scan").paginate(TableName=env[Env.CALLS_TABLE.value], Select="COUNT")
        left = sum(page["Count"] for page in pages)
        if not report.complete or report.categories["calls"].deleted != EXPIRED or left != total - EXPIRED:
            raise RuntimeError(f"the purge did not delete exactly the expired items ({left} left of {total})")
        return {
            "total": total,
            "deleted": report.categories["calls"].deleted,
            "purge_reads": report.items_read,
            "scan_reads": scan_reads,
            "purge_seconds": purge_seconds,
            "scan_seconds": scan_seconds,
            "also": extra,
        }


def purge_scaling(
    cdk_out: Path, sizes: tuple[int, int] = (10_000, 100_000), also: AlsoHook | None = None
) -> tuple[str, float, list[Any]]:
    """The table, how many times as many items the purge read from the larger table, and what
    ``also`` returned in each filled account."""
    template = load_template(cdk_out)
    small, large = (measure(n, template, also) for n in sizes)
    rows = [
        "| items in the table | expired (deleted) | purge: items read | scan-based purge: items read "
        "| purge time (moto) | scan time (moto) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for m in (small, large):
        rows.append(
            f"| {m['total']:,} | {m['deleted']:,} | {m['purge_reads']:,} | {m['scan_reads']:,} "
            f"| {m['purge_seconds']:.2f} s | {m['scan_seconds']:.2f} s |"
        )
    read_ratio = large["purge_reads"] / small["purge_reads"]
    scan_ratio = large["scan_reads"] / small["scan_reads"]
    purge_time = large["purge_seconds"] / small["purge_seconds"]
    scan_time = large["scan_seconds"] / small["scan_seconds"]
    rows.append(
        f"| **ratio, table {sizes[1] // sizes[0]} times larger** | 1.00 | **{read_ratio:.2f}** (goal at most 1.05) "
        f"| {scan_ratio:.2f} | {purge_time:.2f} | {scan_time:.2f} |"
    )
    return "\n".join(rows), read_ratio, [small["also"], large["also"]]
