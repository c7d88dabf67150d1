"""Exports in pages: the pages stream into one document equal to the whole export; the S3
writer uses multipart upload for large documents and leaves nothing behind on failure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from callguard.models import PrivacyRequestIn
from callguard.names import Env
from callguard.privacy.export_writer import PART_BYTES, S3JsonWriter
from callguard.wiring import build_privacy_service, build_privacy_steps
from tests.functional.analysis.test_analyze import GERMAN_SEGMENTS
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional


def test_pages_stream_into_the_same_export_as_one_pass(aws: dict[str, Any]) -> None:
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    for n in range(5):
        body = call_body(call_id=f"page-{n}", segments=GERMAN_SEGMENTS)
        assert ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())["statusCode"] == 202
    request_id = build_privacy_service(aws["clients"]).submit(
        PrivacyRequestIn.model_validate({"type": "access", "subject": {"phone": PLANTED["phone"]}})
    )["request_id"]
    steps = build_privacy_steps(aws["clients"])
    steps.export_page_calls = 2
    page: int | None = 0
    pages = 0
    while page is not None:
        page = steps.collect_subject_data(request_id, page)["next_page"]
        pages += 1
    assert pages == 3
    steps.assemble_export(request_id)
    result = steps.requests.get(request_id).result  # type: ignore[union-attr]
    s3 = aws["session"].client("s3")
    export = json.loads(
        s3.get_object(**{"Bucket": result["export"]["bucket"], "Key": result["export"]["key"]})["Body"].read()
    )
    whole = steps.data.export(steps.scope_of(request_id))
    for section in ("calls", "routing_decisions", "followups", "consent_history"):
        assert export["data"][section] == whole[section], section
    assert [c["call_id"] for c in export["data"]["calls"]] == [f"page-{n}" for n in range(5)]
    assert export["data"]["privacy_requests"][0]["request_id"] == request_id
    assert result["calls"] == 5
    listed = s3.list_object_versions(Bucket=aws["env"][Env.EXPORTS_BUCKET])
    assert [v["Key"] for v in listed.get("Versions", [])] == [result["export"]["key"]]  # every page version gone


def test_a_large_document_goes_up_in_parts_and_a_failure_leaves_nothing(aws: dict[str, Any]) -> None:
    s3 = aws["session"].client("s3")
    bucket, key_id = aws["env"][Env.EXPORTS_BUCKET], aws["env"][Env.DATA_KEY_ID]
    entries = [{"n": n, "text": "x" * 1000} for n in range(12_000)]  # about 12 MB
    with S3JsonWriter(s3, bucket, "exports/big.json", key_id) as out:
        out.write("[")
        for n, entry in enumerate(entries):
            out.write("," if n else "")
            out.value(entry)
        out.write("]")
    assert out.bytes_written > PART_BYTES
    head = s3.head_object(Bucket=bucket, Key="exports/big.json")
    assert head["ETag"].strip('"').endswith("-2")  # a multipart object of two parts
    assert head["ServerSideEncryption"] == "aws:kms"
    assert json.loads(s3.get_object(Bucket=bucket, Key="exports/big.json")["Body"].read()) == entries

    def fail_half_way() -> None:
        with S3JsonWriter(s3, bucket, "exports/broken.json", key_id) as broken:
            broken.write("[" + "1," * (PART_BYTES // 2))  # a part went up already
            raise RuntimeError("planted failure")

    with pytest.raises(RuntimeError, match="planted"):
        fail_half_way()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="exports/broken")
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
