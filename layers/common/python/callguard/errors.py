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
    """Base class. ``status``/``code`` map the error onto the HTTP contract; a subclass names its own
    as class keywords (``class NotFoundError(CallguardError, status=404, code="not_found")``) and
    inherits what it does not name."""

    status: int = 500
    code: str = "internal_error"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidRequestError(CallguardError, status=400, code="invalid_request"):
    """The request's parameters or content are invalid."""


class MalformedJsonError(InvalidRequestError, code="malformed_json"):
    """The body is not JSON."""


class PayloadTooLargeError(CallguardError, status=413, code="payload_too_large"):
    """The body is larger than the edge accepts."""


class UnsupportedMediaTypeError(CallguardError, status=415, code="unsupported_media_type"):
    """The body is not ``application/json``."""


class RequestValidationError(CallguardError, status=422, code="validation_failed"):
    """The body does not match the schema."""


class CallConflictError(CallguardError, status=409, code="call_conflict"):
    """A call with this id exists with other content."""


class NotFoundError(CallguardError, status=404, code="not_found"):
    """No such resource (or none the caller may see)."""


class FourEyesError(CallguardError, status=403, code="four_eyes_violation"):
    """The same person may not file or verify a request and also approve it."""


class RestrictedError(CallguardError, status=403, code="restricted"):
    """Processing of the data subject's data is restricted (Art. 18): agents see no content."""


class IdentifierConflictError(CallguardError, status=409, code="identifier_belongs_to_another_subject"):
    """A rectification would move an identifier that belongs to another data subject."""
