"""PII detection and redaction for every language, German first.

Comprehend's PII API covers English and Spanish only, so callguard finds personal data itself,
on a normalised view of the text (:mod:`callguard.analysis.pii_normalise`: NFKC, format characters
removed, number words as digits, with an offset map back to the original):

* ``phonenumbers`` (valid numbers in the call's regions), and phone-shaped digit runs that are
  possible numbers in one of them (a number need not be assigned to be personal);
* ``python-stdnum`` checksums decide, whatever the grouping: IBAN (also lower case, with dashes,
  double spaces), any Luhn-valid 12-19-digit card number (unknown issuers too), German tax id,
  EU VAT numbers, Spanish DNI/NIE, Italian codice fiscale, French NIR, Austrian and Swiss social
  insurance numbers, US SSN and UK NI numbers by shape;
* e-mail addresses, written or spelled out ("erika punkt mustermann at gmx punkt de");
* dates of birth, written or spoken, near a birth cue or answering a birth-date question in the
  previous turn (``previous=``);
* street addresses (German suffixes, English suffixes and Spanish prefixes from the lexicon) and
  postcodes with a place (4- and 5-digit, UK, US);
* names: after cue words and titles, before "am Apparat"/"hier"/"speaking"/"al habla", at a turn
  start before a greeting, and first names from a per-country list (Faker's providers, built
  into ``pii_lexicon.json.gz`` by ``bench/pii_lexicon_build.py``) followed by a surname, in any
  case;
* plus spans that Comprehend found, passed in by the caller.

Every detector is linear in the text: patterns have bounded repetitions only, word tests are done
on tokens in Python, and context is looked up in bounded windows (``bench/pii_linear.py``).
"""

from __future__ import annotations

import bisect
import gzip
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.at import vnr
from stdnum.ch import ssn as ch_ssn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.eu import vat
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import nir
from stdnum.iso7064 import mod_97_10
from stdnum.it import codicefiscale
from stdnum.us import ssn as us_ssn

from callguard.analysis.pii_normalise import normalise, normalise_spoken_digits

__all__ = [
    "DETECTORS",
    "LABELS",
    "PiiSpan",
    "comprehend_spans",
    "detect",
    "detect_turns",
    "normalise_spoken_digits",
    "redact",
]

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


Found = list[tuple[int, int, str]]


# -- lexicon ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lexicon:
    first: frozenset[str]
    last: frozenset[str]
    street_suffixes_en: frozenset[str]
    street_prefixes_es: frozenset[str]


@cache
def _lexicon() -> _Lexicon:
    raw = resources.files(__package__).joinpath("pii_lexicon.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    return _Lexicon(
        frozenset(n.lower() for n in data["first"]),
        frozenset(n.lower() for n in data["last"]),
        frozenset(s.lower() for s in data["street_suffixes_en"]),
        frozenset(p.lower() for p in data["street_prefixes_es"] if " " not in p),
    )


