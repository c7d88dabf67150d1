"""PII detection and redaction (German first), and the quality bar on the labelled corpus."""

from __future__ import annotations

import pytest

from bench.pii_quality import load_corpus, score
from callguard.pii import PiiSpan, comprehend_spans, detect, normalise_spoken_digits, redact

pytestmark = pytest.mark.unit

STRUCTURED = ("IBAN", "CREDIT_CARD", "TAX_ID", "PHONE", "EMAIL")


def _labels(text: str, **kwargs: object) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.label) for s in detect(text, **kwargs)]  # type: ignore[arg-type]


def test_german_call_is_redacted_with_type_labels() -> None:
    text = "Mein Name ist Erika Mustermann, meine IBAN ist DE89 3704 0044 0532 0130 00."
    assert redact(text, detect(text)) == "Mein Name ist [NAME], meine IBAN ist [IBAN]."


def test_spoken_phone_number_is_found_with_offsets_into_the_original() -> None:
    text = "Meine Nummer: null eins fünf eins, zwei drei vier fünf sechs sieben acht neun. Danke!"
    (span,) = detect(text)
    assert span.label == "PHONE"
    assert span.source == "spoken"
    assert text[span.start : span.end] == "null eins fünf eins, zwei drei vier fünf sechs sieben acht neun"
    assert redact(text, [span]) == "Meine Nummer: [PHONE]. Danke!"


def test_spoken_digit_normalisation_keeps_ordinary_numbers_words() -> None:
    assert normalise_spoken_digits("Ich habe zwei Kinder und drei Hunde.")[0] == "Ich habe zwei Kinder und drei Hunde."
    normalised, index = normalise_spoken_digits("plus vier neun eins fünf eins zwei drei vier")
    assert normalised == "+49151234"
    assert index[0] == (0, len("plus vier neun eins fünf eins zwei drei vier"))


@pytest.mark.parametrize(
    "text",
    [
        "Meine Bestellnummer ist 030 12345678, die Lieferung fehlt.",
        "My order number is 0151 23456789 and it never arrived.",
        "Die Rechnung Nummer 2023-4711-0815 ist falsch.",
        "Der Betrag von 1234,56 Euro wurde abgebucht.",
        "Ich bin sauer, das war nicht in Ordnung.",
    ],
)
def test_tricky_negatives_stay_untouched(text: str) -> None:
    assert detect(text, regions=("DE", "GB")) == []


def test_checksums_decide_cards_and_a_misread_iban_is_still_redacted() -> None:
    assert _labels("Karte 4111 1111 1111 1112, Steuer-ID 65929970480") == []  # Luhn / idnr check digit wrong
    # right country format and length, wrong check digits: a misread IBAN is still an account number
    assert _labels("IBAN DE89 3704 0044 0532 0130 01") == [("DE89 3704 0044 0532 0130 01", "IBAN")]


def test_comprehend_entities_are_merged_and_higher_priority_spans_win() -> None:
    text = "Kontakt: Erika aus Berlin, IBAN DE89370400440532013000"
    entities = [
        {"Type": "PERSON", "BeginOffset": 9, "EndOffset": 14},
        {"Type": "LOCATION", "BeginOffset": 19, "EndOffset": 25},
        {"Type": "QUANTITY", "BeginOffset": 0, "EndOffset": 3},
        {"Type": "BANK_ACCOUNT_NUMBER", "BeginOffset": 32, "EndOffset": 40},
    ]
    spans = detect(text, extra=comprehend_spans(entities))
    assert redact(text, spans) == "Kontakt: [NAME] aus [LOCATION], IBAN [IBAN]"
    assert [s.source for s in spans if s.label == "IBAN"] == ["local"]  # the validated, longer span


def test_redact_ignores_empty_and_overlapping_spans() -> None:
    text = "abcdef"
    spans = [PiiSpan(1, 4, "NAME"), PiiSpan(2, 5, "LOCATION"), PiiSpan(5, 5, "PHONE")]
    assert redact(text, spans) == "a[NAME]ef"


def test_quality_on_the_labelled_corpus() -> None:
    examples = load_corpus()
    assert len(examples) >= 50
    for language in ("de", "en"):
        result = score(examples, language)
        for label in STRUCTURED:
            assert result.recall(label) >= 0.98, (language, label)
        assert result.recall("NAME") >= 0.90, language
    assert score(examples).precision() >= 0.95
