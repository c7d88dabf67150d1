"""Import of Contact Lens for Amazon Connect and Amazon Transcribe Call Analytics files."""

from __future__ import annotations

from .formats import CONTACT_LENS, FORMATS, TRANSCRIBE, RejectedFileError, parse
from .service import ImportOutcome, ImportService
from .settings import AttributeNames, ImportSettings

__all__ = [
    "CONTACT_LENS",
    "FORMATS",
    "TRANSCRIBE",
    "AttributeNames",
    "ImportOutcome",
    "ImportService",
    "ImportSettings",
    "RejectedFileError",
    "parse",
]