#: Words that are first names or surnames in the lexicon but, capitalised in a call, are far
#: more often something else (months, brands, ordinary nouns, greetings, pronouns).
_NOT_NAMES = frozenset(
    """
    ihr ihre ihnen sie sie's support kundenservice service team kunde kundin berater beraterin the customer
    calling here not very sorry happy glad angry upset fine good interested sure afraid your our
    januar februar märz april mai juni juli august september oktober november dezember jänner
    january february march may june july october december enero febrero marzo abril mayo junio julio agosto
    septiembre octubre noviembre diciembre montag dienstag mittwoch donnerstag freitag samstag sonntag
    monday tuesday wednesday thursday friday saturday sunday lunes martes miércoles jueves viernes sábado domingo
    vodafone telekom amazon apple google movistar orange o2 mercedes fritzbox paypal visa mastercard
    blumen blume rose rosen sommer winter frühling herbst frank will mark bill grace hope faith joy summer
    luz dolores esperanza amparo consuelo pilar sol paz gloria victoria mar cruz nieves rosario
    hallo hello hola hi hey ja yes yeah yep no nein sí si danke thanks gracias bitte please okay ok genau also well
    schönen schöne schönes äh ähm hm naja so right bueno vale oye mire pues vielen herzlichen
    guten gute morgen tag abend servus moin grüß gott good morning afternoon evening buenos buenas días tardes
    der die das den dem des ein eine einer einen und oder aber mit von zu im in am an auf bei nach für
    ich du er es wir mein meine mich mir i you he she we my me it it's this that is am are was
    yo tú él ella usted mi me le la el los las un una y o de del con por para en al
    herr frau mr mrs ms miss dr señor señora don doña sr sra
    rechnung vertrag router nummer karte konto paket techniker termin internet problem frage
    bill account card number contract parcel engineer internet problem question order
    factura contrato tarjeta número cuenta paquete técnico cita problema pregunta
    kommissar doktor professor mann kind kinder frau herr hund
    """.split()
)
#: In lower-case speech-to-text output, ordinary words that are also surnames
_LOWER_NOT_NAMES = frozenset(
    "sauer klein lang kurz groß gross weiß weiss schwarz braun froh müde krank neu alt jung fuchs wolf koch "
    "bauer fischer müller schneider vogel hahn sommer winter berg frank will mark young long white brown "
    "green black king hall bell wood hill rose moreno blanco rubio delgado bueno calvo".split()
)
#: Greetings and fillers that may stand before a name at a turn start
_GREETING = (
    r"(?:grüß\s(?:gott|sie)|gr[üu]ezi|servus|moin|hallo|hi|hey|hello|hola|guten\s(?:morgen|tag|abend)|"
    r"(?:schönen\s)?guten\stag|good\s(?:morning|afternoon|evening)|buen(?:os|as)\s(?:días|dias|tardes|noches)|"
    r"buenas|ja\shallo|yeah\shi|ja|yes|sí|si)"
)
#: before a name: strong (any capitalised word follows) and weak (the word must be a known name)
_STRONG_CUE = re.compile(
    r"(?i:\b(?:(?:mein\s|der\s)?(?:nach|vor|familien|zu)name(?:\s(?:ist|lautet))?:?|"
    r"(?:my\s|the\s)?(?:surname|last\sname|first\sname|family\sname)(?:\sis|'s)?:?|"
    r"(?:mi\s|el\s)?(?:apellido|primer\sapellido|segundo\sapellido)(?:\ses)?:?|"
    r"mein\sname\sist|mein\sname\slautet|mein\sname,|ich\shei(?:ß|ss)e|hier\sspricht|sie\ssprechen\smit|"
    r"my\sname\sis|my\sname's|name's|the\sname\sis|you're\sthrough\sto|you\sare\sthrough\sto|"
    r"me\sllamo|mi\snombre\ses|le\shabla|le\satiende|de\sparte\sde|"
    r"herrn?|frau|mr|mrs|ms|miss|dr|prof|señor|señora|señorita|sr|sra|srta|don|doña|name\s?:)\.?)\s{1,3}$"
)
_WEAK_CUE = re.compile(
    r"(?i:\b(?:ich\sbin|hier\sist|da\sist|hier\sist\snochmal|this\sis|it's|it\sis|i'm|i\sam|soy|habla|"
    r"con|mit|to|an|with|für|for|para|named|namens|heißt|called|llamada?|nombre|spoke\sto|hablé\scon|"
    r"gesprochen\smit|"
    r"wife's\sname|husband's\sname|nombre\sde|auf\smeinen\s(?:mann|namen)|auf\smeine\sfrau|"
    r"im\snamen\svon|in\sthe\sname\sof|a\snombre\sde)(?:\s(?:der|die|nochmal|again|also|el|la))?[,:]?)\s{1,3}$"
)
_AFTER_CUE = re.compile(
    r"(?i:,?\s{1,3}(?:am\sapparat|hier\b|here\b|speaking\b|al\shabla|calling\b|de\snuevo|again\b|nochmal\b|"
    r"(?:ist\s)?mein\sname\b|is\smy\sname\b|es\smi\snombre\b))"
)
_TURN_START_GREETING = re.compile(rf"(?i:\s{{0,3}},\s{{0,3}}{_GREETING}\b)")
_NAME_TOKEN = re.compile(r"(?:[^\W\d_]{2,40}|[^\W\d_]'[^\W\d_]{2,40})(?:[-'][^\W\d_]{1,40}){0,2}\.?|[^\W\d_]\.")
#: titles before and degrees after a name belong to it
_TITLE_BEFORE = re.compile(
    r"(?i:\b(?:univ\.\s?prof|prof|dr|dipl\.-ing|ing|mag|dr\.\s?med|herrn?|frau|mr|mrs|ms|miss|mx|sir|"
    r"sr|sra|srta|don|doña|dña)\.?\s{1,2}(?:(?:prof|dr)\.?\s{1,2})?)$"
)
_DEGREE_AFTER = re.compile(
    r"(?:,?\s(?:B\.\s?Sc|M\.\s?Sc|B\.\s?Eng|M\.\s?Eng|B\.\s?A|M\.\s?A|MBA|LL\.\s?M|PhD|Ph\.D|MD|DDS|DVM|"
    r"Jr|Sr|II|III|IV|V|BSc|MSc|BA|MA|Dipl\.-Ing)\.?(?![\w]))"
)
_CONNECTORS = frozenset(
    {"von", "van", "de", "del", "der", "den", "di", "da", "la", "le", "y", "zu", "ten", "ter", "dos"}
)


