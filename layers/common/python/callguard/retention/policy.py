"""Retention per data category (Art. 5(1)(e) storage limitation).

One typed policy, read by the infrastructure (synth-time validation, the records
of processing) and by the functions (``expires_at`` on every item they write).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["DataCategory", "RetentionPolicy", "RetentionPolicyError", "RetentionRule"]


class RetentionPolicyError(ValueError):
    """The retention policy is incomplete or invalid."""


class DataCategory(StrEnum):
    TRANSCRIPTS = "transcripts"
    CALLS = "calls"
    ANALYSES = "analyses"
    ROUTING_DECISIONS = "routing_decisions"
    FOLLOWUPS = "followups"
    SUBJECTS = "subjects"
    PRIVACY_REQUESTS = "privacy_requests"
    AUDIT = "audit"
    EXPORTS = "exports"


class RetentionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Annotated[int, Field(ge=1, le=3650)]
    purpose: Annotated[str, Field(min_length=3)]
    legal_basis: Annotated[str, Field(min_length=3)]


_DEFAULTS: dict[DataCategory, RetentionRule] = {
    DataCategory.TRANSCRIPTS: RetentionRule(
        days=90,
        purpose="Quality assurance and handling of complaints about the call",
        legal_basis="Art. 6(1)(a) GDPR consent to recording",
    ),
    DataCategory.CALLS: RetentionRule(
        days=90,
        purpose="Call metadata needed to serve the caller and to link the transcript",
        legal_basis="Art. 6(1)(b) GDPR performance of a contract",
    ),
    DataCategory.ANALYSES: RetentionRule(
        days=365,
        purpose="Redacted call analysis for routing and service improvement",
        legal_basis="Art. 6(1)(a) GDPR consent to AI analysis",
    ),
    DataCategory.ROUTING_DECISIONS: RetentionRule(
        days=90,
        purpose="Explainability of automated routing (Art. 22 GDPR)",
        legal_basis="Art. 6(1)(f) GDPR legitimate interest in fast routing",
    ),
    DataCategory.FOLLOWUPS: RetentionRule(
        days=180,
        purpose="Proactive follow-up of unresolved calls",
        legal_basis="Art. 6(1)(a) GDPR consent to AI analysis",
    ),
    DataCategory.SUBJECTS: RetentionRule(
        days=365,
        purpose="Pseudonymous link of identifiers and the consent history",
        legal_basis="Art. 7(1) GDPR demonstrating consent",
    ),
    DataCategory.PRIVACY_REQUESTS: RetentionRule(
        days=3 * 365,
        purpose="Accountability for data-subject requests (Art. 5(2) GDPR)",
        legal_basis="Art. 6(1)(c) GDPR legal obligation",
    ),
    DataCategory.AUDIT: RetentionRule(
        days=6 * 365,
        purpose="Tamper-evident record of reads of personal data",
        legal_basis="Art. 6(1)(c) GDPR legal obligation (Art. 32 security)",
    ),
    DataCategory.EXPORTS: RetentionRule(
        days=7,
        purpose="Download of an access or portability export by the requester",
        legal_basis="Art. 6(1)(c) GDPR legal obligation (Art. 15, 20)",
    ),
}


class RetentionPolicy(BaseModel):
    """A retention rule for every :class:`DataCategory`; a missing one is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: dict[DataCategory, RetentionRule]

    @model_validator(mode="after")
    def _every_category_has_a_period(self) -> RetentionPolicy:
        missing = sorted(set(DataCategory) - set(self.rules))
        if missing:
            raise RetentionPolicyError(
                "Retention periods are missing for the data categories: " + ", ".join(str(c) for c in missing) + "."
            )
        # purging a subject shreds its data key: whatever is sealed under it must not outlive it
        subjects = self.rules[DataCategory.SUBJECTS].days
        for sealed in (DataCategory.TRANSCRIPTS, DataCategory.CALLS):
            if self.rules[sealed].days > subjects:
                raise RetentionPolicyError(
                    f"The {sealed} retention ({self.rules[sealed].days} days) exceeds the subjects retention "
                    f"({subjects} days): {sealed} are sealed under the subject's key, which goes with the subject."
                )
        return self

    @classmethod
    def defaults(cls, overrides: dict[str, int] | None = None) -> RetentionPolicy:
        rules = dict(_DEFAULTS)
        for name, days in (overrides or {}).items():
            try:
                category = DataCategory(name)
            except ValueError as exc:
                raise RetentionPolicyError(f"Unknown data category {name!r} in retention overrides.") from exc
            rules[category] = rules[category].model_copy(update={"days": days})
        try:
            return cls.model_validate({"rules": {k: v.model_dump() for k, v in rules.items()}})
        except ValidationError as exc:  # one sentence, not pydantic's report
            error = exc.errors(include_url=False)[0]
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, RetentionPolicyError):
                raise cause from None
            where = ".".join(str(p) for p in error["loc"])
            raise RetentionPolicyError(f"Retention setting {where!r} is invalid: {error['msg']}.") from None

    def days(self, category: DataCategory) -> int:
        return self.rules[category].days

    def expires_at(self, category: DataCategory, start: datetime) -> int:
        """Epoch seconds at which an item of ``category`` created at ``start`` expires."""
        return int((start + timedelta(days=self.days(category))).timestamp())

    def to_env(self) -> str:
        return json.dumps({str(k): v.days for k, v in self.rules.items()}, sort_keys=True)

    @classmethod
    def from_env(cls, value: str | None) -> RetentionPolicy:
        return cls.defaults(json.loads(value) if value else None)
