"""An explainable intent classifier: keywords per intent, from configuration.

Each intent lists keywords (German and English stems, matched case-insensitively at
word starts in redacted text and key phrases). The intent with the most matches wins;
the matched keywords are the explanation. No match: ``general``.

Redaction labels (``[ADDRESS]``, ``[NAME]``, …) are what callguard wrote, not what the
caller said: they are removed before matching and never count as evidence (otherwise
"… [ADDRESS]" would read as an address change, a standard intent that AI may handle).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from callguard.analysis.pii import LABELS

__all__ = ["DEFAULT_INTENTS", "IntentConfig", "IntentResult", "IntentRule", "classify", "without_labels"]

#: A redaction label as redaction writes it (``[ADDRESS]``), or a label name left bare in upper
#: case, as a key-phrase extractor may cut it out of its brackets (``ADDRESS``, ``[NAME``).
_LABEL = re.compile(r"\[[A-Z][A-Z0-9_]*\]|\[?\b(?:" + "|".join(map(re.escape, LABELS)) + r")\b\]?")


class IntentRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z_]{2,40}$")
    keywords: tuple[str, ...] = Field(min_length=1)
    #: the knowledge base answers this intent (routing may hand it to AI)
    standard: bool = False


class IntentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[IntentRule, ...]

    @classmethod
    def from_env(cls, value: str | None) -> IntentConfig:
        return cls.model_validate(json.loads(value)) if value else DEFAULT_INTENTS

    def to_env(self) -> str:
        return self.model_dump_json()


DEFAULT_INTENTS = IntentConfig(
    rules=(
        IntentRule(
            name="billing",
            keywords=(
                "rechnung",
                "abbuchung",
                "abgebucht",
                "lastschrift",
                "betrag",
                "invoice",
                "bill",
                "charge",
                "refund",
            ),
        ),
        IntentRule(name="cancellation", keywords=("kündig", "storn", "cancel", "terminate")),
        IntentRule(
            name="address_change",
            keywords=("umzug", "umgezogen", "adresse", "anschrift", "moved", "address"),
            standard=True,
        ),
        IntentRule(
            name="technical_issue",
            keywords=("störung", "funktioniert nicht", "internet", "router", "outage", "not working", "broken"),
        ),
        IntentRule(
            name="order_status",
            keywords=("lieferung", "bestellung", "paket", "delivery", "order", "parcel"),
            standard=True,
        ),
    )
)


@dataclass(frozen=True)
class IntentResult:
    name: str
    matched: tuple[str, ...]
    standard: bool


def without_labels(text: str) -> str:
    """``text`` with every redaction label replaced by a space: what the caller actually said."""
    return _LABEL.sub(" ", text)


def classify(texts: Sequence[str], config: IntentConfig = DEFAULT_INTENTS) -> IntentResult:
    haystack = " ".join(without_labels(t) for t in texts).lower()
    best: tuple[int, IntentRule | None, tuple[str, ...]] = (0, None, ())
    for rule in config.rules:
        matched = tuple(k for k in rule.keywords if re.search(rf"(?<!\w){re.escape(k)}", haystack))
        hits = sum(len(re.findall(rf"(?<!\w){re.escape(k)}", haystack)) for k in matched)
        if hits > best[0]:
            best = (hits, rule, matched)
    if best[1] is None:
        return IntentResult("general", (), False)
    return IntentResult(best[1].name, best[2], best[1].standard)