class _NameTokens:
    """The word tokens of a text and what each may be: a name, a known name, a surname."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lex = _lexicon()
        self.lower_text = not any(c.isupper() for c in text)
        self.tokens = [(m.start(), m.end(), m.group().rstrip(".")) for m in _NAME_TOKEN.finditer(text)]
        self.words = [t[2].lower() for t in self.tokens]

    def known(self, k: int) -> bool:
        word = self.words[k]
        return (word in self.lex.first or word in self.lex.last) and word not in _NOT_NAMES

    def nameish(self, k: int) -> bool:
        token, word = self.tokens[k][2], self.words[k]
        if word in _NOT_NAMES or (self.lower_text and word in _LOWER_NOT_NAMES):
            return self._first_before_surname(k)
        if self.lower_text or (len(token) > 2 and token.isupper()):  # "iban", "IBAN", "SEPA"
            return self.known(k)
        return token[0].isupper()

    def _first_before_surname(self, k: int) -> bool:
        """A stop-listed word is still a first name right before a known surname ("Rosa Vogt")."""
        tokens, words = self.tokens, self.words
        nxt = k + 1 < len(tokens) and self.text[tokens[k][1] : tokens[k + 1][0]] == " "
        return bool(
            not self.lower_text
            and tokens[k][2][0].isupper()
            and words[k] in self.lex.first
            and nxt
            and words[k + 1] in self.lex.last
            and words[k + 1] not in _NOT_NAMES
        )

    def surname(self, k: int) -> bool:
        """After a name: a known surname even if it is also a word ("Karina Frank", "Domingo")."""
        token = self.tokens[k][2]
        return self.words[k] in self.lex.last and (self.lower_text or token[0].isupper()) and len(token) > 2

    def adjacent(self, k: int) -> bool:
        tokens = self.tokens
        return k + 1 < len(tokens) and self.text[tokens[k][1] : tokens[k + 1][0]] in (" ", "  ")

    def group(self, k: int, limit: int = 4) -> int:
        """Index after the last token of the name starting at ``k``."""
        end, j = k + 1, k
        while end - k < limit and self.adjacent(j):
            nxt = j + 1
            if self.words[nxt] in _CONNECTORS and self.adjacent(nxt) and self.nameish(nxt + 1):
                j, end = nxt + 1, nxt + 2
            elif self.nameish(nxt) or self.surname(nxt):
                j, end = nxt, nxt + 1
            else:
                break
        return end

    def name_end(self, k: int) -> int:
        """Index after the name that starts at token ``k`` (0: none starts there)."""
        start, token = self.tokens[k][0], self.tokens[k][2]
        before = self.text[max(0, start - 48) : start]
        capital = token[0].isupper()
        if self._cued(k, before, capital) or self._paired(k, capital):
            return self.group(k)
        return self._uncued_end(k, before, capital)

    def _cued(self, k: int, before: str, capital: bool) -> bool:
        """After a strong cue ("mein Name ist", "Frau") any capitalised word; after a weak one
        ("ich bin", "mit") a known name."""
        strong = _STRONG_CUE.search(before) and (capital or self.known(k))
        weak = _WEAK_CUE.search(before) and self.known(k) and (capital or self.words[k] in self.lex.first)
        return bool(strong or weak)

    def _paired(self, k: int, capital: bool) -> bool:
        """A first name followed by a name ("Erika Mustermann", "Ana de la Fuente")."""
        words = self.words
        connected = self.adjacent(k) and words[k + 1] in _CONNECTORS and self.adjacent(k + 1)
        nxt = k + 2 if connected else k + 1
        return bool(
            words[k] in self.lex.first
            and self.adjacent(nxt - 1)
            and self.nameish(nxt)
            and (capital or words[nxt] in self.lex.last)
        )

    def _uncued_end(self, k: int, before: str, capital: bool) -> int:
        """Without a cue: before "am Apparat"/"speaking", at a turn start before a greeting, or a known
        first name after a greeting."""
        text, start = self.text, self.tokens[k][0]
        end = self.group(k, 3)
        after = _AFTER_CUE.match(text, self.tokens[end - 1][1])
        lead = text[:start].strip(" ,.;:!?-")
        turn_start = not lead or re.fullmatch(rf"(?i:{_GREETING})", lead) is not None
        if after and (turn_start or before.rstrip().endswith(",")) and (capital or self.known(k)):
            return end
        if turn_start and not lead and capital and _TURN_START_GREETING.match(text, self.tokens[k][1]):
            return k + 1
        if re.search(rf"(?i:{_GREETING}),?\s{{1,3}}$", before) and self.known(k) and self.words[k] in self.lex.first:
            return self.group(k)
        return 0

    def span(self, k: int, stop: int) -> tuple[int, int, str]:
        """The name from token ``k`` to before ``stop``, with a title before and a degree after it."""
        start = self.tokens[k][0]
        title = _TITLE_BEFORE.search(self.text, max(0, start - 24), start)
        degree = _DEGREE_AFTER.match(self.text, self.tokens[stop - 1][1])
        return (title.start() if title else start, degree.end() if degree else self.tokens[stop - 1][1], "NAME")


def _names(text: str) -> Found:
    names = _NameTokens(text)
    found: Found = []
    for k in range(len(names.tokens)):
        stop = names.name_end(k) if names.nameish(k) else 0
        if stop:
            found.append(names.span(k, stop))
    return found


# -- numbers: digit runs, cards, ids ----------------------------------------------------------

#: a run of digit groups with at most two separators between groups (bounded: linear)
_DIGIT_RUN = re.compile(r"(?<![\w.+)])\+?\d{1,19}(?:(?:[ .\-/]{1,2}|\s?\(0\)\s?)\d{1,19}){0,12}(?![\d])")
_NON_PERSONAL_NUMBER_CUE = re.compile(
    r"(?i)(?:bestell|auftrags|rechnungs|vorgangs|ticket|sendungs|artikel|order|invoice|tracking|reference|"
    r"case|vertrags|kunden|customer|contract|serien|serial|pedido|cliente|contrato|factura|referencia|seguimiento)"
    r"[\s-]{0,3}(?:nummer|nr\.?|number|no\.?|id|número|n\.?º)?\s{0,3}:?(?:\s{1,3}(?:ist|lautet|is|was|war|es|el))?"
    r"\s{0,3}:?\s{0,3}$"
)
_DATE_SHAPE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-](?:\d{2}|\d{4})|(?:19|20)\d{2}-\d{2}-\d{2}")


def _groups(match: re.Match[str]) -> list[tuple[int, int]]:
    return [(m.start() + match.start(), m.end() + match.start()) for m in re.finditer(r"\d+", match.group())]


def _digits(text: str, start: int, end: int) -> str:
    return "".join(c for c in text[start:end] if c.isdigit())


def _non_personal(text: str, start: int) -> bool:
    return _NON_PERSONAL_NUMBER_CUE.search(text[max(0, start - 40) : start]) is not None


def _number_ids(text: str) -> Found:
    """Checksum-valid cards and national ids inside digit runs, aligned to group boundaries."""
    found: Found = []
    for match in _DIGIT_RUN.finditer(text):
        if match.group().startswith("+") or _non_personal(text, match.start()):
            continue  # an international phone number, or an order/ticket number
        groups = _groups(match)
        taken = -1
        for a in range(len(groups)):
            if groups[a][0] <= taken:
                continue
            best: tuple[int, str] | None = None
            count = 0
            for b in range(a, len(groups)):
                count += groups[b][1] - groups[b][0]
                if count > 19:
                    break
                digits = _digits(text, groups[a][0], groups[b][1])
                label = _number_label(digits, text[groups[a][0] : groups[b][1]])
                if label:
                    best = (b, label)
            if best:
                b, label = best
                found.append((groups[a][0], groups[b][1], label))
                taken = groups[b][1]
    return found


def _number_label(digits: str, raw: str) -> str | None:
    n = len(digits)
    if len(set(digits)) < 2:  # "1111111111" is no one's number
        return None
    if n == 11 and idnr.is_valid(digits):
        return "TAX_ID"
    if n == 13 and digits.startswith("756") and ch_ssn.is_valid(digits):
        return "NATIONAL_ID"
    if n == 10 and vnr.is_valid(digits):
        return "NATIONAL_ID"
    if n == 9 and re.fullmatch(r"\d{3}[- ]\d{2}[- ]\d{4}", raw) and us_ssn.is_valid(digits):
        return "NATIONAL_ID"
    if n == 15 and nir.is_valid(digits):
        return "NATIONAL_ID"
    if 12 <= n <= 19 and digits[0] != "0" and len(set(digits)) > 1 and luhn.is_valid(digits):
        return "CREDIT_CARD"
    return None


_NATIONAL_IDS: tuple[tuple[re.Pattern[str], Callable[[str], bool], str], ...] = (
    (re.compile(r"(?<![\w-])\d{8}[ -]?[A-Za-z](?![\w-])"), dni.is_valid, "NATIONAL_ID"),
    (re.compile(r"(?<![\w-])[XYZxyz][ -]?\d{7}[ -]?[A-Za-z](?![\w-])"), nie.is_valid, "NATIONAL_ID"),
    (re.compile(r"\b[A-Za-z]{6}\d{2}[A-Za-z]\d{2}[A-Za-z]\d{3}[A-Za-z]\b"), codicefiscale.is_valid, "NATIONAL_ID"),
    # UK National Insurance number by shape (two letters, six digits, A-D)
    (re.compile(r"\b[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Za-z]\b"), lambda v: v[:2].isalpha(), "NATIONAL_ID"),
    (re.compile(r"\b[A-Z]{2}[ ]?[0-9A-Z]{8,12}\b"), vat.is_valid, "TAX_ID"),
    (re.compile(r"\b756[. ]?\d{4}[. ]?\d{4}[. ]?\d{2}\b"), ch_ssn.is_valid, "NATIONAL_ID"),
    # VAT numbers of the markets by their shape alone: a misread check digit is still the number
    (
        re.compile(
            r"\b(?:ATU\d{8}|CHE[- ]?\d{3}[. ]?\d{3}[. ]?\d{3}|DE ?\d{9}|ES ?[A-Za-z0-9]\d{7}[A-Za-z0-9]"
            r"|GB ?(?:\d{3} ?\d{4} ?\d{2}(?: ?\d{3})?|GD\d{3}|HA\d{3}))\b"
        ),
        lambda v: True,
        "TAX_ID",
    ),
    # US social security number by its shape (any area): 123-45-6789
    (re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"), lambda v: True, "NATIONAL_ID"),
)


def _letter_ids(text: str) -> Found:
    found: Found = []
    for pattern, valid, label in _NATIONAL_IDS:
        for m in pattern.finditer(text):
            value = re.sub(r"[\s.-]", "", m.group()).upper()
            try:
                ok = valid(value)
            except Exception:
                ok = False
            if ok:
                found.append((m.start(), m.end(), label))
    return found


# -- IBAN -------------------------------------------------------------------------------------

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z] ?[A-Za-z][ \-.]{0,2}\d{2}(?:[ \-.]{0,2}[A-Za-z0-9]){11,30}")


def _ibans(text: str) -> Found:
    found: Found = []
    for match in _IBAN.finditer(text):
        positions = [match.start() + i for i, c in enumerate(match.group()) if c.isalnum()]
        compact = "".join(text[p] for p in positions).upper()
        for length in range(len(compact), 14, -1):
            if _iban_like(compact[:length]):
                found.append((match.start(), positions[length - 1] + 1, "IBAN"))
                break
    return found


def _iban_like(value: str) -> bool:
    """A valid IBAN, or one of a known country's format and length with only the check digits
    wrong: a misread IBAN is still an account number and must not be kept."""
    try:
        stdnum_iban.validate(value)
    except InvalidChecksum:
        fixed = value[:2] + mod_97_10.calc_check_digits(value[4:] + value[:2]) + value[4:]
        try:
            stdnum_iban.validate(fixed)
        except ValidationError:
            return False
        return True
    except ValidationError:
        return False
    return True


# -- e-mail -----------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])[\w+-]{1,64}(?:\.[\w+-]{1,64}){0,6}\s?@\s?[\w-]{1,63}(?:\.[\w-]{1,63}){0,4}\.[A-Za-z]{2,18}(?![\w-])"
)
_DOT_WORD = r"(?:punkt|dot|punto)"
_SPELLED_EMAIL = re.compile(
    r"(?i)(?<![\w.-])[\w-]{1,64}(?:\s(?:" + _DOT_WORD + r"|unterstrich|underscore|guion\sbajo|bindestrich|minus|"
    r"dash|hyphen|guion)\s[\w-]{1,64}){0,5}\s(?:at|ät|@|arroba|et)\s[\w-]{1,63}"
    r"(?:\s" + _DOT_WORD + r"\s[\w-]{1,63}){0,3}"
    r"\s" + _DOT_WORD + r"\s(?:de|com|net|org|at|ch|es|uk|co|eu|info|biz|io|us|fr|it|nl|email|mail|online|gmx)\b"
)


def _emails(text: str) -> Found:
    found = [(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]
    found += [(m.start(), m.end(), "EMAIL") for m in _SPELLED_EMAIL.finditer(text)]
    return found


# -- phones -----------------------------------------------------------------------------------

_PHONE_SHAPE = re.compile(
    r"(?<![\w+\-./])(?:(?:\+|00)\d{1,3}[ \-./]{0,2}(?:\(0\)[ ]?)?|\(0?\d{1,5}\)[ \-./]{0,2}|0)"
    r"(?:\d[ \-./]{0,2}){5,13}\d"
    r"|(?<![\w+\-./])\(?[2-9]\d{2}\)?[ \-.]{0,2}\d{3}[ \-.]{0,2}\d{4}(?!\d)"
)
_EXTENSION = re.compile(r"\s?(?:x|ext\.?|extension|durchwahl)\s?\d{1,6}", re.IGNORECASE)
#: phone regions always tried for numbers with a country code
_WORLD = ("DE", "AT", "CH", "GB", "US", "ES")


def _phone_spans(text: str, regions: Sequence[str]) -> Found:
    spans: list[tuple[int, int]] = []
    for region in dict.fromkeys(regions):
        for number in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            spans.append((number.start, number.end))
    for shape in _PHONE_SHAPE.finditer(text):
        if _possible(shape.group(), regions):
            spans.append((shape.start(), shape.end()))
    found: Found = []
    for start, end in spans:
        raw = text[start:end]
        if _DATE_SHAPE.fullmatch(raw.strip()) or _non_personal(text, start):
            continue
        extension = _EXTENSION.match(text, end)
        found.append((start, extension.end() if extension else end, "PHONE"))
    return found


def _possible(raw: str, regions: Sequence[str]) -> bool:
    digits = sum(c.isdigit() for c in raw)
    if not 7 <= digits <= 15:
        return False
    for region in dict.fromkeys([*regions, *_WORLD]):  # the call's regions first, then the markets
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return True
    return False


# -- dates of birth ---------------------------------------------------------------------------

_MONTHS = (
    "januar|jänner|jaenner|februar|feber|märz|maerz|april|mai|juni|juli|august|september|oktober|november|dezember|"
    "january|february|march|may|june|july|october|december|"
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|okt|nov|dec|dez|ene|abr|ago|dic"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_YEAR = r"(?:19|20)\d{2}"
_DATE = re.compile(
    rf"(?i)(?<!\d)(?:{_DAY}[./-]\s?(?:1[0-2]|0?[1-9])[./-]\s?(?:{_YEAR}|\d{{2}})"
    rf"|{_YEAR}-(?:1[0-2]|0[1-9])-{_DAY}"
    rf"|(?:1[0-2]|0?[1-9])/{_DAY}/{_YEAR}"
    rf"|{_DAY}(?:\.|st|nd|rd|th)?\s{{1,2}}(?:of\s|de\s)?(?:{_MONTHS})\.?,?\s{{1,2}}(?:de\s|del\s)?(?:{_YEAR}|\d{{2}})"
    rf"|(?:{_MONTHS})\.?\s{{1,2}}{_DAY}(?:st|nd|rd|th)?,?\s{{1,2}}{_YEAR})(?!\d)"
)
_DOB_CUE = re.compile(
    r"(?i)geboren|geb\.|geburts|birth|born|\bdob\b|d\.o\.b|nac(?:í|i)|nacimiento|nacid[oa]|cumpleaños|jahrgang"
)


#: A full date whose year is this far back is taken for a birth date even without a cue: bills,
#: appointments and deliveries a caller talks about are recent, a birth date of an adult is not.
_BIRTH_YEAR_BEFORE = datetime.now(UTC).year - 14
_FULL_YEAR = re.compile(r"(?:19|20)\d{2}(?!\d)")


def _dates_of_birth(text: str, previous: str = "") -> Found:
    asked = bool(previous) and _DOB_CUE.search(previous[-300:]) is not None
    found: Found = []
    for match in _DATE.finditer(text):
        window = text[max(0, match.start() - 80) : match.start()] + " " + text[match.end() : match.end() + 24]
        years = [int(y) for y in _FULL_YEAR.findall(match.group())]
        old = bool(years) and 1900 <= years[-1] <= _BIRTH_YEAR_BEFORE
        if asked or old or _DOB_CUE.search(window):
            found.append((match.start(), match.end(), "DATE_OF_BIRTH"))
    return found


# -- addresses --------------------------------------------------------------------------------

_DE_STREET_SUFFIXES = (
    "straße", "strasse", "str.", "str", "weg", "platz", "allee", "gasse", "ring", "damm", "ufer", "chaussee",
    "steig", "pfad", "zeile", "markt", "graben", "kai", "promenade", "stiege", "steg", "hof", "berg", "tor",
    "brücke", "wall", "bogen", "anger", "feld", "garten", "park", "winkel", "höhe", "leite", "au", "grund",
)  # fmt: skip
_WORD_TOKEN = re.compile(r"[^\W\d_][\w'.\-]{0,60}")
_HOUSE_NUMBER = re.compile(r"\s{1,2}\d{1,5}(?:\s?[a-zA-Z](?![\w]))?(?:\s?[/-]\s?\d{1,4}[a-zA-Z]?)?(?!\d)")
_LEAD_NUMBER = re.compile(r"(?<![\d\w])(?:(?:studio|flat|apt\.?|unit)\s\d{1,4}[a-z]?,?\s|\d{1,5}[a-z]?\s)", re.I)
_EN_UNIT = re.compile(r"\s(?:apt\.|suite|unit|flat)\s\d{1,5}", re.IGNORECASE)
_POSTCODE_PLACE = re.compile(
    r"(?<![\d\w,./\-])(?:[A-Z]-)?(\d{4,5})\s{1,2}([^\W\d_][^\W\d_'.\-]{1,40}(?:[ \-](?:(?:am|an|im|in|bei|de|del|la|"
    r"ob|der)\s)?[^\W\d_][^\W\d_.\-]{1,40}){0,2})"
)
_NOT_PLACES = frozenset(
    "euro euros eur dollar dollars pfund pounds franken chf stück mal minuten stunden tage jahre kunden kunde "
    "uhr km mbit gb mb kwh punkte zeichen seiten".split()
)
_YEAR_CUE = re.compile(r"(?i)(?:seit|since|desde|bis|until|hasta|ab|from|jahr|year|año|im|in|en)\s{1,2}$")
_ES_ABBREVIATED_STREET = re.compile(
    r"(?i:\b(?:c/|avda\.|av\.|pza\.|pl\.|cl\.|ctra\.|pº|p\.º)\s?)[^\W\d_][^\W\d]{0,30}(?:\s[^\W\d][^\W\d]{0,30}){0,4}"
    r",?\s\d{1,4}(?:\s?[a-zA-Z](?!\w))?"
)
_ES_FLOOR = re.compile(r"(?i:(?:,?\s(?:piso|puerta|planta|bajo|escalera|esc\.|apt\.|apto\.|nº)\s?\w{0,4}){1,3})")
_PLACE_POSTCODE = re.compile(r"\b[A-ZÁÉÍÓÚÑ][\w'\-]{2,30}(?: [A-ZÁÉÍÓÚÑ][\w'\-]{1,30}){0,2},\s\d{5}\b")
_UK_POSTCODE = re.compile(r"\b[A-Za-z]{1,2}\d[A-Za-z\d]?\s[0-9][A-Za-z]{2}\b")
_US_STATE_ZIP = re.compile(r"\b[A-Za-z]{2}\s\d{5}(?:-\d{4})?\b")
_PLACE_BEFORE = re.compile(r"(?:[A-Z][\w'\-]{1,30},?\s){1,3}$")
_PLACE_BEFORE_LOWER = re.compile(r"(?:[a-z][\w'\-]{1,30},?\s){1,2}$")


def _addresses(text: str) -> Found:
    lower_text = not any(c.isupper() for c in text)
    found: Found = [(m.start(), m.end(), "ADDRESS") for m in _ES_ABBREVIATED_STREET.finditer(text)]
    found += _streets(text)
    found += [
        (m.start(), m.end(), "ADDRESS")
        for m in _POSTCODE_PLACE.finditer(text)
        if _is_postcode_place(text, m, lower_text)
    ]
    found += [(m.start(), m.end(), "ADDRESS") for m in _PLACE_POSTCODE.finditer(text)]
    found += _uk_us_postcodes(text, lower_text)
    return found


def _streets(text: str) -> Found:
    """Street names with a house number, in the first of the forms that fits at each word."""
    lex = _lexicon()
    tokens = list(_WORD_TOKEN.finditer(text))
    found: Found = []
    for k, m in enumerate(tokens):
        word = m.group().lower().rstrip(",;:!?")
        if not word.endswith("str."):
            word = word.rstrip(".")
        for form in _STREET_FORMS:
            span = form(text, tokens, k, word, lex)
            if span:
                found.append((*span, "ADDRESS"))
                break
    return found


_Tokens = list[re.Match[str]]


def _german_street(text: str, tokens: _Tokens, k: int, word: str, _lex: _Lexicon) -> tuple[int, int] | None:
    """ "...straße 5", "Theo-Spieß-Weg 92", "Am Markt 3" (suffix test on the token, no regex backtracking)."""
    m = tokens[k]
    number = (
        _HOUSE_NUMBER.match(text, m.start() + len(word))
        if len(word) > 2 and word.endswith(_DE_STREET_SUFFIXES)
        else None
    )
    if not number:
        return None
    before = tokens[k - 1] if k and tokens[k - 1].end() >= m.start() - 2 else None
    if before and (word in _DE_STREET_SUFFIXES or _is_street_adjective(before.group())):
        return before.start(), number.end()  # "Berliner Straße 5", "Alte Landstraße 3"
    return m.start(), number.end()


def _english_street(text: str, tokens: _Tokens, k: int, word: str, lex: _Lexicon) -> tuple[int, int] | None:
    """ "228 Tina Trail", "Studio 12 O'Neill Isle"."""
    if word not in lex.street_suffixes_en or not k:
        return None
    m = tokens[k]
    lead = _LEAD_NUMBER.search(text, max(0, tokens[max(0, k - 4)].start() - 12), tokens[k - 1].start() + 1)
    if not lead or "," in text[lead.end() : m.start()]:
        return None
    end = m.start() + len(word)
    unit = _EN_UNIT.match(text, end)
    return lead.start(), unit.end() if unit else end


def _spanish_street(text: str, tokens: _Tokens, k: int, word: str, lex: _Lexicon) -> tuple[int, int] | None:
    """ "Calle Mayor 5", "Paseo de Joaquín Feliu 98"."""
    if word not in lex.street_prefixes_es and word + "." not in lex.street_prefixes_es:
        return None
    j = k
    while j + 1 < len(tokens) and j - k < 6 and tokens[j + 1].start() - tokens[j].end() <= 2:
        j += 1
    number = _HOUSE_NUMBER.match(text, tokens[j].end())
    if j == k or not number:
        return None
    floor = _ES_FLOOR.match(text, number.end())
    return tokens[k].start(), floor.end() if floor else number.end()


_STREET_FORMS = (_german_street, _english_street, _spanish_street)


def _is_postcode_place(text: str, match: re.Match[str], lower_text: bool) -> bool:
    """ "10115 Berlin": not a word that is no place, not a year ("1990 Berlin" after "seit")."""
    code, place = match.group(1), match.group(2)
    first = place.split()[0].lower()
    capital = place[0].isupper()
    if first in _NOT_PLACES or (first in _NOT_NAMES and not capital) or (not capital and not lower_text):
        return False
    year_like = 1900 <= int(code) <= 2039 and _YEAR_CUE.search(text[max(0, match.start() - 12) : match.start()])
    return not (len(code) == 4 and (code[0] == "0" or year_like))


def _uk_us_postcodes(text: str, lower_text: bool) -> Found:
    """UK postcodes and US state + ZIP, with the place names before them."""
    place_before = _PLACE_BEFORE_LOWER if lower_text else _PLACE_BEFORE
    found: Found = []
    for pattern in (_UK_POSTCODE, _US_STATE_ZIP):
        for match in pattern.finditer(text):
            if pattern is _US_STATE_ZIP and not lower_text and not match.group()[:2].isupper():
                continue
            place = place_before.search(text, max(0, match.start() - 60), match.start())
            found.append((place.start() if place else match.start(), match.end(), "ADDRESS"))
    return found


def _is_street_adjective(word: str) -> bool:
    lower = word.lower()
    return lower.startswith(("alte", "neue", "große", "kleine", "obere", "untere", "lange", "hohe", "breite"))


# -- all detectors ----------------------------------------------------------------------------


def _normalise_only(text: str) -> Found:
    normalise(text)
    return []


#: name → detector on normalised text (``bench/pii_linear.py`` times each on its own; phones in
#: three regions, dates of birth as if the previous turn had asked for one)
DETECTORS: dict[str, Callable[[str], Found]] = {
    "email": _emails,
    "iban": _ibans,
    "cards and numeric ids": _number_ids,
    "letter ids": _letter_ids,
    "phone": lambda text: _phone_spans(text, ("DE", "GB", "US")),
    "date of birth": lambda text: _dates_of_birth(text, "Geburtsdatum?"),
    "address": _addresses,
    "name": _names,
    "normalise": _normalise_only,
}


def _local_spans(text: str, regions: Sequence[str], previous: str) -> list[PiiSpan]:
    found: Found = []
    found += _emails(text)
    found += _ibans(text)
    found += _number_ids(text)
    found += _letter_ids(text)
    found += _phone_spans(text, regions)
    found += _dates_of_birth(text, previous)
    found += _addresses(text)
    found += _names(text)
    return [PiiSpan(start, end, label) for start, end, label in found]


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


def _union_same_label(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Overlapping spans of one label become one span covering both (a street and the
    "city, postcode" after it; a name found twice): nothing between them is left out."""
    out: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (s.label, s.start, -s.end)):
        last = out[-1] if out else None
        if last is not None and last.label == span.label and span.start < last.end and span.end > span.start:
            if span.end > last.end:
                out[-1] = PiiSpan(last.start, span.end, last.label, last.source)
            continue
        out.append(span)
    return out


