"""The one consent and restriction policy, every combination of what is on record.

The table below is the rule book written down independently of the implementation: for each
purpose, the first row whose condition holds gives the answer (``None`` = allowed). Every one
of the 2**6 combinations of recording, AI consent, AI disclosure, objection, restriction and
unknown caller is checked against it, plus the caller with no consent on record at all.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from typing import NamedTuple

import pytest

from callguard.policy.consent import CallConsent, ConsentDecision, Reason, SubjectState, decide

pytestmark = pytest.mark.unit


class Case(NamedTuple):
    recording: bool
    ai_analysis: bool
    ai_disclosure_given: bool
    objected: bool
    restricted: bool
    unknown: bool


Rule = tuple[Callable[[Case], bool], str]

RESTRICTED: Rule = (lambda c: c.restricted, "restricted")
OBJECTED: Rule = (lambda c: c.objected, "objected")
NO_AI: Rule = (lambda c: not c.ai_analysis, "no_ai_consent")
UNKNOWN: Rule = (lambda c: c.unknown, "unknown_caller")
NO_DISCLOSURE: Rule = (lambda c: not c.ai_disclosure_given, "no_ai_disclosure")
NO_RECORDING: Rule = (lambda c: not c.recording, "no_recording_consent")

#: purpose → refusal rules, first match wins; no match: allowed
TABLE: dict[str, list[Rule]] = {
    "store": [NO_RECORDING],  # restriction keeps the data: storage is what Art. 18(2) leaves
    "analyse": [RESTRICTED, OBJECTED, NO_AI, UNKNOWN, NO_DISCLOSURE, NO_RECORDING],
    "route_personally": [RESTRICTED, OBJECTED, NO_AI, UNKNOWN, NO_DISCLOSURE],
    "automate": [RESTRICTED, OBJECTED, NO_AI],
    "show_to_agent": [RESTRICTED],
    "export": [],  # the subject's own access (Art. 15/20) holds in every state
}

CASES = [Case(*flags) for flags in product((False, True), repeat=6)]


def _expected(purpose: str, case: Case) -> str | None:
    return next((reason for holds, reason in TABLE[purpose] if holds(case)), None)


def _decision(case: Case) -> ConsentDecision:
    state = SubjectState(known=not case.unknown, objected=case.objected, restricted=case.restricted)
    return decide(state, CallConsent(case.recording, case.ai_analysis, case.ai_disclosure_given))


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={int(v)}" for k, v in c._asdict().items()))
def test_every_combination_gets_the_answer_of_the_table(case: Case) -> None:
    decision = _decision(case)
    for purpose in TABLE:
        verdict = getattr(decision, purpose)
        expected = _expected(purpose, case)
        assert (verdict.allowed, verdict.refusal) == (expected is None, expected), purpose
        assert verdict.reason  # every answer, allowed or not, carries its reason


def test_the_table_covers_every_combination_and_every_purpose() -> None:
    assert len(set(CASES)) == 64
    assert set(TABLE) == set(ConsentDecision.__dataclass_fields__)


@pytest.mark.parametrize(("objected", "restricted"), list(product((False, True), repeat=2)))
def test_a_caller_with_nothing_on_record_is_never_routed_personally(objected: bool, restricted: bool) -> None:
    decision = decide(SubjectState(known=False, objected=objected, restricted=restricted), None)
    assert not decision.store.allowed
    assert not decision.analyse.allowed
    assert not decision.route_personally.allowed
    expected = "restricted" if restricted else "objected" if objected else "unknown_caller"
    assert decision.route_personally.refusal == expected
    # without an opt-out on record, an AI assistant may still take the call on the rules alone
    assert decision.automate.allowed is not (objected or restricted)
    assert decision.show_to_agent.allowed is not restricted
    assert decision.export.allowed


def test_allowed_answers_name_their_ground_and_refusals_explain_themselves() -> None:
    everything = decide(SubjectState(), CallConsent(True, True, True))
    assert everything.store.reason is Reason.RECORDING_CONSENT
    assert everything.analyse.reason is Reason.AI_CONSENT
    assert everything.export.reason is Reason.DATA_SUBJECT_RIGHT
    restricted = decide(SubjectState(restricted=True), CallConsent(True, True, True))
    assert restricted.automate.explain() == "processing restricted (Art. 18)"
    assert decide(SubjectState(objected=True), None).automate.explain() == "objected to AI processing (Art. 21)"


def test_missing_consent_flags_are_no_consent() -> None:
    assert CallConsent.of({"ai_analysis": True}) == CallConsent(False, True, False)
    assert CallConsent.of(None) == CallConsent()
