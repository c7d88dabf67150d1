"""PII detection and redaction for every language, German first.

Comprehend's PII API covers English and Spanish only, so callguard finds personal data
with validators from well-kept libraries and narrow, cue-anchored patterns:

* ``phonenumbers`` (``PhoneNumberMatcher``, default region from the call/config),
* ``python-stdnum``: IBAN, payment cards (Luhn + issuer prefix), German tax id
  (``de.idnr``), EU VAT numbers (``eu.vat``), and national ids with distinctive shapes
  (Spanish DNI/NIE, Italian codice fiscale, French NIR, Austrian social insurance number),
* e-mail addresses, dates of birth near cue words, street addresses and postcodes,
* names after cues ("mein Name ist …", "hier spricht …", "Herr/Frau …", "this is …"),
* plus spans that Comprehend found (``BatchDetectEntities`` PERSON/LOCATION for any
  supported language, ``DetectPiiEntities`` for en/es), passed in by the caller.

Numbers read out word by word by speech recognition ("null eins fünf eins …",
"zero one five …") are normalised to digits first, with an offset map back to the
original text, so a spoken phone number or IBAN is still found. Spans from all
detectors are merged; :func:`redact` replaces each with its type label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.at import vnr
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.eu import vat
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import nir
from stdnum.it import codicefiscale

__all__ = ["LABELS", "PiiSpan", "comprehend_spans", "detect", "normalise_spoken_digits", "redact"]

#: Type labels used in redacted text, in merge priority order (earlier wins an overlap).
LABELS = (
    "EMAIL",
    "IBAN",
    "CREDIT_CARD",
    "TAX_ID",
    "NATIONAL_ID",
    "PHONE",
    "DATE_OF_BIRTH",
    "ADDRESS",
    "NAME",
    "LOCATION",
)
_PRIORITY = {label: i for i, label in enumerate(LABELS)}


@dataclass(frozen=True, order=True)
class PiiSpan:
    start: int
    end: int
    label: str
    source: str = "local"


# -- spoken digits ------------------------------------------------------------------

_DIGIT_WORDS = {
    "null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4", "fünf": "5", "fuenf": "5",
    "sechs": "6", "sieben": "7", "acht": "8", "neun": "9",
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TOKEN = re.compile(r"[^\W_]+|\+", re.UNICODE)
_RUN_GAP = re.compile(r"^[\s,.-]*$")
_MIN_SPOKEN_DIGITS = 4


def _digit_of(word: str, first: bool) -> str | None:
    lower = word.lower()
    if lower in _DIGIT_WORDS and not (lower == "oh" and first):  # "oh" is a zero only inside a number
        return _DIGIT_WORDS[lower]
    if word.isdigit() or (word == "+" and first):
        return word
    if lower == "plus" and first:
        return "+"
    return None


def _spoken_runs(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, digits)`` for each run of number words (and digit groups) in ``text``."""
    tokens = list(_TOKEN.finditer(text))
    runs: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        j, digits, words = i, "", 0
        while j < len(tokens):
            if j > i and _RUN_GAP.match(text[tokens[j - 1].end() : tokens[j].start()]) is None:
                break
            digit = _digit_of(tokens[j].group(), first=not digits)
            if digit is None:
                break
            digits += digit
            words += tokens[j].group().lower() in _DIGIT_WORDS
            j += 1
        if words >= _MIN_SPOKEN_DIGITS or (words >= 2 and len(digits.lstrip("+")) >= 6):
            runs.append((tokens[i].start(), tokens[j - 1].end(), digits))
            i = j
        else:
            i += 1
    return runs