def _merge(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Drop spans overlapping a higher-priority (then longer) span; keep the rest in order.

    The chosen spans never overlap, so one sorted list of their starts answers "does this span
    overlap one of them" by looking at a single neighbour (no pass over all chosen spans)."""
    starts: list[int] = []
    chosen: dict[int, PiiSpan] = {}
    for span in sorted(
        _union_same_label(spans), key=lambda s: (_PRIORITY.get(s.label, 99), -(s.end - s.start), s.start)
    ):
        if span.end <= span.start:
            continue
        k = bisect.bisect_left(starts, span.end)  # chosen spans starting before this one ends
        if k and chosen[starts[k - 1]].end > span.start:
            continue
        bisect.insort(starts, span.start)
        chosen[span.start] = span
    return [chosen[s] for s in starts]


def detect(
    text: str,
    *,
    regions: Sequence[str] = ("DE",),
    extra: Sequence[PiiSpan] = (),
    previous: str = "",
) -> list[PiiSpan]:
    """Every personal-data span in ``text`` (offsets into ``text``), merged.

    ``regions`` are the phone regions national numbers are read in (the call's language
    regions, the caller's own number's region and the configured default); ``extra`` holds
    spans found elsewhere (Comprehend), already in ``text``'s offsets; ``previous`` is the turn
    before this one (a date answering "Ihr Geburtsdatum?" is a date of birth).
    """
    normalised, index = normalise(text)
    found = []
    for span in [*_local_spans(normalised, regions, previous), *_read_out_numbers(normalised, index)]:
        if span.end <= span.start:
            continue
        start, end = index[span.start][0], index[span.end - 1][1]
        spoken = (end - start) != (span.end - span.start)
        found.append(PiiSpan(start, end, span.label, "spoken" if spoken else span.source))
    return _merge([*found, *extra])


_LONG_RUN = re.compile(r"\+?\d{8,40}")


def _read_out_numbers(normalised: str, index: list[tuple[int, int]]) -> list[PiiSpan]:
    """A long number read out word by word that no detector claimed (too many digits for a
    phone, no checksum that fits) is still someone's number: a caller reads out their own."""
    spans = []
    for match in _LONG_RUN.finditer(normalised):
        start, end = index[match.start()][0], index[match.end() - 1][1]
        if end - start > match.end() - match.start() and not _non_personal(normalised, match.start()):
            spans.append(PiiSpan(match.start(), match.end(), "PHONE", "spoken"))
    return spans


def detect_turns(texts: Sequence[str], *, regions: Sequence[str] = ("DE",)) -> list[list[PiiSpan]]:
    """:func:`detect` for each turn of a call in order, each with the turn before as context."""
    return [detect(text, regions=regions, previous=texts[i - 1] if i else "") for i, text in enumerate(texts)]


def redact(text: str, spans: Sequence[PiiSpan]) -> str:
    """``text`` with every span replaced by ``[LABEL]``."""
    out, cursor = [], 0
    for span in _merge(spans):
        out.append(text[cursor : span.start])
        out.append(f"[{span.label}]")
        cursor = span.end
    out.append(text[cursor:])
    return "".join(out)
