"""Operations as synthesized: every alarm notifies someone and names a runbook section that exists."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Synth
from tests.support import ROOT

pytestmark = pytest.mark.infra

RUNBOOK = (ROOT / "docs" / "runbooks.md").read_text()


def test_every_alarm_notifies_and_links_an_existing_runbook_section(synth: Synth) -> None:
    alarms = synth.resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 10
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"], name
        match = re.search(r"Runbook: docs/runbooks\.md#([a-z0-9-]+)", props["AlarmDescription"])
        assert match, name
        assert f'<a id="{match.group(1)}"></a>' in RUNBOOK, (name, match.group(1))


def test_the_alarms_on_call_needs_exist(synth: Synth) -> None:
    names = {k for k in synth.resources("AWS::CloudWatch::Alarm")}
    for expected in ("AnalysisDlqNotEmpty", "Api5xxRate", "ApiLatencyP99", "LambdaThrottles", "DynamoDbThrottles",
                     "PrivacyWorkflowFailed", "RetentionErrors", "RetentionIncomplete",
                     "PrivacyRequestsOverdue", "PrivacyRequestsDueSoon"):  # fmt: skip
        assert any(expected in n for n in names), expected


def test_the_dlq_alarm_watches_the_analysis_dead_letter_queue(synth: Synth) -> None:
    (alarm,) = [a for k, a in synth.resources("AWS::CloudWatch::Alarm").items() if "AnalysisDlqNotEmpty" in k]
    (dimension,) = alarm["Properties"]["Dimensions"]
    assert dimension["Value"]["Fn::GetAtt"][0].startswith("DataAnalysisDlq")
    assert alarm["Properties"]["Threshold"] == 1


def test_the_breach_runbook_keeps_the_72_hour_clock() -> None:
    section = RUNBOOK.split('<a id="personal-data-breach"></a>', 1)[1]
    assert "72 hours" in section
    assert "Art. 33(5)" in section
    assert "Art. 34" in section
