"""Amazon Comprehend within its limits: batches of ≤ 25 documents, ≤ 5,000 bytes each.

Long texts are split on sentence boundaries (then on words) so no document exceeds the
byte limit; every call goes through an injected boto3 client whose standard retry
mode backs off (with jitter) on throttling. ``units`` counts what Comprehend bills:
100-character units with a 3-unit minimum per document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_BATCH", "MAX_DOC_BYTES", "ComprehendGateway", "billed_units", "split_text"]

MAX_BATCH = 25
MAX_DOC_BYTES = 5000
MAX_PII_BYTES = 100_000
#: Languages of the real-time sentiment/key-phrase/entity APIs; PII detection: en/es only.
LANGUAGES = frozenset({"de", "en", "es", "fr", "it", "pt", "ar", "hi", "ja", "ko", "zh", "zh-TW"})
PII_LANGUAGES = frozenset({"en", "es"})
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def billed_units(text: str) -> int:
    return max(3, math.ceil(len(text) / 100))


def _nbytes(text: str) -> int:
    return len(text.encode())


def _longest_fitting_end(text: str, start: int, limit: int) -> int:
    lo, hi = start, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _nbytes(text[start:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def split_with_offsets(text: str, limit: int = MAX_DOC_BYTES) -> list[tuple[int, str]]:
    """``(offset, piece)`` pairs covering ``text``: each piece ≤ ``limit`` UTF-8 bytes, cut
    after a sentence end where possible, else at a space, else anywhere."""
    pieces: list[tuple[int, str]] = []
    start = 0
    while _nbytes(text[start:]) > limit:
        window = _longest_fitting_end(text, start, limit)
        chunk = text[start:window]
        cut = max((m.end() for m in _SENTENCE.finditer(chunk)), default=0) or chunk.rfind(" ") + 1
        end = start + cut if cut > 0 else window
        pieces.append((start, text[start:end]))
        start = end
    if start < len(text):
        pieces.append((start, text[start:]))
    return pieces


def split_text(text: str, limit: int = MAX_DOC_BYTES) -> list[str]:
    """Pieces of ``text``, each ≤ ``limit`` UTF-8 bytes, cut at sentence ends, then words."""
    return [piece for _, piece in split_with_offsets(text, limit)]


@dataclass(frozen=True)
class _Slot:
    text_index: int
    text_offset: int
    doc_offset: int
    length: int


def pack(texts: Sequence[str], limit: int = MAX_DOC_BYTES) -> tuple[list[str], list[list[_Slot]]]:
    """Pack texts (split where too long) into as few documents as fit, joined by newlines.

    Comprehend bills at least 3 units (300 characters) per document, so many short turns
    cost far less packed. Returns the documents and, per document, where each text went.
    """
    docs: list[str] = []
    slots: list[list[_Slot]] = []
    current: str = ""
    current_slots: list[_Slot] = []
    for index, text in enumerate(texts):
        for offset, piece in split_with_offsets(text, limit):
            if not piece.strip():
                continue
            joined = f"{current}\n{piece}" if current else piece
            if _nbytes(joined) > limit:
                docs.append(current)
                slots.append(current_slots)
                current, current_slots, joined = "", [], piece
            current_slots.append(_Slot(index, offset, len(joined) - len(piece), len(piece)))
            current = joined
    if current:
        docs.append(current)
        slots.append(current_slots)
    return docs, slots


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
        documents, _ = pack(texts)  # per-turn granularity is not needed for key phrases
        results = self._batched("BatchDetectKeyPhrases", documents, language) if documents else []
        return [p["Text"] for r in results for p in r["KeyPhrases"]]

    def entities(self, texts: Sequence[str], language: str) -> list[list[dict[str, Any]]]:
        """Entities per text, offsets into that text. Texts are packed into few documents
        (long ones split) and the offsets mapped back; an entity across a seam is clipped."""
        docs, slots = pack(texts)
        results = self._batched("BatchDetectEntities", docs, language) if docs else []
        return _map_back(len(texts), [r["Entities"] for r in results], slots)

    def pii_entities_of(self, texts: Sequence[str], language: str) -> list[list[dict[str, Any]]]:
        """DetectPiiEntities over texts packed into documents of up to 100 KB, offsets per text."""
        docs, slots = pack(texts, MAX_PII_BYTES)
        found = [self.pii_entities(doc, language) for doc in docs]
        return _map_back(len(texts), found, slots)

    def classify(self, text: str, endpoint_arn: str) -> tuple[str, float] | None:
        """Top class of a Comprehend custom classifier endpoint for ``text`` (first document)."""
        document = split_text(text)[0]
        self._bill("ClassifyDocument", [document])
        classes = self.client.classify_document(Text=document, EndpointArn=endpoint_arn).get("Classes", [])
        if not classes:
            return None
        best = max(classes, key=lambda c: c["Score"])
        return str(best["Name"]), float(best["Score"])

    def pii_entities(self, text: str, language: str) -> list[dict[str, Any]]:
        self._bill("DetectPiiEntities", [text])
        return list(self.client.detect_pii_entities(Text=text, LanguageCode=language)["Entities"])


def _map_back(
    count: int, per_doc: Sequence[Sequence[dict[str, Any]]], slots: Sequence[Sequence[_Slot]]
) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    for entities, doc_slots in zip(per_doc, slots, strict=True):
        for entity in entities:
            begin, end = int(entity["BeginOffset"]), int(entity["EndOffset"])
            for slot in doc_slots:
                lo, hi = max(begin, slot.doc_offset), min(end, slot.doc_offset + slot.length)
                if lo < hi:
                    shift = slot.text_offset - slot.doc_offset
                    out[slot.text_index].append(dict(entity) | {"BeginOffset": lo + shift, "EndOffset": hi + shift})
    return out


class ComprehendBatchError(RuntimeError):
    """Comprehend reported per-document errors in a batch (retried as a whole)."""

    def __init__(self, operation: str, failed: int) -> None:
        super().__init__(f"{operation} failed for {failed} document(s)")


_SNAKE = {
    "BatchDetectSentiment": "batch_detect_sentiment",
    "BatchDetectKeyPhrases": "batch_detect_key_phrases",
    "BatchDetectEntities": "batch_detect_entities",
}
