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


def _german_compound(word: str) -> int | None:
    """Value of a German number word written as one compound, or None."""
    if len(word) > 60:
        return None
    values = _morpheme_values(word)
    if values is None or (len(values) == 1 and word in {"ein", "sech", "sieb", "und"}):
        return None
    compound = _Compound()
    for value in values:
        step = _COMPOUND_STEPS.get(value)
        if not (step(compound) if step else compound.add(value)):
            return None
    return None if compound.pending_unit else compound.total + compound.current


def _morpheme_values(word: str) -> list[int] | None:
    """The values of the morphemes ``word`` is made of, longest match first; None if one is not a number's."""
    values: list[int] = []
    pos = 0
    while pos < len(word):
        match = next(((m, v) for m, v in _DE_MORPHEMES if word.startswith(m, pos)), None)
        if match is None:
            return None
        values.append(match[1])
        pos += len(match[0])
    return values


class _Compound:
    """The running value of a German compound, one morpheme at a time; each step says whether the
    morpheme may stand where it does ("und" needs a unit before it and tens after it)."""

    def __init__(self) -> None:
        self.total = self.current = self.pending_unit = 0

    def und(self) -> bool:
        """The unit before "und" is added to the tens after it ("fünfundsechzig")."""
        current = self.current
        self.pending_unit = current % 10 if current % 100 < 10 else 0
        self.current = current - current % 10
        return bool(self.pending_unit)

    def hundred(self) -> bool:
        self.current = (self.current or 1) * 100
        return True

    def thousand(self) -> bool:
        self.total += (self.current or 1) * 1000
        self.current = 0
        return True

    def add(self, value: int) -> bool:
        if self.pending_unit:
            if value % 10 or value < 20:
                return False
            value += self.pending_unit
            self.pending_unit = 0
        self.current += value
        return True


#: the morphemes with a meaning of their own (their ``_DE_MORPHEMES`` value is a marker, not a number)
_COMPOUND_STEPS = {-1: _Compound.und, -100: _Compound.hundred, -1000: _Compound.thousand}


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


class _Out:
    """The normalised text, piece by piece, and per character of it the original range."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.index: Index = []

    def emit(self, piece: str, start: int, end: int, *, spread: bool) -> None:
        """``spread``: every character of ``piece`` stands for all of ``start:end`` (a number written
        differently); otherwise ``piece`` is the original text, character for character."""
        self.pieces.append(piece)
        if spread:
            self.index.extend((start, end) for _ in piece)
        else:
            self.index.extend((k, k + 1) for k in range(start, end))


_Token = tuple[int, int, str]


class _Run:
    """A run of number tokens from ``first``: ``j`` is the next token to read, ``end`` where the
    run's number words end in the text, ``values`` (value, spoken as a word) and how many words."""

    def __init__(self, tokens: list[_Token], first: int) -> None:
        self.tokens, self.first = tokens, first
        n = len(tokens)
        self.plus = (
            tokens[first][2].lower() == "plus"
            and first + 2 < n
            and tokens[first + 1][2].isspace()
            and _is_number_token(tokens, first + 2)
        )
        self.j = first + 2 if self.plus else first
        self.end = tokens[first][1]
        self.values: list[tuple[int, bool]] = []
        self.words = 0

    def take(self, values: list[tuple[int, bool]], *, last: int, words: int) -> bool:
        """Tokens up to ``last`` (inclusive) read as ``values``."""
        self.values.extend(values)
        self.words += words
        self.end = self.tokens[last][1]
        self.j = last + 1
        return True

    def spaced_word(self) -> str | None:
        """The word after a single space following the current token ("double _five_")."""
        j, tokens = self.j, self.tokens
        return tokens[j + 2][2] if j + 2 < len(tokens) and tokens[j + 1][2].isspace() else None

    def extend(self) -> bool:
        """Read the next form of a number; False where the run ends."""
        token = self.tokens[self.j][2]
        lower = token.lower()
        for form in _FORMS:
            taken = form(self, lower, token)
            if taken is not None:
                return taken
        return False


