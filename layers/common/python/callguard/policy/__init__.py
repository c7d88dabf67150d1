"""Policies: pure answers to "may we?", asked by every capability that moves personal data."""

from .consent import CallConsent, ConsentDecision, SubjectState, Verdict, decide

__all__ = ["CallConsent", "ConsentDecision", "SubjectState", "Verdict", "decide"]
