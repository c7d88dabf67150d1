"""LOCAL ONLY — an emulator of Amazon Comprehend's real-time APIs. Never deployed.

moto's Comprehend answers any text with one canned result (offsets beyond the text)
and lacks most APIs. This emulator speaks Comprehend's JSON protocol, so handlers use
an ordinary boto3 client (pointed here by ``AWS_ENDPOINT_URL_COMPREHEND``) and cannot
tell it from the service. Its answers are deterministic and depend on the text: real
character offsets, lexicon-based sentiment for German and English, stop-word-based
language detection. It enforces Comprehend's limits — at most 25 documents per batch,
5,000 UTF-8 bytes per document (100 KB for DetectPiiEntities), and the languages each
API supports — and answers violations with Comprehend's error codes.

It is a test double of the service's *interface and limits*, not of its models:
quality numbers measured against it say nothing about Comprehend's own accuracy.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ComprehendEmulator", "ComprehendError", "ComprehendServer"]

MAX_BATCH = 25
MAX_DOC_BYTES = 5000
MAX_PII_BYTES = 100_000
LANGUAGES = frozenset({"de", "en", "es", "fr", "it", "pt", "ar", "hi", "ja", "ko", "zh", "zh-TW"})
PII_LANGUAGES = frozenset({"en", "es"})


def _words_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS = {
    "de": _words_of(
        "der die das und ist nicht ich sie er es wir ihr mein meine mit ein eine einen dem den des von zu "
        "auf für im in am an bei aus auch noch nur schon sehr war bin habe hat haben wie was wo ja nein "
        "bitte danke guten tag ihnen ihre mir mich dass oder aber wenn dann kann will soll"
    ),
    "en": _words_of(
        "the a an and is are was were not i you he she it we they my your our their with of to in on at "
        "for from by this that these those be been have has had do does did can will would should please "
        "thank thanks hello hi yes no very so but or if then what where when how me him her us them"
    ),
    "es": _words_of("el la los las y es no yo tu usted con de del para por que muy gracias hola"),
    "fr": _words_of("le la les et est ne pas je tu vous il elle avec de du pour que très merci bonjour"),
}
_POSITIVE = {
    "de": _words_of("danke gut super toll prima zufrieden freundlich hilfreich perfekt wunderbar gelöst klasse"),
    "en": _words_of("thanks thank good great happy satisfied helpful perfect wonderful solved excellent nice"),
}
_NEGATIVE = {
    "de": _words_of(
        "ärgert ärgerlich wütend schlecht falsch doppelt problem beschwerde kündigen enttäuscht "
        "unverschämt katastrophe fehler nie ärger"
    ),
    "en": _words_of("angry bad wrong twice problem complaint cancel disappointed terrible error never upset annoyed"),
}
_NEGATIONS = {"nicht", "kein", "keine", "not", "no", "never", "nie"}
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", re.UNICODE)
_LOCATIONS = _words_of(
    "Berlin München Hamburg Köln Frankfurt Stuttgart Düsseldorf Leipzig Wien Zürich London Paris Madrid"
)
_FIRST_NAMES = _words_of("Erika Max Anna Maria Thomas Stefan Julia Peter Sabine John Jane Mary James Robert Laura")
_NAME_CUES = re.compile(
    r"(?i:mein name ist|hier spricht|herr|frau|my name is|this is|mr\.?|mrs\.?|ms\.?)\s+"
    r"([A-ZÄÖÜ][\w'-]+(?:\s+[A-ZÄÖÜ][\w'-]+)?)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ()/-]{6,}\d(?!\w)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_DATE = re.compile(r"\b\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b")


class ComprehendError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _check_text(text: Any, limit: int = MAX_DOC_BYTES) -> str:
    if not isinstance(text, str) or not text:
        raise ComprehendError("InvalidRequestException", "Text must be a non-empty string.")
    if len(text.encode("utf-8")) > limit:
        raise ComprehendError(
            "TextSizeLimitExceededException", f"Input text size exceeds limit. Max length is {limit} bytes."
        )
    return text


def _check_language(code: Any, supported: frozenset[str] = LANGUAGES) -> str:
    if code not in supported:
        raise ComprehendError("UnsupportedLanguageException", f"Language {code!r} is not supported by this API.")
    return str(code)


def _check_batch(texts: Any) -> list[str]:
    if not isinstance(texts, list) or not texts:
        raise ComprehendError("InvalidRequestException", "TextList must hold at least one document.")
    if len(texts) > MAX_BATCH:
        raise ComprehendError("BatchSizeLimitExceededException", f"The batch holds more than {MAX_BATCH} documents.")
    return [_check_text(t) for t in texts]


def _words(text: str) -> list[re.Match[str]]:
    return list(_WORD.finditer(text))


class ComprehendEmulator:
    """Operation name → handler; every handler takes and returns the API's JSON shapes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []  # (operation, documents) — billing in benchmarks
        self._lock = threading.Lock()
        self.operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "DetectDominantLanguage": self.detect_dominant_language,
            "DetectSentiment": self.detect_sentiment,
            "BatchDetectSentiment": self.batch_detect_sentiment,
            "BatchDetectKeyPhrases": self.batch_detect_key_phrases,
            "BatchDetectEntities": self.batch_detect_entities,
            "DetectPiiEntities": self.detect_pii_entities,
        }

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = self.operations.get(operation)
        if handler is None:
            raise ComprehendError("InvalidRequestException", f"{operation} is not emulated locally.")
        result = handler(params)
        with self._lock:
            self.calls.append((operation, len(params.get("TextList", [None]))))
        return result

    # -- language ------------------------------------------------------------
    def detect_dominant_language(self, params: dict[str, Any]) -> dict[str, Any]:
        text = _check_text(params.get("Text"))
        words = [w.group().lower() for w in _words(text)]
        counts = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
        if any(ch in text for ch in "äöüß"):
            counts["de"] += 2
        best = max(counts, key=lambda lang: (counts[lang], lang == "en"))
        total = sum(counts.values()) or 1
        score = round(max(0.5, counts[best] / total), 4) if counts[best] else 0.5
        return {"Languages": [{"LanguageCode": best if counts[best] else "en", "Score": score}]}

    # -- sentiment -----------------------------------------------------------
    def _sentiment(self, text: str, language: str) -> dict[str, Any]:
        empty: frozenset[str] = frozenset()
        positive_words, negative_words = _POSITIVE.get(language, empty), _NEGATIVE.get(language, empty)
        positive = negative = 0.0
        previous = ""
        for match in _words(text):
            word = match.group().lower()
            polarity = 1 if word in positive_words else -1 if word in negative_words else 0
            if polarity and previous in _NEGATIONS:
                polarity = -polarity
            if polarity > 0:
                positive += 1
            elif polarity < 0:
                negative += 1
            previous = word
        if positive and negative:
            label = "MIXED"
        elif positive:
            label = "POSITIVE"
        elif negative:
            label = "NEGATIVE"
        else:
            label = "NEUTRAL"
        total = positive + negative + 1.0
        scores = {
            "Positive": round(positive / total, 4),
            "Negative": round(negative / total, 4),
            "Neutral": round(1.0 / total, 4),
            "Mixed": round(min(positive, negative) / total, 4),
        }
        return {"Sentiment": label, "SentimentScore": scores}

    def detect_sentiment(self, params: dict[str, Any]) -> dict[str, Any]:
        language = _check_language(params.get("LanguageCode"))
        return self._sentiment(_check_text(params.get("Text")), language)

    def batch_detect_sentiment(self, params: dict[str, Any]) -> dict[str, Any]:
        language = _check_language(params.get("LanguageCode"))
        texts = _check_batch(params.get("TextList"))
        return {
            "ResultList": [{"Index": i, **self._sentiment(t, language)} for i, t in enumerate(texts)],
            "ErrorList": [],
        }

    # -- key phrases ---------------------------------------------------------
    def _key_phrases(self, text: str, language: str) -> list[dict[str, Any]]:
        stop = _STOPWORDS.get(language, _STOPWORDS["en"])
        phrases: list[dict[str, Any]] = []
        run: list[re.Match[str]] = []

        def flush() -> None:
            if run and (len(run) > 1 or len(run[0].group()) > 3):
                begin, end = run[0].start(), run[-1].end()
                phrases.append({"Score": 0.9, "Text": text[begin:end], "BeginOffset": begin, "EndOffset": end})
            run.clear()

        last_end = -1
        for match in _words(text):
            gap = text[last_end : match.start()] if last_end >= 0 else " "
            if match.group().lower() in stop or len(run) == 4 or (run and gap.strip()):
                flush()
            if match.group().lower() not in stop:
                run.append(match)
            last_end = match.end()
        flush()
        return phrases

    def batch_detect_key_phrases(self, params: dict[str, Any]) -> dict[str, Any]:
        language = _check_language(params.get("LanguageCode"))
        texts = _check_batch(params.get("TextList"))
        return {
            "ResultList": [{"Index": i, "KeyPhrases": self._key_phrases(t, language)} for i, t in enumerate(texts)],
            "ErrorList": [],
        }

    # -- entities ------------------------------------------------------------
    def _entities(self, text: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for cue in _NAME_CUES.finditer(text):
            found.append(self._entity("PERSON", cue.start(1), cue.end(1), text))
        for match in _words(text):
            if match.group() in _FIRST_NAMES and not any(
                e["BeginOffset"] <= match.start() < e["EndOffset"] for e in found
            ):
                end = match.end()
                following = re.match(r"\s+([A-ZÄÖÜ][\w'-]+)", text[end:])
                if following:
                    end += following.end()
                found.append(self._entity("PERSON", match.start(), end, text))
            elif match.group() in _LOCATIONS:
                found.append(self._entity("LOCATION", match.start(), match.end(), text))
        for match in _DATE.finditer(text):
            found.append(self._entity("DATE", match.start(), match.end(), text))
        return sorted(found, key=lambda e: e["BeginOffset"])

    @staticmethod
    def _entity(type_: str, begin: int, end: int, text: str) -> dict[str, Any]:
        return {"Score": 0.95, "Type": type_, "Text": text[begin:end], "BeginOffset": begin, "EndOffset": end}

    def batch_detect_entities(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_language(params.get("LanguageCode"))
        texts = _check_batch(params.get("TextList"))
        return {
            "ResultList": [{"Index": i, "Entities": self._entities(t)} for i, t in enumerate(texts)],
            "ErrorList": [],
        }

    # -- PII (English and Spanish only, as on AWS) ----------------------------
    def detect_pii_entities(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_language(params.get("LanguageCode"), PII_LANGUAGES)
        text = _check_text(params.get("Text"), MAX_PII_BYTES)
        spans: list[dict[str, Any]] = []
        for type_, pattern in (
            ("EMAIL", _EMAIL),
            ("BANK_ACCOUNT_NUMBER", _IBAN),
            ("PHONE", _PHONE),
            ("CREDIT_DEBIT_NUMBER", _CARD),
        ):
            for match in pattern.finditer(text):
                if any(s["BeginOffset"] < match.end() and match.start() < s["EndOffset"] for s in spans):
                    continue
                spans.append({"Score": 0.99, "Type": type_, "BeginOffset": match.start(), "EndOffset": match.end()})
        for entity in self._entities(text):
            if entity["Type"] == "PERSON":
                spans.append(
                    {
                        "Score": 0.95,
                        "Type": "NAME",
                        "BeginOffset": entity["BeginOffset"],
                        "EndOffset": entity["EndOffset"],
                    }
                )
        return {"Entities": sorted(spans, key=lambda s: s["BeginOffset"])}


class ComprehendServer:
    """Serves the emulator over Comprehend's JSON protocol on ``host:port`` (0: any free port)."""

    def __init__(self, emulator: ComprehendEmulator | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator or ComprehendEmulator()
        emulator_ref = self.emulator

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                operation = target.rpartition(".")[2]
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    params = json.loads(self.rfile.read(length) or b"{}")
                    status, body = 200, emulator_ref.call(operation, params)
                except ComprehendError as exc:
                    status, body = 400, {"__type": exc.code, "Message": exc.message}
                except json.JSONDecodeError:
                    status, body = 400, {"__type": "SerializationException", "Message": "Malformed JSON."}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="comprehend", daemon=True)

    def start(self) -> ComprehendServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
