"""Sentiment documents: billed close to Comprehend's lower bound, trajectory kept where the text pays for it."""

from __future__ import annotations

import math

import pytest

from callguard.analysis.comprehend import billed_units
from callguard.analysis.service import MIN_BILLED_CHARS, RedactedTurn, sentiment_documents, sentiment_summary

pytestmark = pytest.mark.unit


def _call(turns: list[tuple[str, str]]) -> list[RedactedTurn]:
    return [RedactedTurn(s, i * 1000, i * 1000 + 900, t, ()) for i, (s, t) in enumerate(turns)]


def _bound(docs: dict[tuple[str, tuple[int, ...]], str]) -> int:
    return max(3, math.ceil(sum(len(t) for t in docs.values()) / 100))


def test_a_short_call_bills_one_minimum_document_per_speaker() -> None:
    turns = [("agent" if i % 2 == 0 else "customer", f"Kurzer Satz {i}.") for i in range(8)]
    docs = sentiment_documents(_call(turns))
    assert sorted(k[0] for k in docs) == ["agent", "customer"]
    assert sum(billed_units(t) for t in docs.values()) <= 2 * _bound(docs)
    # every word is sent, once
    assert sorted(" ".join(docs.values()).split()) == sorted(" ".join(t for _, t in turns).split())


def test_a_long_customer_keeps_four_quarters_and_the_souring_mood() -> None:
    sentence = "x" * (MIN_BILLED_CHARS + 10)
    turns = [("customer", f"{sentence} {i}") for i in range(8)]
    docs = sentiment_documents(_call(turns))
    covered = [q for (speaker, quarters) in docs for q in quarters if speaker == "customer"]
    assert sorted(covered) == [0, 1, 2, 3]
    assert len(docs) == 4
    labels = [{"Sentiment": s} for s in ("POSITIVE", "NEUTRAL", "NEGATIVE", "NEGATIVE")]
    summary = sentiment_summary(list(docs), labels)
    assert summary["trajectory"] == ["POSITIVE", "NEUTRAL", "NEGATIVE", "NEGATIVE"]


def test_a_medium_speaker_gets_runs_of_quarters_each_worth_a_minimum_document() -> None:
    # 4 quarters of ~160 characters (two turns of 80 each): two documents of two quarters,
    # each past the 300-character minimum
    turns = [("customer", "y" * 80) for _ in range(8)]
    docs = sentiment_documents(_call(turns))
    assert [k[1] for k in docs] == [(0, 1), (2, 3)]
    assert all(len(t) >= MIN_BILLED_CHARS for t in docs.values())
    summary = sentiment_summary(list(docs), [{"Sentiment": "POSITIVE"}, {"Sentiment": "NEGATIVE"}])
    # each quarter takes the label of the document that holds it: the shift stays visible
    assert summary["trajectory"] == ["POSITIVE", "POSITIVE", "NEGATIVE", "NEGATIVE"]


def test_quarters_without_customer_speech_stay_empty() -> None:
    turns = [
        ("customer", "Hallo."),
        ("agent", "a"),
        ("agent", "b"),
        ("agent", "c"),
        ("agent", "d"),
        ("customer", "Tschüss."),
    ]
    docs = sentiment_documents(_call(turns))
    summary = sentiment_summary(list(docs), [{"Sentiment": "NEUTRAL"} for _ in docs])
    assert summary["trajectory"] == ["NEUTRAL", None, None, "NEUTRAL"]
