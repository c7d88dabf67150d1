"""HTTP edge helpers shared by the API functions: body checks, errors, responses.

Errors always have the contract's shape and never echo what the client sent:
validation details name the field path and the rule, not the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from callguard.errors import (
    CallguardError,
    MalformedJsonError,
    PayloadTooLargeError,
    RequestValidationError,
    UnsupportedMediaTypeError,
)
from callguard.names import MAX_BODY_BYTES

__all__ = ["error_body", "header", "json_body", "parse_body", "validation_details"]

M = TypeVar("M", bound=BaseModel)

_JSON_TYPES = {"application/json"}


def header(headers: dict[str, str] | None, name: str) -> str | None:
    """A request header by case-insensitive name (``name`` in lower case)."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def raw_body(event: dict[str, Any]) -> bytes:
    """The request body as bytes, after the content-type and size checks."""
    body = event.get("body")
    data: bytes
    if body is None:
        data = b""
    elif event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedJsonError("The request body is not valid base64.") from None
    else:
        data = body.encode("utf-8", errors="surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    content_type = (header(event.get("headers"), "content-type") or "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaTypeError("The request body must be sent as application/json.")
    return data


def _field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    seen = seen or set()
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for info in model.model_fields.values():
        for arg in _walk_types(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                names |= _field_names(arg, seen)
    return names


def _walk_types(annotation: Any) -> list[Any]:
    out = [annotation]
    for arg in getattr(annotation, "__args__", ()) or ():
        out.extend(_walk_types(arg))
    return out


#: an invented key shaped like a field name is named in an error; anything else (spaces, digits,
#: capitals, ``@`` …: it may be a value) is masked as ``*``
_FIELD_NAME = re.compile(r"^[a-z][a-z_]{0,31}$")


def validation_details(exc: ValidationError, model: type[BaseModel]) -> list[dict[str, str]]:
    """Field path + rule per error; keys the client invented are masked as ``*``."""
    known = _field_names(model)
    details = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        parts = []
        loc = error["loc"]
        for index, part in enumerate(loc):
            if isinstance(part, int):
                parts.append(str(part))
            elif part in known:
                parts.append(part)
            elif error["type"] == "extra_forbidden" and index == len(loc) - 1 and _FIELD_NAME.match(part):
                parts.append(part)  # a field the schema does not have (``caller.name``), named like one
            else:
                parts.append("*")
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "Unknown field"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        details.append({"field": ".".join(parts) or "body", "issue": error["type"], "message": message})
    return details


def parse_body(event: dict[str, Any], model: type[M]) -> M:
    data = raw_body(event)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJsonError("The request body is not valid UTF-8.") from None
    if not text.strip():
        raise MalformedJsonError("The request body is empty; a JSON object is expected.")
    try:
        return model.model_validate_json(text)  # one parse: pydantic's own JSON parser
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedJsonError("The request body is not valid JSON.") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in errors):
            raise RequestValidationError(
                "The request body must be a JSON object.",
                [{"field": "body", "issue": "type", "message": "Expected an object"}],
            ) from None
        raise RequestValidationError(
            "The request body does not match the schema.", validation_details(exc, model)
        ) from None


def error_body(error: CallguardError, request_id: str | None) -> dict[str, Any]:
    return {
        "error": {"code": error.code, "message": error.message, "details": error.details},
        "request_id": request_id,
    }


def json_body(payload: BaseModel | dict[str, Any]) -> str:
    if isinstance(payload, BaseModel):
        return payload.model_dump_json()
    return json.dumps(payload, separators=(",", ":"))
