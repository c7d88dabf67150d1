"""The routing rules (pure): consent, sentiment, history, language, hours, tier."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callguard.routing.rules import DEFAULT_ROUTING, CallerHistory, RoutingConfig, RoutingInput, decide

pytestmark = pytest.mark.unit

TUESDAY_10_BERLIN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 CET
TUESDAY_22_BERLIN = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # 22:00 CET
SUNDAY_NOON = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
SUMMER_EDGE = datetime(2026, 7, 7, 17, 59, tzinfo=UTC)  # 19:59 CEST: still open


def _input(**overrides: object) -> RoutingInput:
    values: dict[str, object] = {
        "now": TUESDAY_10_BERLIN,
        "language": "de",
        "intent": "order_status",
        "intent_standard": True,
        "intent_evidence": ("lieferung",),
        "sentiment": "NEUTRAL",
        "ai_allowed": True,
        "ai_blocked_reason": None,
        "history": None,
        "history_unused_reason": "first-time caller",
    }
    values.update(overrides)
    return RoutingInput(**values)  # type: ignore[arg-type]


def _factors(decision: object) -> dict[str, object]:
    return {r["factor"]: r for r in decision.reasons}  # type: ignore[attr-defined]


@pytest.mark.parametrize("intent", ["order_status", "address_change", "billing", "general"])
def test_opt_out_means_a_human_whatever_the_intent(intent: str) -> None:
    decision = decide(
        _input(intent=intent, intent_standard=True, ai_allowed=False, ai_blocked_reason="opted out of AI analysis")
    )
    assert decision.handled_by == "human"
    assert _factors(decision)["ai_consent"]["value"] == "opted out of AI analysis"


def test_standard_request_of_a_calm_caller_goes_to_ai() -> None:
    decision = decide(_input())
    assert (decision.queue, decision.handled_by) == ("de-service", "ai")
    assert decision.suggestions == list(DEFAULT_ROUTING.knowledge_base["order_status"])


def test_angry_repeat_caller_outranks_a_calm_first_time_caller() -> None:
    calm = decide(_input(intent="billing", intent_standard=False))
    angry = decide(
        _input(
            intent="billing",
            intent_standard=False,
            sentiment="NEGATIVE",
            history=CallerHistory(calls_in_window=2, open_followups=1, previous_negative=True),
            history_unused_reason=None,
        )
    )
    assert angry.priority < calm.priority  # 1 is the most urgent
    assert angry.priority == 1
    assert angry.handled_by == "human"
    factors = _factors(angry)
    assert {"repeat_caller", "open_followups", "previous_negative_call", "sentiment"} <= set(factors)


def test_history_is_ignored_without_consent_and_the_reason_says_so() -> None:
    decision = decide(
        _input(
            ai_allowed=False, ai_blocked_reason="opted out of AI analysis", history_unused_reason="not used: opted out"
        )
    )
    assert _factors(decision)["history"] == {"factor": "history", "value": "not used", "effect": "not used: opted out"}


def test_language_picks_the_team_and_intent_the_skill() -> None:
    assert decide(_input(language="de", intent="billing", intent_standard=False)).queue == "de-billing"
    assert decide(_input(language="en", intent="cancellation", intent_standard=False)).queue == "en-retention"
    assert decide(_input(language="fr")).queue == "de-service"  # unknown language → default team


@pytest.mark.parametrize(
    ("now", "standard", "queue", "handled_by"),
    [
        (TUESDAY_22_BERLIN, True, "de-service", "ai"),  # AI answers standard requests around the clock
        (TUESDAY_22_BERLIN, False, "callback", "human"),  # the rest is called back
        (SUNDAY_NOON, False, "callback", "human"),
        (SUMMER_EDGE, False, "de-billing", "human"),  # DST: 19:59 in Berlin is open
    ],
)
def test_after_hours_at_fixed_instants(now: datetime, standard: bool, queue: str, handled_by: str) -> None:
    decision = decide(_input(now=now, intent="billing" if not standard else "order_status", intent_standard=standard))
    assert (decision.queue, decision.handled_by) == (queue, handled_by)


def test_tier_and_bounds() -> None:
    vip = decide(
        _input(tier="vip", sentiment="NEGATIVE", history=CallerHistory(3, 2, True), history_unused_reason=None)
    )
    assert vip.priority == 1  # never below 1
    assert _factors(vip)["customer_tier"]["value"] == "vip"


def test_config_version_changes_with_the_rules() -> None:
    other = RoutingConfig(after_hours_queue="night")
    assert decide(_input()).config_version == DEFAULT_ROUTING.version
    assert other.version != DEFAULT_ROUTING.version
    assert RoutingConfig.from_env(other.to_env()).version == other.version
