"""Explainable routing: every factor that moves a decision is written into ``reasons``.

Rules come from one typed configuration (queues per language and skill, business hours
in Europe/Berlin, priority adjustments, the knowledge base); the decision function is
pure, so a decision can be reproduced from its inputs and the config version it names.
Personal history is used only for callers who consented to AI analysis and have neither
objected nor been restricted; a caller who opted out of AI is always handled by a human.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_ROUTING", "CallerHistory", "Decision", "RoutingConfig", "RoutingInput", "decide"]

BERLIN = ZoneInfo("Europe/Berlin")


class BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    opens: time = time(8, 0)
    closes: time = time(20, 0)
    #: ISO weekdays (1 = Monday … 7 = Sunday)
    days: tuple[int, ...] = (1, 2, 3, 4, 5, 6)


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    languages: dict[str, str] = Field(default_factory=lambda: {"de": "de", "en": "en"})
    default_language: str = "de"
    #: intent → skill; the queue is ``<language>-<skill>``
    skills: dict[str, str] = Field(
        default_factory=lambda: {
            "billing": "billing",
            "cancellation": "retention",
            "technical_issue": "tech",
            "address_change": "service",
            "order_status": "service",
            "general": "service",
        }
    )
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    #: outside business hours: standard requests go to AI, the rest to this queue
    after_hours_queue: str = "callback"
    base_priority: Annotated[int, Field(ge=1, le=5)] = 4
    repeat_window_days: Annotated[int, Field(ge=1, le=90)] = 7
    priority_tiers: dict[str, int] = Field(default_factory=lambda: {"premium": -1, "vip": -2})
    #: knowledge-base answers per intent (shown to agents and used by the AI assistant)
    knowledge_base: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "billing": ("Explain the charge from the invoice line items", "Offer a refund for double charges"),
            "address_change": ("Update the address in the customer account; confirmation by e-mail",),
            "order_status": ("Share the tracking link from the order",),
            "cancellation": ("Check the notice period and offer a retention plan",),
            "technical_issue": ("Check the outage map, then restart the router remotely",),
        }
    )

    @property
    def version(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @classmethod
    def from_env(cls, value: str | None) -> RoutingConfig:
        return cls.model_validate_json(value) if value else DEFAULT_ROUTING

    def to_env(self) -> str:
        return self.model_dump_json()


DEFAULT_ROUTING = RoutingConfig()


@dataclass(frozen=True)
class CallerHistory:
    calls_in_window: int
    open_followups: int
    previous_negative: bool


@dataclass(frozen=True)
class RoutingInput:
    now: datetime
    language: str | None
    intent: str
    intent_standard: bool
    intent_evidence: tuple[str, ...]
    #: None: not analysed (no utterance, or the caller opted out of AI)
    sentiment: str | None
    ai_allowed: bool
    ai_blocked_reason: str | None
    history: CallerHistory | None
    history_unused_reason: str | None
    tier: str | None = None
    #: Comprehend did not answer (after its retries): routed without language detection and sentiment
    analysis_unavailable: bool = False


@dataclass
class Decision:
    queue: str
    priority: int
    handled_by: Literal["ai", "human"]
    reasons: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    config_version: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "priority": self.priority,
            "handled_by": self.handled_by,
            "reasons": self.reasons,
            "suggestions": self.suggestions,
        }


def _within_hours(now: datetime, hours: BusinessHours) -> bool:
    local = now.astimezone(BERLIN)
    return local.isoweekday() in hours.days and hours.opens <= local.time() < hours.closes


@dataclass
class _Draft:
    """A decision while the rules run: each rule moves it and writes why into ``reasons``."""

    queue: str
    priority: int
    reasons: list[dict[str, Any]] = field(default_factory=list)
    #: why a person must take the call (empty: an AI assistant may)
    human_reasons: list[str] = field(default_factory=list)
    handled_by: Literal["ai", "human"] = "human"

    def reason(self, factor: str, value: Any, effect: str) -> None:
        self.reasons.append({"factor": factor, "value": value, "effect": effect})


def decide(data: RoutingInput, config: RoutingConfig = DEFAULT_ROUTING) -> Decision:
    """The decision: each rule in turn, in the order its reason appears in ``reasons``."""
    language = data.language if data.language in config.languages else config.default_language
    skill = config.skills.get(data.intent, config.skills["general"])
    draft = _Draft(queue=f"{config.languages[language]}-{skill}", priority=config.base_priority)
    draft.reason("language", data.language or "unknown", f"{config.languages[language]} team")
    evidence = ", ".join(data.intent_evidence) or "no keyword matched"
    draft.reason("intent", data.intent, f"skill {skill} ({evidence})")
    for rule in (_consent_rule, _sentiment_rule, _history_rule, _tier_rule, _automation_rule, _hours_rule):
        rule(draft, data, config)
    priority = max(1, min(5, draft.priority))
    suggestions = list(config.knowledge_base.get(data.intent, ()))
    return Decision(draft.queue, priority, draft.handled_by, draft.reasons, suggestions, config.version)


def _consent_rule(draft: _Draft, data: RoutingInput, config: RoutingConfig) -> None:
    if not data.ai_allowed:
        draft.human_reasons.append(data.ai_blocked_reason or "ai_not_allowed")
        draft.reason("ai_consent", data.ai_blocked_reason, "handled by a human; no AI analysis of this caller")


def _sentiment_rule(draft: _Draft, data: RoutingInput, config: RoutingConfig) -> None:
    if data.sentiment is None and data.analysis_unavailable:
        draft.reason("sentiment", "unavailable (the language service did not answer)", "no effect; routed on the rules")
    elif data.sentiment is None:
        draft.reason("sentiment", "not analysed", "no effect")
    elif data.sentiment in {"NEGATIVE", "MIXED"}:
        draft.priority -= 1
        draft.human_reasons.append("negative_sentiment")
        draft.reason("sentiment", data.sentiment, "priority +1, handled by a human")
    else:
        draft.reason("sentiment", data.sentiment, "no effect")


def _history_rule(draft: _Draft, data: RoutingInput, config: RoutingConfig) -> None:
    history = data.history
    if history is None:
        draft.reason("history", "not used", data.history_unused_reason or "first-time caller")
        return
    if history.calls_in_window > 0:
        draft.priority -= 1
        window = f"called within {config.repeat_window_days} days: priority +1"
        draft.reason("repeat_caller", history.calls_in_window, window)
    if history.open_followups > 0:
        draft.priority -= 1
        draft.reason("open_followups", history.open_followups, "priority +1")
    if history.previous_negative:
        draft.priority -= 1
        draft.human_reasons.append("previous_negative_call")
        draft.reason("previous_negative_call", True, "priority +1, handled by a human")


def _tier_rule(draft: _Draft, data: RoutingInput, config: RoutingConfig) -> None:
    if data.tier and data.tier in config.priority_tiers:
        draft.priority += config.priority_tiers[data.tier]
        draft.reason("customer_tier", data.tier, f"priority {-config.priority_tiers[data.tier]:+d}")


def _automation_rule(draft: _Draft, data: RoutingInput, config: RoutingConfig) -> None:
    if draft.human_reasons:
        return
    if data.intent_standard:
        draft.handled_by = "ai"
        draft.reason("standard_request", data.intent, "the knowledge base answers it: handled by AI")
    else:
        draft.reason("standard_request", False, "needs a person: handled by a human")


def _hours_rule(draft: _Draft, data: RoutingInput, config: RoutingConfig) -> None:
    if _within_hours(data.now, config.business_hours):
        draft.reason("business_hours", "open", "no effect")
        return
    local = data.now.astimezone(BERLIN).strftime("%a %H:%M")
    if draft.handled_by == "ai":
        draft.reason("business_hours", f"closed ({local} Europe/Berlin)", "AI answers around the clock")
    else:
        draft.queue = config.after_hours_queue
        draft.reason("business_hours", f"closed ({local} Europe/Berlin)", f"queue {draft.queue}: a person calls back")
