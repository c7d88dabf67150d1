"""An erasure's reads grow with the subject's data, not with the tables it lives in.

Runs inside the purge bench's moto account after its fill (the 10k and 100k calls are shared,
see :func:`bench.purge_scaling.measure`): one subject's calls are ingested through the real
ingest handler (call items, transcript markers, sealed transcript objects, subject links,
consent history, wrapped key, idempotency records), then the erasure steps of the privacy
workflow run against it (``closure``, ``inventory``, ``shred_keys``, ``delete_all``,
``verify_gone`` of :class:`callguard.privacy.subject_data.SubjectData`). Items read is the sum of
``ScannedCount`` of every Query and Scan, per table.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from typing import Any

import boto3

from bench.fixtures import BASE_ENV, CallCounter, FakeContext, api_event, call_body, environ, load_handler
from callguard.clients import AwsClients
from callguard.names import Env
from callguard.wiring import parts
from local.provision import Provisioner

SUBJECT_CALLS = 20
CALLER = {"phone": "+49 151 98765432"}
ERASURE_READS_GOAL = 1.05


def _ingest_subject(session: boto3.Session, env: dict[str, str]) -> str:
    """The subject's calls through the real handler; returns its subject id."""
    subject_ids = set()
    with (
        environ({**BASE_ENV, **env, "POWERTOOLS_SERVICE_NAME": "callguard-bench"}),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        module = load_handler("ingest")
        module.dependencies(AwsClients(session=session))
        for n in range(SUBJECT_CALLS):
            event = api_event("POST", "/v1/calls", call_body(f"bench-erasure-{n}", CALLER))
            response = module.lambda_handler(event, FakeContext())
            if response["statusCode"] != 202:
                raise RuntimeError(f"ingest of the erasure subject answered {response['statusCode']}")
            subject_ids.add(json.loads(response["body"])["subject_id"])
    if len(subject_ids) != 1:
        raise RuntimeError("the erasure subject's calls resolved to more than one subject")
    return subject_ids.pop()


def erase_subject(session: boto3.Session, provisioner: Provisioner, template: dict[str, Any]) -> dict[str, Any]:
    """Ingest one subject, erase it as the privacy workflow does; what it read, per table."""
    subject = _ingest_subject(session, provisioner.function_environment(template, "IngestApiIngest"))
    env = provisioner.function_environment(template, "PrivacyApiDeleteSubjectData")
    counter = CallCounter().attach(session)
    try:
        data = parts(AwsClients(session=session), env).subject_data()  # clients built after attach: counted
        started = time.perf_counter()
        subjects = data.closure(subject)  # each step of the workflow resolves the closure again
        found = data.inventory(subjects)
        data.shred_keys(data.closure(subject))
        removed = data.delete_all(data.closure(subject))
        data.verify_gone(data.closure(subject))  # raises when anything is left
        seconds = time.perf_counter() - started
    finally:
        counter.detach(session)
    if found["calls"] < SUBJECT_CALLS or removed.get("transcript_versions", 0) < SUBJECT_CALLS:
        raise RuntimeError(f"the erasure found or removed less than was ingested: {found}, {removed}")
    tables = {store: env[name.value] for store, name in _TABLES.items()}
    reads = {store: counter.scanned[table] for store, table in tables.items()}
    return {
        "found": found,
        "removed": removed,
        "reads": reads,
        "dynamodb_calls": counter.total("dynamodb"),
        "s3_calls": counter.total("s3"),
        "seconds": seconds,
    }


_TABLES = {
    "calls": Env.CALLS_TABLE,
    "subjects": Env.SUBJECTS_TABLE,
    "idempotency": Env.IDEMPOTENCY_TABLE,
}


def erasure_table(sizes: tuple[int, int], runs: list[dict[str, Any]]) -> tuple[str, float]:
    """The table and how many times as many items (idempotency scan aside) the erasure read
    from the larger calls table."""
    rows = [
        "| calls in the table | subject's calls / transcript objects | calls table: items read "
        "| subjects table: items read | subject's data (without idempotency) | idempotency table scan: items read "
        "| DynamoDB calls | S3 calls | time (moto) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = []
    for size, run in zip(sizes, runs, strict=True):
        reads = run["reads"]
        total = reads["calls"] + reads["subjects"]
        totals.append(total)
        rows.append(
            f"| {size:,} | {SUBJECT_CALLS} / {run['found']['transcript_versions']} | {reads['calls']:,} "
            f"| {reads['subjects']:,} | **{total:,}** | {reads['idempotency']:,} | {run['dynamodb_calls']} "
            f"| {run['s3_calls']} | {run['seconds']:.2f} s |"
        )
    ratio = totals[1] / totals[0]
    idem = runs[1]["reads"]["idempotency"] / max(runs[0]["reads"]["idempotency"], 1)
    rows.append(
        f"| **ratio, table {sizes[1] // sizes[0]} times larger** | 1.00 | "
        f"{runs[1]['reads']['calls'] / runs[0]['reads']['calls']:.2f} "
        f"| {runs[1]['reads']['subjects'] / runs[0]['reads']['subjects']:.2f} | **{ratio:.2f}** "
        f"(goal at most {ERASURE_READS_GOAL}) | {idem:.2f} | "
        f"{runs[1]['dynamodb_calls'] / runs[0]['dynamodb_calls']:.2f} "
        f"| {runs[1]['s3_calls'] / runs[0]['s3_calls']:.2f} "
        f"| {runs[1]['seconds'] / runs[0]['seconds']:.2f} |"
    )
    return "\n".join(rows), ratio


def erasure_gap(ratio: float) -> str | None:
    if ratio <= ERASURE_READS_GOAL:
        return None
    return (
        f"- The erasure read {ratio:.2f} times as many items from the larger calls table (goal: at most "
        f"{ERASURE_READS_GOAL}). Cause: one of its reads grows with the table, not with the subject (see the "
        "per-table columns above: a query that filters instead of keying, or a scan)."
    )
