"""Typed exceptions of the domain. Messages never carry personal data."""

from __future__ import annotations

from typing import Any

__all__ = [
    "CallConflictError",
    "CallguardError",
    "FourEyesError",
    "IdentifierConflictError",
    "InvalidRequestError",
    "MalformedJsonError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RequestValidationError",
    "RestrictedError",
    "UnsupportedMediaTypeError",
]


class CallguardError(Exception):
    """Base class. ``status``/``code`` map the error onto the HTTP contract."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidRequestError(CallguardError):
    status = 400
    code = "invalid_request"


class MalformedJsonError(InvalidRequestError):
    code = "malformed_json"


class PayloadTooLargeError(CallguardError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(CallguardError):
    status = 415
    code = "unsupported_media_type"


class RequestValidationError(CallguardError):
    status = 422
    code = "validation_failed"


class CallConflictError(CallguardError):
    status = 409
    code = "call_conflict"


class NotFoundError(CallguardError):
    status = 404
    code = "not_found"


class FourEyesError(CallguardError):
    """The same person may not file or verify a request and also approve it."""

    status = 403
    code = "four_eyes_violation"


class RestrictedError(CallguardError):
    """Processing of the data subject's data is restricted (Art. 18): agents see no content."""

    status = 403
    code = "restricted"


class IdentifierConflictError(CallguardError):
    """A rectification would move an identifier that belongs to another data subject."""

    status = 409
    code = "identifier_belongs_to_another_subject"
