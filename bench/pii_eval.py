"""PII redaction on the independent evaluation set, callguard and Presidio side by side.

``python -m bench.pii_eval`` prints, per language and type, precision, recall and the leak rate
(the share of the gold PII characters left in the text after redaction) for callguard's local
detectors and for Presidio's pattern recognizers (no spaCy model: what runs without one).

Matching: a detection is a hit for a gold span when their types agree (TAX_ID and NATIONAL_ID
count as one kind) and it covers at least half of the gold span; a detection that overlaps no
gold span of its kind is a false positive. The leak rate ignores types: a character is protected
when any detection covers it.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from callguard.analysis.pii import LABELS, PiiSpan, detect
from callguard.analysis.service import phone_regions

ROOT = Path(__file__).resolve().parents[1]

EVAL_SET = ROOT / "tests" / "data" / "pii_eval.jsonl"
LANGUAGES = ("de", "en", "es")
#: the deployment default phone region (config ``default_region``)
DEFAULT_REGION = "DE"
_KIND = {"TAX_ID": "ID", "NATIONAL_ID": "ID"}

Detector = Callable[[str, str, str], list[PiiSpan]]


@dataclass(frozen=True)
class Example:
    id: str
    locale: str
    language: str
    previous: str
    text: str
    gold: tuple[PiiSpan, ...]


def load(path: Path = EVAL_SET) -> list[Example]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        gold = tuple(PiiSpan(s, e, label, "gold") for s, e, label in row["spans"])
        out.append(Example(row["id"], row["locale"], row["language"], row["previous"], row["text"], gold))
    return out


def callguard_detector() -> Detector:
    takes_previous = "previous" in inspect.signature(detect).parameters

    def run(text: str, language: str, previous: str) -> list[PiiSpan]:
        regions = phone_regions(language, DEFAULT_REGION)
        if takes_previous:
            return detect(text, regions=regions, previous=previous)  # type: ignore[call-arg]
        return detect(text, regions=regions)

    return run


_PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "CREDIT_CARD": "CREDIT_CARD",
    "US_SSN": "NATIONAL_ID",
    "UK_NINO": "NATIONAL_ID",
    "ES_NIF": "NATIONAL_ID",
    "ES_NIE": "NATIONAL_ID",
    "DE_TAX_ID": "TAX_ID",
    "DATE_TIME": "DATE_OF_BIRTH",
    "UK_POSTCODE": "ADDRESS",
    "DE_PLZ": "ADDRESS",
}


def presidio_detector() -> Detector | None:
    """Presidio's pattern recognizers (and its phonenumbers-based phone recognizer), if installed."""
    try:
        import tldextract.tldextract as tld  # presidio's e-mail check; keep it offline
        from presidio_analyzer import predefined_recognizers as pr
    except ImportError:
        return None
    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=())
    names = [
        "EmailRecognizer", "IbanRecognizer", "CreditCardRecognizer", "DateRecognizer", "UsSsnRecognizer",
        "UkNinoRecognizer", "EsNifRecognizer", "EsNieRecognizer", "DeTaxIdRecognizer", "UkPostcodeRecognizer",
        "DePlzRecognizer",
    ]  # fmt: skip
    by_language: dict[str, list[object]] = {}
    for language in LANGUAGES:
        recognizers: list[object] = []
        for name in names:
            cls = getattr(pr, name, None)
            if cls is not None:
                recognizers.append(cls(supported_language=language))
        regions = phone_regions(language, DEFAULT_REGION)
        recognizers.append(pr.PhoneRecognizer(supported_language=language, supported_regions=regions))
        by_language[language] = recognizers

    def run(text: str, language: str, previous: str) -> list[PiiSpan]:
        spans = []
        for recognizer in by_language[language]:
            entities = recognizer.supported_entities  # type: ignore[attr-defined]
            for result in recognizer.analyze(text, entities, None) or []:  # type: ignore[attr-defined]
                label = _PRESIDIO_TYPES.get(result.entity_type)
                if label:
                    spans.append(PiiSpan(result.start, result.end, label, "presidio"))
        return spans

    return run


def _overlap(a: PiiSpan, b: PiiSpan) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def _kind(label: str) -> str:
    return _KIND.get(label, label)


