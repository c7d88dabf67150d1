"""Synth refuses what the product must never deploy."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

from infra.nag import add_rule_packs
from tests.conftest import run_cdk_synth

pytestmark = pytest.mark.infra


@pytest.mark.parametrize(
    ("region", "sentence"),
    [
        ("us-east-1", "Region 'us-east-1' is not in the EU"),
        ("eu-north-1", "Region 'eu-north-1' is in the EU but has no Amazon Comprehend"),
    ],
)
def test_cdk_synth_refuses_a_region_outside_the_eu_or_without_comprehend(
    tmp_path: pytest.TempPathFactory, region: str, sentence: str
) -> None:
    result = run_cdk_synth(tmp_path / "out", f"region={region}")  # type: ignore[operator]
    assert result.returncode != 0
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr  # one clear sentence, not a stack trace


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: pytest.TempPathFactory) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Insecure")
    s3.Bucket(stack, "PlainBucket")  # no encryption key, no logging, no TLS policy
    add_rule_packs(app)
    with pytest.raises(Exception, match=r"(?i)validation"):
        app.synth()
