"""Two invocations of the same warm handler (same module, same container) share nothing but clients.

Per-invocation state — unwrapped subject keys, pseudonyms, the counts an erasure certificate
reports — is built per invocation (``Lazy.per_invocation``), so a key shredded between two warm
invocations is never used from a cache, and a certificate counts only its own request.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from callguard.models import PrivacyRequestIn
from callguard.wiring import build_privacy_service, build_privacy_steps
from tests.support import ROOT, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

STEPS_DIR = ROOT / "functions" / "privacy_steps"


@pytest.fixture
def kms_calls(aws: dict[str, Any]) -> Iterator[Counter[str]]:
    """KMS operations the handlers make, by name (the one client every handler here shares)."""
    counts: Counter[str] = Counter()
    events = aws["clients"].kms.meta.events

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    events.register("before-call.kms", count)
    yield counts
    events.unregister("before-call.kms", count)


def _ingest(aws: dict[str, Any], call_id: str, phone: str) -> dict[str, Any]:
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    body = call_body(call_id=call_id, caller={"phone": phone})
    response = ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())
    assert response["statusCode"] == 202
    return dict(json.loads(response["body"]))


def _view(agent_view: ModuleType, call_id: str) -> int:
    event = api_event("GET", f"/v1/calls/{call_id}", scopes="callguard/calls:read")
    event["resource"] = "/v1/calls/{call_id}"
    event["pathParameters"] = {"call_id": call_id}
    return int(agent_view.lambda_handler(event, FakeContext())["statusCode"])


def test_a_subject_key_is_unwrapped_again_in_every_invocation_and_a_shredded_one_is_gone(
    aws: dict[str, Any], kms_calls: Counter[str]
) -> None:
    accepted = _ingest(aws, "warm-1", "+49 30 5550001")
    agent_view = load_handler("agent_view")
    agent_view.service(aws["clients"])
    kms_calls.clear()
    assert _view(agent_view, "warm-1") == 200
    assert _view(agent_view, "warm-1") == 200
    assert kms_calls["Decrypt"] == 2  # the second invocation did not find the first one's key
    build_privacy_steps(aws["clients"]).data.shred_keys([accepted["subject_id"]])
    assert _view(agent_view, "warm-1") == 404  # shredded between warm invocations: nothing cached opens it


def test_pseudonyms_are_not_kept_from_one_invocation_to_the_next(aws: dict[str, Any], kms_calls: Counter[str]) -> None:
    route = load_handler("route")
    route.service(aws["clients"])
    body = {"caller": {"phone": "+49 30 5550002"}, "channel": "voice"}
    event = api_event("POST", "/v1/routing/decisions", body, scopes="callguard/routing:decide")
    kms_calls.clear()
    for _ in range(2):
        assert route.lambda_handler(event, FakeContext())["statusCode"] == 200
    assert kms_calls["GenerateMac"] == 2


def test_ingest_derives_pseudonyms_and_unwraps_the_subject_key_again_in_a_warm_container(
    aws: dict[str, Any], kms_calls: Counter[str]
) -> None:
    ingest = load_handler("ingest")
    ingest.dependencies(aws["clients"])
    seen = []
    for call_id in ("warm-i-1", "warm-i-2"):  # the same caller twice, one invocation each
        kms_calls.clear()
        body = call_body(call_id=call_id, caller={"phone": "+49 30 5550005"})
        assert ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())["statusCode"] == 202
        seen.append(dict(kms_calls))
    first, second = seen
    assert first["GenerateMac"] == second["GenerateMac"] == 1
    assert first.get("GenerateDataKey") == 1  # a new subject: its key is made (and cached) here
    assert second.get("Decrypt") == 1  # the next invocation has no cache: it unwraps the key again


def _step(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"warm_step_{name}", STEPS_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_erasure_certificate_counts_only_its_own_request(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("shred_subject_key", "delete_subject_data", "verify_erasure")
    handlers = {name: _step(name) for name in names}  # one warm container running every step
    for handler in handlers.values():
        handler.lambda_handler.deps(aws["clients"])
    service = build_privacy_service(aws["clients"])
    certificates = []
    for n, phone in enumerate(("+49 30 5550003", "+49 30 5550004")):
        _ingest(aws, f"warm-erase-{n}", phone)
        body = PrivacyRequestIn.model_validate({"type": "erasure", "subject": {"phone": phone}})
        request_id = service.submit(body, actor="user:filer")["request_id"]
        for name in names:
            handlers[name].lambda_handler({"request_id": request_id}, FakeContext())
        item = service.requests.get(request_id)
        assert item is not None
        certificates.append(item.result)
    first, second = certificates
    assert sum(second["removed"].values()) > 0
    assert second["removed"] == first["removed"]  # the same data erased: not the first request's counts on top
    assert all(second["removed"].get(store, 0) <= n for store, n in second["found_before"].items())


def test_every_handler_builds_its_services_per_invocation() -> None:
    """Structural: each handler module's entry point is wrapped by ``per_invocation`` (through the one
    entry-point shape, ``callguard.clients.entry_point``, or the privacy steps' runner)."""
    for path in sorted((ROOT / "functions").glob("*/*.py")):
        source = path.read_text()
        if "lambda_handler" not in source or path.parent.name == "pre_token":
            continue
        wrapped = "@entry_point(" in source or "step_handler(" in source or "offboarding_step(" in source
        assert wrapped, f"{path.relative_to(ROOT)} does not build its services per invocation"
    entry = ROOT / "layers/common/python/callguard/clients.py"
    assert entry.read_text().count("deps.per_invocation(handler)") == 1
    runner = ROOT / "layers/common/python/callguard/privacy/step_runner.py"
    assert runner.read_text().count("self.deps.per_invocation(self._run)") == 1
    offboarding = (ROOT / "layers/common/python/callguard/privacy/offboarding_runner.py").read_text()
    run = offboarding[offboarding.index("    def _run(") :]
    assert "build_offboarding(self.clients" in run  # a new graph inside every invocation
