"""Intent: explainable keyword classifier, optional Comprehend custom classifier first."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from callguard.analysis.comprehend import ComprehendGateway
from callguard.analysis.intents import DEFAULT_INTENTS, IntentConfig, classify
from callguard.analysis.service import AnalysisService

pytestmark = pytest.mark.unit

ENDPOINT = "arn:aws:comprehend:eu-central-1:123456789012:document-classifier-endpoint/intents"


def test_keywords_decide_and_explain() -> None:
    result = classify(["Ich möchte meinen Vertrag kündigen, die Rechnung ist zu hoch, ich kündige."])
    assert result.name == "cancellation"
    assert result.matched == ("kündig",)
    assert classify(["Wie ist das Wetter?"]).name == "general"


def test_intent_config_round_trips_and_validates() -> None:
    assert IntentConfig.from_env(DEFAULT_INTENTS.to_env()) == DEFAULT_INTENTS
    with pytest.raises(ValueError, match="pattern"):
        IntentConfig.model_validate({"rules": [{"name": "Bad Name", "keywords": ["x"]}]})


def _service(score: float) -> tuple[AnalysisService, Stubber]:
    client = boto3.client("comprehend", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(
        "classify_document",
        {"Classes": [{"Name": "cancellation", "Score": score}, {"Name": "billing", "Score": 1 - score}]},
        {"Text": "Die Abbuchung war falsch.", "EndpointArn": ENDPOINT},
    )
    service = AnalysisService(None, None, None, None, ComprehendGateway(client), classifier_endpoint=ENDPOINT)  # type: ignore[arg-type]
    return service, stubber


def test_a_confident_custom_classifier_wins_and_says_so() -> None:
    service, stubber = _service(0.92)
    with stubber:
        intent = service._intent(["Die Abbuchung war falsch."], [])
    assert intent == {"name": "cancellation", "source": "comprehend_classifier", "score": 0.92, "standard": False}


def test_an_unsure_custom_classifier_falls_back_to_keywords() -> None:
    service, stubber = _service(0.45)  # top class billing at 0.55: below the 0.6 threshold
    with stubber:
        intent = service._intent(["Die Abbuchung war falsch."], [])
    assert intent["source"] == "keywords"
    assert intent["name"] == "billing"
    assert intent["matched"] == ["abbuchung"]


REDACTED_ADDRESS = "Mein Router ist kaputt. Ich wohne in der [ADDRESS], [ADDRESS]."


def test_redaction_labels_are_never_evidence_for_an_intent() -> None:
    result = classify([REDACTED_ADDRESS])
    assert result.name == "technical_issue"
    assert "address" not in result.matched
    assert not result.standard
    # a text made only of labels says nothing at all, whatever the label
    labels = ("ADDRESS", "NAME", "PHONE", "EMAIL", "IBAN", "LOCATION", "DATE_OF_BIRTH", "CREDIT_CARD")
    assert classify([" ".join(f"[{label}]" for label in labels)]).name == "general"
    # nor a label cut out of its brackets by a key-phrase extractor
    assert classify(["[ADDRESS", "ADDRESS]", "the ADDRESS"]).name == "general"


def test_an_intent_label_like_word_the_caller_said_still_counts() -> None:
    assert classify(["Ich bin umgezogen, meine neue Adresse ist [ADDRESS]."]).name == "address_change"
    assert classify(["I need to change my address, it is [ADDRESS]."]).matched == ("address",)


def test_a_redacted_address_is_not_read_as_an_address_change() -> None:
    from callguard.analysis.pii import detect, redact

    said = "Mein Router ist kaputt. Ich wohne in der Hauptstraße 5, 10115 Berlin."
    redacted = redact(said, detect(said, regions=("DE",)))
    assert "[ADDRESS]" in redacted
    intent = classify([redacted])
    assert (intent.name, intent.standard) == ("technical_issue", False)


def test_the_custom_classifier_never_sees_labels() -> None:
    client = boto3.client("comprehend", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(
        "classify_document",
        {"Classes": [{"Name": "technical_issue", "Score": 0.9}]},
        {"Text": "Mein Router ist kaputt. Ich wohne in der ,", "EndpointArn": ENDPOINT},
    )
    service = AnalysisService(None, None, None, None, ComprehendGateway(client), classifier_endpoint=ENDPOINT)  # type: ignore[arg-type]
    with stubber:
        assert service._intent([REDACTED_ADDRESS.removesuffix(".")], [])["name"] == "technical_issue"
    stubber.assert_no_pending_responses()