@dataclass
class Score:
    tp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    chars: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)

    def precision(self, label: str | None = None) -> float:
        tp = self.tp[label] if label else sum(self.tp.values())
        fp = self.fp[label] if label else sum(self.fp.values())
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self, label: str | None = None) -> float:
        tp = self.tp[label] if label else sum(self.tp.values())
        fn = self.fn[label] if label else sum(self.fn.values())
        return tp / (tp + fn) if tp + fn else 1.0

    def leak(self, label: str | None = None) -> float:
        chars = self.chars[label] if label else sum(self.chars.values())
        leaked = self.leaked[label] if label else sum(self.leaked.values())
        return leaked / chars if chars else 0.0


def score(examples: Sequence[Example], detector: Detector, language: str | None = None) -> Score:
    result = Score()
    for example in examples:
        if language and example.language != language:
            continue
        found = detector(example.text, example.language, example.previous)
        covered = bytearray(len(example.text))
        for span in found:
            covered[span.start : span.end] = b"\x01" * (span.end - span.start)
        for gold in example.gold:
            hit = any(
                _kind(f.label) == _kind(gold.label) and _overlap(f, gold) * 2 >= gold.end - gold.start for f in found
            )
            (result.tp if hit else result.fn)[gold.label] += 1
            text = example.text[gold.start : gold.end]
            # whitespace and punctuation inside a span carry nothing; count letters and digits
            significant = [i for i, c in enumerate(text, gold.start) if c.isalnum()]
            result.chars[gold.label] += len(significant)
            result.leaked[gold.label] += sum(1 for i in significant if not covered[i])
        for span in found:
            if not any(_kind(g.label) == _kind(span.label) and _overlap(span, g) > 0 for g in example.gold):
                result.fp[span.label] += 1
    return result


def table(examples: Sequence[Example], detectors: dict[str, Detector]) -> str:
    names = list(detectors)
    head = "| language | type | gold | " + " | ".join(f"{n} precision | {n} recall | {n} leak" for n in names) + " |"
    rows = [head, "|---|---|---:|" + "---:|---:|---:|" * len(names)]
    for language in LANGUAGES:
        scores = {n: score(examples, d, language) for n, d in detectors.items()}
        first = scores[names[0]]
        for label in LABELS:
            gold = first.tp[label] + first.fn[label]
            if not gold and not any(s.fp[label] for s in scores.values()):
                continue
            cells = " | ".join(
                f"{s.precision(label):.2f} | {s.recall(label):.2f} | {s.leak(label):.2f}" for s in scores.values()
            )
            rows.append(f"| {language} | {label} | {gold} | {cells} |")
        cells = " | ".join(
            f"**{s.precision():.2f}** | **{s.recall():.2f}** | **{s.leak():.2f}**" for s in scores.values()
        )
        rows.append(f"| {language} | **all** | {sum(first.tp.values()) + sum(first.fn.values())} | {cells} |")
    return "\n".join(rows)


def negatives_table(examples: Sequence[Example], detectors: dict[str, Detector]) -> str:
    """The precision cost on look-alikes: of the examples without any personal data (order
    numbers, amounts, appointment dates, brands, ordinary words that are also names), how many
    got a detection at all, and how many a NAME."""
    rows = [
        "| language | negatives | "
        + " | ".join(f"{n}: with any detection | {n}: with a NAME" for n in detectors)
        + " |",
        "|---|---:|" + "---:|---:|" * len(detectors),
    ]
    for language in LANGUAGES:
        negatives = [e for e in examples if e.language == language and not e.gold]
        cells = []
        for detector in detectors.values():
            found = [detector(e.text, e.language, e.previous) for e in negatives]
            cells.append(f"{sum(1 for f in found if f)} | {sum(1 for f in found if any(s.label == 'NAME' for s in f))}")
        rows.append(f"| {language} | {len(negatives)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def detectors() -> dict[str, Detector]:
    out: dict[str, Detector] = {"callguard": callguard_detector()}
    presidio = presidio_detector()
    if presidio is not None:
        out["Presidio patterns"] = presidio
    return out


if __name__ == "__main__":
    examples = load()
    negatives = sum(1 for e in examples if not e.gold)
    sys.stdout.write(f"{len(examples)} examples ({negatives} negatives)\n\n")
    chosen = detectors()
    sys.stdout.write(table(examples, chosen) + "\n\n" + negatives_table(examples, chosen) + "\n")
