"""PII detection quality on the labelled corpus: precision and recall per type.

``python -m bench.pii_quality`` prints the table; ``tests/unit/analysis/test_pii.py``
holds the acceptance thresholds. Matching is span-level: a detected span counts for a
gold span of the same label when they overlap by at least half of the gold span.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from callguard.analysis.pii import LABELS, PiiSpan, detect

ROOT = Path(__file__).resolve().parents[1]

CORPUS = ROOT / "tests" / "data" / "pii_corpus.txt"
_MARK = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]")
#: phone regions per call language, then the deployment default (DE)
REGIONS_BY_LANGUAGE = {"de": ("DE",), "en": ("GB", "DE"), "es": ("ES", "DE")}


@dataclass(frozen=True)
class Example:
    language: str
    text: str
    gold: tuple[PiiSpan, ...]


def load_corpus(path: Path = CORPUS) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        language, marked = line.split("|", 1)
        text, gold, cursor = "", [], 0
        for match in _MARK.finditer(marked):
            text += marked[cursor : match.start()]
            start = len(text)
            text += match.group(2)
            gold.append(PiiSpan(start, len(text), match.group(1), "gold"))
            cursor = match.end()
        text += marked[cursor:]
        examples.append(Example(language, text, tuple(gold)))
    return examples


def _overlap(a: PiiSpan, b: PiiSpan) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


@dataclass
class Score:
    true_positive: Counter[str]
    false_negative: Counter[str]
    false_positive: Counter[str]

    def precision(self, label: str | None = None) -> float:
        tp = self.true_positive[label] if label else sum(self.true_positive.values())
        fp = self.false_positive[label] if label else sum(self.false_positive.values())
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self, label: str | None = None) -> float:
        tp = self.true_positive[label] if label else sum(self.true_positive.values())
        fn = self.false_negative[label] if label else sum(self.false_negative.values())
        return tp / (tp + fn) if tp + fn else 1.0


def score(examples: list[Example], language: str | None = None) -> Score:
    tp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    for example in examples:
        if language and example.language != language:
            continue
        found = detect(example.text, regions=REGIONS_BY_LANGUAGE.get(example.language, ("DE",)))
        for gold in example.gold:
            hit = any(f.label == gold.label and _overlap(f, gold) * 2 >= gold.end - gold.start for f in found)
            (tp if hit else fn)[gold.label] += 1
        for span in found:
            if not any(g.label == span.label and _overlap(span, g) > 0 for g in example.gold):
                fp[span.label] += 1
    return Score(tp, fn, fp)


def table(examples: list[Example]) -> str:
    rows = ["| language | type | gold | found | precision | recall |", "|---|---|---:|---:|---:|---:|"]
    for language in ("de", "en", "es"):
        result = score(examples, language)
        for label in LABELS:
            gold = result.true_positive[label] + result.false_negative[label]
            found = result.true_positive[label] + result.false_positive[label]
            if gold or found:
                precision, recall = result.precision(label), result.recall(label)
                rows.append(f"| {language} | {label} | {gold} | {found} | {precision:.2f} | {recall:.2f} |")
        rows.append(f"| {language} | **all** | | | **{result.precision():.2f}** | **{result.recall():.2f}** |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(table(load_corpus()) + "\n")
