"""Where national phone numbers in a call are read: the call language's countries, the caller's own
number's country, then the configured default. Used by every path that redacts (analysis, live
assistance, routing, the agent view)."""

from __future__ import annotations

__all__ = ["phone_regions"]

#: phone region in which national numbers are read, by call language (then the default)
LANGUAGE_REGIONS = {
    "de": ("DE", "AT", "CH"),
    "en": ("GB", "US", "IE"),
    "es": ("ES",),
    "fr": ("FR", "BE", "CH"),
    "it": ("IT", "CH"),
    "pt": ("PT",),
    "nl": ("NL", "BE"),
    "pl": ("PL",),
}


def phone_regions(language: str | None, default: str, caller_region: str | None = None) -> tuple[str, ...]:
    """Regions national phone numbers are read in: the call language's countries, the region of
    the caller's own number (``caller_region`` on the call item), then the configured default."""
    regions = [*LANGUAGE_REGIONS.get((language or "").split("-")[0], ()), caller_region, default]
    return tuple(dict.fromkeys(r for r in regions if r))
