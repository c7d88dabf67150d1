"""The permission proof's hook is live in this tier: a handler's call that its role (as synthesized, minus
one statement) would not allow is caught, with the function, the call and the missing statement named."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from local import permissions
from tests.conftest import Synth
from tests.support import FakeContext, api_event, load_handler

pytestmark = pytest.mark.functional


@pytest.fixture
def without_routing_table_key(aws: dict[str, Any], synth: Synth) -> Iterator[None]:
    """The template with the routing role's table-key statement removed (the defect of issue 21)."""
    template = copy.deepcopy(synth.template)
    (policy,) = [r for k, r in template["Resources"].items() if k.startswith("RoutingApiRoutePolicy")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    kept = [s for s in statements if "kms:ViaService" not in json.dumps(s)]
    assert len(kept) == len(statements) - 1
    policy["Properties"]["PolicyDocument"]["Statement"] = kept
    real = permissions.active_model()
    assert real is not None, "the suite runs with the permission hook active"
    permissions.activate(real.for_template(template), log=False)
    try:
        yield
    finally:
        permissions.activate(real)
        permissions.take_violations()


def test_a_call_the_role_would_not_allow_is_named(without_routing_table_key: None, aws: dict[str, Any]) -> None:
    route = load_handler("route")
    route.service(aws["clients"])
    body = {"caller": {"phone": "+49 30 1234567"}, "channel": "voice", "utterance": "Wo ist meine Lieferung?"}
    response = route.lambda_handler(
        api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide"), FakeContext()
    )
    assert response["statusCode"] == 200  # moto allows it; AWS would not
    found = permissions.take_violations()
    assert found, "the hook judged nothing"
    text = "\n".join(str(v) for v in found)
    assert "RoutingApiRouteFunction" in text
    assert "dynamodb:" in text
    assert "needs kms:Decrypt" in text
    assert "DynamoDB decrypts the table key" in text
    assert "policies evaluated: RoutingApiRoutePolicy" in text
