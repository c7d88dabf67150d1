"""Text normalisation for PII detection, with an offset map back to the original text.

:func:`normalise` returns the text the detectors read and, per character of it, the ``(start,
end)`` range of the original text it stands for. Steps, each linear in the text:

1. Unicode NFKC per character (full-width digits and letters become ASCII), and every format
   character (zero-width spaces and joiners, soft hyphens, bidi marks: category ``Cf``) removed.
2. Number words in German, English and Spanish become digits: single digits, pairs and compounds
   ("fünfundsechzig", "sixty-five", "sesenta y cinco", "neunzehnhunderteinundachtzig", "mil
   novecientos ochenta y uno"), "double/triple/doppel/doble", "oh" inside a number; a run of them
   (separated by spaces, commas, dashes or dots) is joined into one digit string, so a number read
   out in groups is one number. Ordinals up to 31 become "19." (de), "19th" (en).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise", "normalise_spoken_digits"]

Index = list[tuple[int, int]]

# -- step 1: characters ------------------------------------------------------------------


def _characters(text: str) -> tuple[str, Index]:
    out: list[str] = []
    index: Index = []
    for i, char in enumerate(text):
        if char.isascii():
            out.append(char)
            index.append((i, i + 1))
            continue
        if unicodedata.category(char) == "Cf":
            continue
        folded = unicodedata.normalize("NFKC", char)
        if char == "\u3000" or (folded.isspace() and folded != char):
            folded = " "
        for piece in folded:
            out.append(piece)
            index.append((i, i + 1))
    return "".join(out), index


# -- step 2: number words ----------------------------------------------------------------

_UNITS = {
    # German
    "null": 0, "eins": 1, "zwei": 2, "zwo": 2, "drei": 3, "vier": 4, "fünf": 5, "fuenf": 5, "sechs": 6,
    "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "zwoelf": 12,
    # English
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    # Spanish
    "cero": 0, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
    "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15, "dieciséis": 16,
    "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiuno": 21,
    "veintiún": 21, "veintidós": 22, "veintidos": 22, "veintitrés": 23, "veintitres": 23, "veinticuatro": 24,
    "veinticinco": 25, "veintiséis": 26, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28,
    "veintinueve": 29, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70,
    "ochenta": 80, "noventa": 90, "cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300,
    "cuatrocientos": 400, "quinientos": 500, "seiscientos": 600, "setecientos": 700, "ochocientos": 800,
    "novecientos": 900, "mil": 1000,
}  # fmt: skip
_MULTIPLIERS = {"hundred": 100, "thousand": 1000}
_REPEAT = {"double": 2, "triple": 3, "doppel": 2, "doble": 2, "triple-": 3}
_JOINERS = frozenset({"and", "y", "und"})
#: "oh" is a zero only next to other number words
_OH = "oh"

# German compounds: morphemes, longest first; "ein" only inside a compound
_DE_MORPHEMES = sorted(
    {
        **{k: v for k, v in _UNITS.items() if (v < 13 and k.isalpha() and not k.isascii()) or k in {
            "null", "eins", "zwei", "zwo", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf",
            "zwölf"}},
        "ein": 1, "sech": 6, "sieb": 7, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15, "sechzehn": 16,
        "siebzehn": 17, "achtzehn": 18, "neunzehn": 19, "zwanzig": 20, "dreißig": 30, "dreissig": 30,
        "vierzig": 40, "fünfzig": 50, "sechzig": 60, "siebzig": 70, "achtzig": 80, "neunzig": 90,
        "hundert": -100, "tausend": -1000, "und": -1,
    }.items(),
    key=lambda kv: -len(kv[0]),
)  # fmt: skip
_DE_ORDINAL = re.compile(r"^(.{3,40}?)(?:s?te[nrms]?)$")
_EN_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_ES_ORDINALS = {"primero": 1, "primer": 1}


def _german_compound(word: str) -> int | None:  # noqa: C901 - a small morpheme parser
    """Value of a German number word written as one compound, or None."""
    if len(word) > 60:
        return None
    total, current, pos, parts = 0, 0, 0, 0
    pending_unit = 0
    while pos < len(word):
        for morpheme, value in _DE_MORPHEMES:  # noqa: B007 - the matching pair is used after the loop
            if word.startswith(morpheme, pos):
                break
        else:
            return None
        pos += len(morpheme)
        parts += 1
        if value == -1:  # "und": the unit before it is added to the tens after it
            if not current and not pending_unit:
                return None
            pending_unit, current = current % 10 if current % 100 < 10 else 0, current - (current % 10)
            if not pending_unit:
                return None
            continue
        if value == -100:
            current = (current or 1) * 100
        elif value == -1000:
            total += (current or 1) * 1000
            current = 0
        else:
            if pending_unit:
                if value % 10 or value < 20:
                    return None
                value += pending_unit
                pending_unit = 0
            current += value
    if pending_unit or (parts == 1 and word in {"ein", "sech", "sieb", "und"}):
        return None
    return total + current


def _word_value(word: str) -> int | None:
    lower = word.lower()
    if lower in _UNITS:
        return _UNITS[lower]
    if "-" in lower:  # "sixty-five"
        head, _, tail = lower.partition("-")
        tens = head in _UNITS and _UNITS[head] % 10 == 0 and 20 <= _UNITS[head] < 100
        if tens and tail in _UNITS and 0 < _UNITS[tail] < 10:
            return _UNITS[head] + _UNITS[tail]
        return None
    if len(lower) > 4 and lower[0] in "nzdvfsaeh" and lower.isalpha():
        return _german_compound(lower)
    return None


def _ordinal(word: str) -> str | None:
    """``"19."``/``"19th"`` for an ordinal day or month word (1-31), else None."""
    lower = word.lower()
    if lower in _EN_ORDINALS:
        return f"{_EN_ORDINALS[lower]}th"
    if "-" in lower:
        head, _, tail = lower.partition("-")
        if head in ("twenty", "thirty") and tail in _EN_ORDINALS and _EN_ORDINALS[tail] < 10:
            value: int | None = _UNITS[head] + _EN_ORDINALS[tail]
            return f"{value}th" if value is not None and value <= 31 else None
    if lower in _ES_ORDINALS:
        return str(_ES_ORDINALS[lower])
    match = _DE_ORDINAL.match(lower)
    if match and lower[0] in "enzdvfsaeh":
        stem = match.group(1)
        for candidate in (stem, stem + "s", stem + "en", stem + "t"):
            value = {"ers": 1, "drit": 3, "sieb": 7, "ach": 8}.get(candidate)
            if value is None:
                value = _word_value(candidate)
            if value is not None and 1 <= value <= 31:
                return f"{value}."
    return None


_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)?|\d+|\s{0,3}[,.\-/]\s{0,3}|\s+|[^\w\s]", re.UNICODE)
_GAP = re.compile(r"^(?:\s{1,3}|\s{0,3}[,.\-/]\s{0,3})$")


def _join(values: list[tuple[int, bool]]) -> str:
    """Digits for a run of number values (value, spoken-as-word). Additive where the next value
    fits into the zeros of the one before ("sesenta" "y cinco", "mil" "novecientos"), else the
    digits are concatenated ("null eins", "fünfundsechzig zweiundzwanzig")."""
    parts: list[int] = []
    for value, _spoken in values:
        if parts and parts[-1] > 0:
            last = parts[-1]
            zeros = len(str(last)) - len(str(last).rstrip("0"))
            if value in (100, 1000) and last < value:
                parts[-1] = last * value
                continue
            if value > 0 and len(str(value)) <= zeros:
                parts[-1] = last + value
                continue
        parts.append(value)
    return "".join(str(p) for p in parts)


def _numbers(text: str) -> tuple[str, Index]:  # noqa: C901 - one loop over tokens
    """Number words and runs of them as digits; map into ``text``."""
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    out: list[str] = []
    index: Index = []

    def emit(piece: str, start: int, end: int, spread: bool) -> None:
        out.append(piece)
        if spread:
            index.extend((start, end) for _ in piece)
        else:
            index.extend((k, k + 1) for k in range(start, end))

    i = 0
    n = len(tokens)
    while i < n:
        start, end, token = tokens[i]
        values: list[tuple[int, bool]] = []
        words = 0
        j = i
        run_end = end
        plus = token.lower() == "plus" and i + 2 < n and tokens[i + 1][2].isspace() and _is_number_token(tokens, i + 2)
        if plus:
            j = i + 2
        while j < n:
            _, e, t = tokens[j]
            lower = t.lower()
            if j > i and _GAP.match(t):
                # a gap continues the run only when a number follows it
                if j + 1 < n and _is_number_token(tokens, j + 1):
                    j += 1
                    continue
                break
            if lower in _REPEAT and j + 2 < n and tokens[j + 1][2].isspace():
                value = _word_value(tokens[j + 2][2]) if tokens[j + 2][2].lower() != _OH else 0
                if value is not None and value < 10:
                    values.extend((value, True) for _ in range(_REPEAT[lower]))
                    words += 1
                    run_end = tokens[j + 2][1]
                    j += 3
                    continue
            if lower in _JOINERS and values and j + 2 < n and tokens[j + 1][2].isspace():
                nxt = _word_value(tokens[j + 2][2])
                last = values[-1][0]
                tens_unit = nxt is not None and nxt < 10 and last % 10 == 0 and 20 <= last < 100
                if nxt is not None and (tens_unit or (last >= 100 and last % 100 == 0)):
                    values.append((nxt, True))
                    run_end = tokens[j + 2][1]
                    j += 3
                    continue
                break
            if lower in _MULTIPLIERS and values:
                values.append((_MULTIPLIERS[lower], True))
                run_end = e
                j += 1
                continue
            if t.isdigit() and len(t) <= 19:
                values.append((int(t), False)) if not t.startswith("0") else values.extend((int(c), False) for c in t)
                run_end = e
                j += 1
                continue
            value = _word_value(t)
            if value is None and lower == _OH and (values or (j + 2 < n and _is_number_token(tokens, j + 2))):
                value = 0
            if value is None:
                break
            values.append((value, True))
            words += 1
            run_end = e
            j += 1
        if words:
            digits = ("+" if plus else "") + _join(values)
            emit(digits, start, run_end, spread=True)
            i = j if j > i else i + 1
            # re-emit a gap token that ended the run is handled by the loop below
            while i < n and tokens[i][0] < run_end:
                i += 1
            continue
        if j > i + 1:
            # a run of digits and gaps without number words: kept as it is, and not scanned again
            # from each of its tokens (that would be quadratic in the run's length)
            emit(text[start : tokens[j - 1][1]], start, tokens[j - 1][1], spread=False)
            i = j
            continue
        ordinal = _ordinal(token) if token.isalpha() or "-" in token else None
        if ordinal is not None:
            emit(ordinal, start, end, spread=True)
        else:
            emit(token, start, end, spread=False)
        i += 1
    return "".join(out), index


def _is_number_token(tokens: list[tuple[int, int, str]], j: int) -> bool:
    token = tokens[j][2]
    lower = token.lower()
    if token.isdigit() or lower in _REPEAT or lower == _OH or lower in _MULTIPLIERS:
        return True
    if lower in _JOINERS:
        return j + 2 < len(tokens) and _word_value(tokens[j + 2][2]) is not None
    return _word_value(token) is not None


# -- together ----------------------------------------------------------------------------


def normalise(text: str) -> tuple[str, Index]:
    """The detectors' view of ``text`` and, per character of it, the original range it stands for."""
    chars, first = _characters(text)
    numbers, second = _numbers(chars)
    index = [(first[a][0], first[b - 1][1]) for a, b in second]
    return numbers, index


def normalise_spoken_digits(text: str) -> tuple[str, Index]:
    """Kept for callers of the earlier API: the same as :func:`normalise`."""
    return normalise(text)