def normalise_spoken_digits(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Text with runs of spoken digits replaced by digits, and per output character the
    ``(start, end)`` range of the original text it stands for."""
    out: list[str] = []
    index: list[tuple[int, int]] = []
    cursor = 0
    for start, end, digits in [*_spoken_runs(text), (len(text), len(text), "")]:
        out.append(text[cursor:start])
        index.extend((k, k + 1) for k in range(cursor, start))
        out.append(digits)
        index.extend((start, end) for _ in digits)
        cursor = end
    return "".join(out), index


# -- detectors (on the normalised text) ---------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\s?\d{2}(?:\s?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_TAX_ID = re.compile(r"(?<![\w-])\d{2}\s?\d{3}\s?\d{3}\s?\d{3}(?![\w-])")
#: Other EU national identifiers python-stdnum validates, each with a distinctive shape
#: (checksums decide; formats that collide with ordinary numbers are left out).
_NATIONAL_IDS = (
    (re.compile(r"(?<![\w-])\d{8}-?[A-Z](?![\w-])"), dni.is_valid),  # Spain, DNI
    (re.compile(r"(?<![\w-])[XYZ]-?\d{7}-?[A-Z](?![\w-])"), nie.is_valid),  # Spain, NIE
    (re.compile(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b"), codicefiscale.is_valid),  # Italy
    (
        re.compile(r"(?<![\w-])[12]\s?\d{2}\s?\d{2}\s?(?:\d{2}|2A|2B)\s?\d{3}\s?\d{3}\s?\d{2}(?![\w-])"),
        nir.is_valid,
    ),  # France
    (re.compile(r"(?<![\w-])\d{4}\s?\d{6}(?![\w-])"), vnr.is_valid),  # Austria, social insurance
)
_VAT = re.compile(r"\b[A-Z]{2}\s?[0-9A-Z]{8,12}\b")
_NON_PERSONAL_NUMBER_CUE = re.compile(
    r"(?i)(?:bestell|auftrags|rechnungs|vorgangs|ticket|sendungs|artikel|order|invoice|ticket|tracking|reference|"
    r"case|vertrags|kunden)[\s-]*(?:nummer|nr\.?|number|no\.?|id)?\s*:?(?:\s+(?:ist|lautet|is|was|war))?\s*:?\s*$"
)
_MONTHS = (
    "Januar|Februar|März|Maerz|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember|"
    "January|February|March|May|June|July|October|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Okt|Nov|Dec|Dez"
)
_DATE = (
    r"\d{1,2}\.\s?\d{1,2}\.\s?(?:19|20)?\d{2}"
    rf"|\d{{1,2}}\.?\s(?:{_MONTHS})\s(?:19|20)\d{{2}}"
    rf"|(?:{_MONTHS})\s\d{{1,2}}(?:st|nd|rd|th)?,?\s(?:19|20)\d{{2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s(?:of\s)?(?:{_MONTHS})\s(?:19|20)\d{{2}}"
    r"|(?:19|20)\d{2}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/(?:19|20)\d{2}"
)
_DOB = re.compile(
    r"(?i:geboren\s+am|geb\.|geburtsdatum(?:\s+ist)?|geburtstag(?:\s+ist)?|date\s+of\s+birth(?:\s+is)?|"
    r"born\s+on|birthday\s+is|dob)\s*:?\s*(?:(?i:am|der|den|the|on)\s+)?(" + _DATE + ")"
)
_STREET_DE = re.compile(
    r"\b(?:[A-ZÄÖÜ][\wäöüß-]+\s)?[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer|"
    r"chaussee|Straße|Weg|Platz|Allee|Gasse|Ring|Damm)\s+\d{1,4}\s?[a-zA-Z]?\b"
)
_STREET_EN = re.compile(
    r"\b\d{1,5}\s(?:[A-Z][a-z]+\s){1,3}(?:Street|St\.|Road|Rd\.|Avenue|Ave\.|Lane|Drive|Way|Close|Court)"
)
_PLZ_CITY = re.compile(r"(?<!\d)\d{5}\s[A-ZÄÖÜ][a-zäöüß]+(?:[ -][A-ZÄÖÜ][a-zäöüß]+)?(?!\w)")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b")
_NAME_WORD = r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?"
_NAME = re.compile(
    r"(?i:\bmein\s+name\s+ist|\bmein\s+name\s+lautet|\bhier\s+spricht|\bich\s+heiße|\bich\s+heisse|\bherrn?|"
    r"\bfrau|\bmy\s+name\s+is|\bthis\s+is|\bi\s+am|\bi'm|\bmr\.?|\bmrs\.?|\bms\.?|\bdr\.?|\bname\s*:)\s+"
    rf"({_NAME_WORD}(?:\s+(?:von\s+|van\s+|de\s+)?{_NAME_WORD}){{0,2}})"
)
_NOT_NAMES = frozenset(
    "Ihr Ihre Ihnen Sie Support Kundenservice Service Team Kunde Kundin Berater Beraterin The Customer "
    "Calling Here Not Very Sorry Happy Glad Angry Upset Fine Good Interested Sure Afraid Your Our".split()
)


def _phone_spans(text: str, regions: Sequence[str]) -> Iterable[tuple[int, int]]:
    """Valid numbers in any of ``regions`` (national numbers are read in each)."""
    for region in dict.fromkeys(regions):
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            yield match.start, match.end


def _compact(value: str) -> str:
    return re.sub(r"[\s-]", "", value)


def _iban_like(value: str) -> bool:
    """A valid IBAN, or one of a known country's format and length with only the checksum
    wrong: a misread IBAN is still an account number and must not be kept."""
    try:
        stdnum_iban.validate(value)
    except InvalidChecksum:
        return True
    except ValidationError:
        return False
    return True


def _card_ok(value: str) -> bool:
    digits = _compact(value)
    if not 13 <= len(digits) <= 19 or not luhn.is_valid(digits):
        return False
    return digits[0] in "3456" or digits[:2] in {"22", "23", "24", "25", "26", "27"}


def _names(text: str) -> Iterable[tuple[int, int]]:
    for match in _NAME.finditer(text):
        words = match.group(1).split()
        if words[0] in _NOT_NAMES:
            continue
        keep = len(words)
        while keep > 1 and words[keep - 1] in _NOT_NAMES:
            keep -= 1
        start = match.start(1)
        # the kept words are a prefix of the match; find where the last kept one ends
        end = start
        for word in words[:keep]:
            end = text.index(word, end) + len(word)
        yield start, end


def _local_spans(text: str, regions: Sequence[str]) -> list[PiiSpan]:
    spans: list[PiiSpan] = []
    spans += [PiiSpan(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]
    spans += [PiiSpan(m.start(), m.end(), "IBAN") for m in _IBAN.finditer(text) if _iban_like(m.group())]
    spans += [PiiSpan(m.start(), m.end(), "CREDIT_CARD") for m in _CARD.finditer(text) if _card_ok(m.group())]
    spans += [
        PiiSpan(m.start(), m.end(), "TAX_ID") for m in _TAX_ID.finditer(text) if idnr.is_valid(_compact(m.group()))
    ]
    spans += [PiiSpan(m.start(), m.end(), "TAX_ID") for m in _VAT.finditer(text) if vat.is_valid(_compact(m.group()))]
    for pattern, valid in _NATIONAL_IDS:
        spans += [
            PiiSpan(m.start(), m.end(), "NATIONAL_ID") for m in pattern.finditer(text) if valid(_compact(m.group()))
        ]
    for start, end in _phone_spans(text, regions):
        if _NON_PERSONAL_NUMBER_CUE.search(text[max(0, start - 30) : start]):
            continue  # an order/ticket/customer number that happens to look like a phone number
        spans.append(PiiSpan(start, end, "PHONE"))
    spans += [PiiSpan(m.start(1), m.end(1), "DATE_OF_BIRTH") for m in _DOB.finditer(text)]
    for pattern in (_STREET_DE, _STREET_EN, _PLZ_CITY, _UK_POSTCODE):
        spans += [PiiSpan(m.start(), m.end(), "ADDRESS") for m in pattern.finditer(text)]
    spans += [PiiSpan(start, end, "NAME") for start, end in _names(text)]
    return spans


# -- Comprehend results ---------------------------------------------------------------

_COMPREHEND_TYPES = {
    "PERSON": "NAME",
    "LOCATION": "LOCATION",
    "NAME": "NAME",
    "PHONE": "PHONE",
    "EMAIL": "EMAIL",
    "ADDRESS": "ADDRESS",
    "BANK_ACCOUNT_NUMBER": "IBAN",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": "IBAN",
    "CREDIT_DEBIT_NUMBER": "CREDIT_CARD",
    "SSN": "TAX_ID",
}


def comprehend_spans(entities: Iterable[dict[str, object]], source: str = "comprehend") -> list[PiiSpan]:
    """Comprehend entities (``Type``, ``BeginOffset``, ``EndOffset``) as spans; other types dropped."""
    spans = []
    for entity in entities:
        label = _COMPREHEND_TYPES.get(str(entity.get("Type")))
        if label is not None:
            spans.append(PiiSpan(int(entity["BeginOffset"]), int(entity["EndOffset"]), label, source))  # type: ignore[call-overload]
    return spans


# -- merge and redact -----------------------------------------------------------------


def _merge(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Drop spans overlapping a higher-priority (then longer) span; keep the rest in order."""
    chosen: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (_PRIORITY.get(s.label, 99), -(s.end - s.start), s.start)):
        if span.end <= span.start:
            continue
        if any(span.start < c.end and c.start < span.end for c in chosen):
            continue
        chosen.append(span)
    return sorted(chosen)


def detect(
    text: str,
    *,
    regions: Sequence[str] = ("DE",),
    extra: Sequence[PiiSpan] = (),
) -> list[PiiSpan]:
    """Every personal-data span in ``text`` (offsets into ``text``), merged.

    ``regions`` are the phone regions national numbers are read in (the call's language
    region and the configured default); ``extra`` holds spans found elsewhere
    (Comprehend), already in ``text``'s offsets.
    """
    normalised, index = normalise_spoken_digits(text)
    found = []
    for span in _local_spans(normalised, regions):
        start, end = index[span.start][0], index[span.end - 1][1]
        spoken = (end - start) != (span.end - span.start)
        found.append(PiiSpan(start, end, span.label, "spoken" if spoken else span.source))
    return _merge([*found, *extra])


def redact(text: str, spans: Sequence[PiiSpan]) -> str:
    """``text`` with every span replaced by ``[LABEL]``."""
    out, cursor = [], 0
    for span in _merge(spans):
        out.append(text[cursor : span.start])
        out.append(f"[{span.label}]")
        cursor = span.end
    out.append(text[cursor:])
    return "".join(out)
