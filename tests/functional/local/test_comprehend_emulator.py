"""The local Comprehend emulator through an ordinary boto3 client: shapes, offsets, limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local.comprehend import ComprehendServer

pytestmark = pytest.mark.functional

GERMAN_ANGRY = "Die Abbuchung war doppelt, das ärgert mich sehr. Ich will kündigen."
GERMAN_HAPPY = "Danke, das war sehr hilfreich und freundlich."
ENGLISH = "Hi, this is John Doe from Berlin. My email is john.doe@example.com and my phone is +44 20 7946 0958."


@pytest.fixture(scope="module")
def comprehend() -> Iterator[Any]:
    server = ComprehendServer().start()
    client = boto3.client(
        "comprehend",
        region_name="eu-central-1",
        endpoint_url=server.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )
    yield client
    server.stop()


def test_dominant_language_depends_on_the_text(comprehend: Any) -> None:
    assert comprehend.detect_dominant_language(Text=GERMAN_ANGRY)["Languages"][0]["LanguageCode"] == "de"
    assert comprehend.detect_dominant_language(Text=ENGLISH)["Languages"][0]["LanguageCode"] == "en"


def test_lexicon_sentiment_for_german_and_english(comprehend: Any) -> None:
    result = comprehend.batch_detect_sentiment(
        TextList=[GERMAN_ANGRY, GERMAN_HAPPY, "Die Lieferung kam heute."], LanguageCode="de"
    )
    assert [r["Sentiment"] for r in result["ResultList"]] == ["NEGATIVE", "POSITIVE", "NEUTRAL"]
    assert [r["Index"] for r in result["ResultList"]] == [0, 1, 2]
    assert comprehend.detect_sentiment(Text="This is not good.", LanguageCode="en")["Sentiment"] == "NEGATIVE"


def test_offsets_index_into_the_given_text(comprehend: Any) -> None:
    phrases = comprehend.batch_detect_key_phrases(TextList=[GERMAN_ANGRY], LanguageCode="de")["ResultList"][0][
        "KeyPhrases"
    ]
    assert phrases
    for phrase in phrases:
        assert GERMAN_ANGRY[phrase["BeginOffset"] : phrase["EndOffset"]] == phrase["Text"]
    entities = comprehend.batch_detect_entities(TextList=[ENGLISH], LanguageCode="en")["ResultList"][0]["Entities"]
    by_type = {(e["Type"], ENGLISH[e["BeginOffset"] : e["EndOffset"]]) for e in entities}
    assert ("PERSON", "John Doe") in by_type
    assert ("LOCATION", "Berlin") in by_type
    pii = comprehend.detect_pii_entities(Text=ENGLISH, LanguageCode="en")["Entities"]
    found = {(e["Type"], ENGLISH[e["BeginOffset"] : e["EndOffset"]]) for e in pii}
    assert ("EMAIL", "john.doe@example.com") in found
    assert ("PHONE", "+44 20 7946 0958") in found
    assert ("NAME", "John Doe") in found


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_batch_and_size_limits_are_enforced_like_comprehend(comprehend: Any) -> None:
    with pytest.raises(ClientError) as too_many:
        comprehend.batch_detect_sentiment(TextList=["gut"] * 26, LanguageCode="de")
    assert _code(too_many) == "BatchSizeLimitExceededException"
    comprehend.batch_detect_sentiment(TextList=["gut"] * 25, LanguageCode="de")  # the limit itself is fine
    with pytest.raises(ClientError) as too_big:
        comprehend.detect_sentiment(Text="ä" * 2501, LanguageCode="de")  # 5,002 UTF-8 bytes
    assert _code(too_big) == "TextSizeLimitExceededException"
    comprehend.detect_sentiment(Text="ä" * 2500, LanguageCode="de")  # exactly 5,000 bytes


def test_pii_api_supports_only_english_and_spanish(comprehend: Any) -> None:
    with pytest.raises(ClientError) as unsupported:
        comprehend.detect_pii_entities(Text=GERMAN_ANGRY, LanguageCode="de")
    assert _code(unsupported) == "UnsupportedLanguageException"
    with pytest.raises(ClientError) as unknown:
        comprehend.batch_detect_entities(TextList=["x"], LanguageCode="xx")
    assert _code(unknown) == "UnsupportedLanguageException"
