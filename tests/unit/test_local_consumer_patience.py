"""How long a queue consumer's batch lets the local API's requests go first (``local.stack.consumer_patience``):
derived from the template, so a batch always starts in time to end before its messages reappear."""

from __future__ import annotations

import copy
from typing import Any

from local.stack import consumer_patience
from tests.conftest import Synth


def _mappings(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::EventSourceMapping"
    }


def test_every_consumer_of_the_template_starts_before_its_messages_could_reappear(synth: Synth) -> None:
    resources = synth.template["Resources"]
    mappings = _mappings(synth.template)
    assert mappings, "the template has no SQS consumers"
    for props in mappings.values():
        queue = resources[props["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        function = resources[props["FunctionName"]["Ref"]]["Properties"]
        patience = consumer_patience(synth.template, props)
        assert patience > 0, "a consumer that never lets an API request go first"
        # started after waiting that long, the batch still ends within the visibility timeout
        assert patience + function["Timeout"] <= queue["VisibilityTimeout"]


def test_the_patience_follows_the_template_not_a_fixed_number(synth: Synth) -> None:
    template = copy.deepcopy(synth.template)
    props = next(iter(_mappings(template).values()))
    before = consumer_patience(template, props)
    queue = template["Resources"][props["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
    queue["VisibilityTimeout"] = int(queue.get("VisibilityTimeout", 30)) + 60
    assert consumer_patience(template, props) == before + 60
    queue["VisibilityTimeout"] = 1  # shorter than the function may run: no waiting at all
    assert consumer_patience(template, props) == 0


def test_a_queue_the_template_does_not_name_gives_no_patience(synth: Synth) -> None:
    props = dict(next(iter(_mappings(synth.template).values())))
    props["EventSourceArn"] = "arn:aws:sqs:eu-central-1:123456789012:elsewhere"
    assert consumer_patience(synth.template, props) == 0