# Each form of a number: True when it read tokens, False when the run ends there, None when the
# token is not of this form (the next form is tried). The last form decides.


def _gap_form(run: _Run, _lower: str, token: str) -> bool | None:
    """A gap (spaces, a comma, dash, dot or slash) continues the run only when a number follows it."""
    if run.j == run.first or not _GAP.match(token):
        return None
    if run.j + 1 < len(run.tokens) and _is_number_token(run.tokens, run.j + 1):
        run.j += 1
        return True
    return False


def _repeat_form(run: _Run, lower: str, _token: str) -> bool | None:
    """ "double five", "doppel null", "triple seven"."""
    word = run.spaced_word() if lower in _REPEAT else None
    if word is None:
        return None
    value = _word_value(word) if word.lower() != _OH else 0
    if value is None or value >= 10:
        return None
    return run.take([(value, True)] * _REPEAT[lower], last=run.j + 2, words=1)


def _joiner_form(run: _Run, lower: str, _token: str) -> bool | None:
    """ "sesenta y cinco", "hundred and five": the joined word fits into the zeros before it."""
    word = run.spaced_word() if lower in _JOINERS and run.values else None
    if word is None:
        return None
    nxt, last = _word_value(word), run.values[-1][0]
    tens_unit = nxt is not None and nxt < 10 and last % 10 == 0 and 20 <= last < 100
    if nxt is None or not (tens_unit or (last >= 100 and last % 100 == 0)):
        return False
    return run.take([(nxt, True)], last=run.j + 2, words=0)


def _multiplier_form(run: _Run, lower: str, _token: str) -> bool | None:
    if lower not in _MULTIPLIERS or not run.values:
        return None
    return run.take([(_MULTIPLIERS[lower], True)], last=run.j, words=0)


def _digits_form(run: _Run, _lower: str, token: str) -> bool | None:
    """Digits as written; with a leading zero, each digit on its own."""
    if not token.isdigit() or len(token) > 19:
        return None
    values = [(int(c), False) for c in token] if token.startswith("0") else [(int(token), False)]
    return run.take(values, last=run.j, words=0)


def _word_form(run: _Run, lower: str, token: str) -> bool:
    """A number word; "oh" is zero only next to other number words."""
    value = _word_value(token)
    tokens, j = run.tokens, run.j
    if value is None and lower == _OH and (run.values or (j + 2 < len(tokens) and _is_number_token(tokens, j + 2))):
        value = 0
    if value is None:
        return False
    return run.take([(value, True)], last=j, words=1)


_FORMS = (_gap_form, _repeat_form, _joiner_form, _multiplier_form, _digits_form, _word_form)


def _numbers(text: str) -> tuple[str, Index]:
    """Number words and runs of them as digits; map into ``text``."""
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    out = _Out()
    i = 0
    while i < len(tokens):
        i = _emit_from(text, tokens, i, out)
    return "".join(out.pieces), out.index


def _emit_from(text: str, tokens: list[_Token], i: int, out: _Out) -> int:
    """Emit what starts at token ``i``; the index of the next token to read."""
    start, end, token = tokens[i]
    if token.isspace():  # no form of a number starts with a space: kept as it is
        out.emit(token, start, end, spread=False)
        return i + 1
    run = _Run(tokens, i)
    while run.j < len(tokens) and run.extend():
        pass
    if run.words:
        out.emit(("+" if run.plus else "") + _join(run.values), start, run.end, spread=True)
        i = run.j if run.j > i else i + 1
        while i < len(tokens) and tokens[i][0] < run.end:  # past the tokens the run stands for
            i += 1
        return i
    if run.j > i + 1:
        # a run of digits and gaps without number words: kept as it is, and not scanned again
        # from each of its tokens (that would be quadratic in the run's length)
        out.emit(text[start : tokens[run.j - 1][1]], start, tokens[run.j - 1][1], spread=False)
        return run.j
    ordinal = _ordinal(token) if token.isalpha() or "-" in token else None
    out.emit(token if ordinal is None else ordinal, start, end, spread=ordinal is not None)
    return i + 1


def _is_number_token(tokens: list[_Token], j: int) -> bool:
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
