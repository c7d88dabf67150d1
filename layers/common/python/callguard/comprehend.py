"""Amazon Comprehend within its limits: batches of ≤ 25 documents, ≤ 5,000 bytes each.

Long texts are split on sentence boundaries (then on words) so no document exceeds the
byte limit; every call goes through an injected boto3 client whose standard retry
mode backs off (with jitter) on throttling. ``units`` counts what Comprehend bills:
100-character units with a 3-unit minimum per document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_BATCH", "MAX_DOC_BYTES", "ComprehendGateway", "billed_units", "split_text"]

MAX_BATCH = 25
MAX_DOC_BYTES = 5000
#: Languages of the real-time sentiment/key-phrase/entity APIs; PII detection: en/es only.
LANGUAGES = frozenset({"de", "en", "es", "fr", "it", "pt", "ar", "hi", "ja", "ko", "zh", "zh-TW"})
PII_LANGUAGES = frozenset({"en", "es"})
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def billed_units(text: str) -> int:
    return max(3, math.ceil(len(text) / 100))


def split_text(text: str, limit: int = MAX_DOC_BYTES) -> list[str]:
    """Pieces of ``text``, each ≤ ``limit`` UTF-8 bytes, cut at sentence ends, then words."""
    if len(text.encode()) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE.split(text):
        for part in _fit(sentence, limit):
            candidate = f"{current} {part}" if current else part
            if len(candidate.encode()) <= limit:
                current = candidate
            else:
                pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


def _fit(sentence: str, limit: int) -> Iterator[str]:
    if len(sentence.encode()) <= limit:
        yield sentence
        return
    current = ""
    for word in sentence.split(" "):
        while len(word.encode()) > limit:  # a single "word" longer than the limit
            cut = limit
            while len(word[:cut].encode()) > limit:
                cut -= 1
            if current:
                yield current
                current = ""
            yield word[:cut]
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if len(candidate.encode()) <= limit:
            current = candidate
        else:
            yield current
            current = word
    if current:
        yield current


@dataclass
class ComprehendGateway:
    client: Any
    units: dict[str, int] = field(default_factory=dict)

    def _bill(self, api: str, texts: Sequence[str]) -> None:
        self.units[api] = self.units.get(api, 0) + sum(billed_units(t) for t in texts)

    def detect_language(self, text: str) -> str:
        sample = split_text(text)[0]
        self._bill("DetectDominantLanguage", [sample])
        languages = self.client.detect_dominant_language(Text=sample)["Languages"]
        return str(max(languages, key=lambda lang: lang["Score"])["LanguageCode"]) if languages else "en"

    def _batched(self, operation: str, texts: Sequence[str], language: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for offset in range(0, len(texts), MAX_BATCH):
            batch = list(texts[offset : offset + MAX_BATCH])
            self._bill(operation, batch)
            response = getattr(self.client, _SNAKE[operation])(TextList=batch, LanguageCode=language)
            if response.get("ErrorList"):
                raise ComprehendBatchError(operation, len(response["ErrorList"]))
            results.extend(sorted(response["ResultList"], key=lambda r: r["Index"]))
        return results

    def sentiments(self, texts: Sequence[str], language: str) -> list[dict[str, Any]]:
        """One result per text; a text over the byte limit is split and its parts averaged."""
        pieces: list[str] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            for piece in split_text(text):
                pieces.append(piece)
                owners.append(index)
        raw = self._batched("BatchDetectSentiment", pieces, language) if pieces else []
        merged: list[dict[str, float]] = [{} for _ in texts]
        counts = [0] * len(texts)
        for owner, result in zip(owners, raw, strict=True):
            counts[owner] += 1
            for key, value in result["SentimentScore"].items():
                merged[owner][key] = merged[owner].get(key, 0.0) + float(value)
        out = []
        for scores, count in zip(merged, counts, strict=True):
            averaged = {k: v / count for k, v in scores.items()} if count else {"Neutral": 1.0}
            label = max(averaged, key=lambda k: averaged[k]).upper()
            out.append({"Sentiment": label, "SentimentScore": averaged})
        return out

    def key_phrases(self, texts: Sequence[str], language: str) -> list[str]:
        documents = [piece for text in texts for piece in split_text(text)]
        results = self._batched("BatchDetectKeyPhrases", documents, language) if documents else []
        return [p["Text"] for r in results for p in r["KeyPhrases"]]

    def entities(self, texts: Sequence[str], language: str) -> list[list[dict[str, Any]]]:
        """Entities per text (offsets into that text); texts must be ≤ the byte limit."""
        results = self._batched("BatchDetectEntities", texts, language) if texts else []
        return [r["Entities"] for r in results]

    def pii_entities(self, text: str, language: str) -> list[dict[str, Any]]:
        self._bill("DetectPiiEntities", [text])
        return list(self.client.detect_pii_entities(Text=text, LanguageCode=language)["Entities"])


class ComprehendBatchError(RuntimeError):
    """Comprehend reported per-document errors in a batch (retried as a whole)."""

    def __init__(self, operation: str, failed: int) -> None:
        super().__init__(f"{operation} failed for {failed} document(s)")


_SNAKE = {
    "BatchDetectSentiment": "batch_detect_sentiment",
    "BatchDetectKeyPhrases": "batch_detect_key_phrases",
    "BatchDetectEntities": "batch_detect_entities",
}
