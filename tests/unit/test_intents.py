"""Intent: explainable keyword classifier, optional Comprehend custom classifier first."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from callguard.analysis import AnalysisService
from callguard.comprehend import ComprehendGateway
from callguard.intents import DEFAULT_INTENTS, IntentConfig, classify

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
