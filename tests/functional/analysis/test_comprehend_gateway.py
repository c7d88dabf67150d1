"""ComprehendGateway: limits respected, packing saves units, offsets map back exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from callguard.analysis.comprehend import MAX_DOC_BYTES, ComprehendGateway, billed_units, pack, split_with_offsets
from local.comprehend import ComprehendServer

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def server() -> Iterator[ComprehendServer]:
    running = ComprehendServer().start()
    yield running
    running.stop()


@pytest.fixture
def gateway(server: ComprehendServer) -> ComprehendGateway:
    server.emulator.calls.clear()
    client = boto3.client(
        "comprehend",
        region_name="eu-central-1",
        endpoint_url=server.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    return ComprehendGateway(client)


@pytest.mark.parametrize("text", ["kurz.", "Satz eins. " * 900, "ä" * 6000, "wort " * 3000, "x" * 12000])
def test_split_covers_the_text_within_the_byte_limit(text: str) -> None:
    pieces = split_with_offsets(text)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p.encode()) <= MAX_DOC_BYTES for _, p in pieces)
    assert all(text[o : o + len(p)] == p for o, p in pieces)


def test_packing_many_short_turns_bills_far_fewer_units(gateway: ComprehendGateway) -> None:
    turns = [f"Kurzer Satz Nummer {i}." for i in range(60)]
    docs, _ = pack(turns)
    assert len(docs) == 1
    assert billed_units(docs[0]) < sum(billed_units(t) for t in turns) / 5
    gateway.key_phrases(turns, "de")
    assert gateway.units["BatchDetectKeyPhrases"] == billed_units(docs[0])


def test_entity_offsets_map_back_into_each_packed_text(gateway: ComprehendGateway, server: Any) -> None:
    texts = ["Guten Tag.", "Ich bin in Berlin.", "Herr Becker ruft aus Hamburg an. " * 200, "Danke, Erika Meier."]
    found = gateway.entities(texts, "de")
    for text, entities in zip(texts, found, strict=True):
        for entity in entities:
            assert text[entity["BeginOffset"] : entity["EndOffset"]] == entity["Text"]
    assert {e["Text"] for e in found[1]} == {"Berlin"}
    assert {e["Text"] for e in found[3]} == {"Erika Meier"}
    assert len([e for e in found[2] if e["Text"] == "Hamburg"]) == 200  # across split pieces
    assert all(n <= 25 for op, n in server.emulator.calls)


def test_sentiment_of_a_turn_over_the_limit_is_averaged_over_its_pieces(gateway: ComprehendGateway) -> None:
    long_negative = "Das ist falsch und ärgerlich. " * 300  # ~9,000 bytes
    (result,) = gateway.sentiments([long_negative], "de")
    assert result["Sentiment"] == "NEGATIVE"
