"""Build ``callguard/analysis/pii_lexicon.json.gz``: first names and surnames per country, street words.

``python -m bench.pii_lexicon_build`` reads the person and address providers of the pinned Faker
(a maintained package; requirements-dev.txt) at build time and writes one compact file that ships
in the domain layer, so the Lambda runtime does not need Faker. First names keep the countries they
are given in (and Faker's relative frequency where the provider has one, en_US); surnames are one
set. Street suffixes (en) and prefixes (es) come from the same providers.
"""

from __future__ import annotations

import gzip
import json
import sys
from importlib.metadata import version
from pathlib import Path

from faker import Faker

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "layers" / "common" / "python" / "callguard" / "analysis" / "pii_lexicon.json.gz"
#: the call-center markets, plus the origins of many callers' names there
NAME_LOCALES = (
    "de_DE", "de_AT", "de_CH", "en_GB", "en_US", "en_IE", "es_ES", "es_MX", "fr_FR", "it_IT", "nl_NL",
    "pl_PL", "tr_TR", "pt_PT", "hr_HR", "cs_CZ",
)  # fmt: skip


def _provider(fake: Faker, kind: str) -> object:
    return next(p for p in fake.providers if f".{kind}." in type(p).__module__)


def build() -> dict[str, object]:
    first: dict[str, dict[str, float]] = {}
    last: set[str] = set()
    suffixes: set[str] = set()
    prefixes: set[str] = set()
    for locale in NAME_LOCALES:
        fake = Faker(locale)
        person = _provider(fake, "person")
        country = locale.split("_")[1]
        for attr in ("first_names", "first_names_male", "first_names_female"):
            names = getattr(person, attr, ()) or ()
            total = sum(names.values()) if isinstance(names, dict) else len(names)
            for name in names:
                weight = names[name] if isinstance(names, dict) else 1.0
                if name.isalpha() or "-" in name:
                    first.setdefault(name, {})[country] = round(weight / total * 1000, 3) if total else 0
        for attr in ("last_names", "first_last_names"):
            names = getattr(person, attr, ()) or ()
            last.update(n for n in names if n.replace("-", "").replace("'", "").isalpha() and len(n) > 1)
        address = _provider(fake, "address")
        if locale.startswith("en"):
            suffixes.update(getattr(address, "street_suffixes", ()) or ())
        if locale.startswith("es"):
            prefixes.update(getattr(address, "street_prefixes", ()) or ())
    return {
        "source": f"Faker {version('Faker')} person and address providers: {', '.join(NAME_LOCALES)}",
        "first": dict(sorted(first.items())),
        "last": sorted(last),
        "street_suffixes_en": sorted(suffixes),
        "street_prefixes_es": sorted(prefixes),
    }


if __name__ == "__main__":
    data = json.dumps(build(), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    OUT.write_bytes(gzip.compress(data, mtime=0))
    sys.stdout.write(f"{OUT.relative_to(ROOT)}: {len(data)} bytes, {OUT.stat().st_size} gzipped\n")
