"""How long a queue consumer's batch lets the local API's requests go first (``local.stack.consumer_patience``):
derived from the template, so a batch always starts in time to end before its messages reappear."""

from __future__ import annotations

import copy
from typing import Any

from local.stack import LocalStack, consumer_patience
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


class _Pool:
    """Stands in for the worker pool: records how each invocation asked for a worker."""

    def __init__(self, functions: set[str]) -> None:
        self.functions = functions
        self.calls: list[tuple[str, dict[str, Any], bool, float]] = []

    def invoke(self, function: str, event: dict[str, Any], *, background: bool = False, patience: float = 0.0) -> str:
        self.calls.append((function, event, background, patience))
        return "done"


def test_the_stacks_pollers_invoke_their_function_as_a_batch_the_api_goes_ahead_of(synth: Synth) -> None:
    stack = LocalStack(cdk_out=synth.outdir, state_file=None)
    stack.template = synth.template
    for props in _mappings(synth.template).values():
        function = props["FunctionName"]["Ref"]
        stack.workers = _Pool({function})  # type: ignore[assignment]
        consumer = stack._consumer(function, props)
        assert consumer({"Records": []}) == "done"
        assert stack.workers.calls == [  # type: ignore[attr-defined]
            (function, {"Records": []}, True, consumer_patience(synth.template, props))
        ]


def test_a_template_without_numbers_gives_no_patience_instead_of_failing_the_start(synth: Synth) -> None:
    template = copy.deepcopy(synth.template)
    props = next(iter(_mappings(template).values()))
    queue = template["Resources"][props["EventSourceArn"]["Fn::GetAtt"][0]]
    queue["Properties"]["VisibilityTimeout"] = {"Ref": "SomeParameter"}
    assert consumer_patience(template, props) == 0
    del queue["Properties"]  # SQS's default visibility timeout (30 s), less the function's
    timeout = template["Resources"][props["FunctionName"]["Ref"]]["Properties"]["Timeout"]
    assert consumer_patience(template, props) == max(0.0, 30 - timeout)
