"""The domain's errors map onto the HTTP contract: one status and one code each, inherited where not named."""

from __future__ import annotations

import pytest

from callguard import errors
from callguard.errors import CallguardError, InvalidRequestError, MalformedJsonError

#: the contract's error answers (status, code), one per error class
CONTRACT = {
    "CallguardError": (500, "internal_error"),
    "InvalidRequestError": (400, "invalid_request"),
    "MalformedJsonError": (400, "malformed_json"),
    "PayloadTooLargeError": (413, "payload_too_large"),
    "UnsupportedMediaTypeError": (415, "unsupported_media_type"),
    "RequestValidationError": (422, "validation_failed"),
    "CallConflictError": (409, "call_conflict"),
    "NotFoundError": (404, "not_found"),
    "FourEyesError": (403, "four_eyes_violation"),
    "RestrictedError": (403, "restricted"),
    "IdentifierConflictError": (409, "identifier_belongs_to_another_subject"),
}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_each_error_answers_with_its_status_and_code(name: str) -> None:
    error = getattr(errors, name)("a message without personal data", [{"field": "x"}])
    assert (error.status, error.code) == CONTRACT[name]
    assert isinstance(error, CallguardError)
    assert (error.message, error.details, str(error)) == (
        "a message without personal data",
        [{"field": "x"}],
        "a message without personal data",
    )


def test_every_exported_error_is_in_the_contract_table() -> None:
    assert set(errors.__all__) == set(CONTRACT)


def test_a_subclass_inherits_what_it_does_not_name() -> None:
    assert issubclass(MalformedJsonError, InvalidRequestError)  # handlers catching invalid requests catch it

    class TooManyError(InvalidRequestError, code="too_many"):
        pass

    assert (TooManyError.status, TooManyError.code) == (400, "too_many")
    assert (InvalidRequestError.status, InvalidRequestError.code) == (400, "invalid_request")  # the parent unchanged
    assert CallguardError("m").details == []
