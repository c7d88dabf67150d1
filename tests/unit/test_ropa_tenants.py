"""Records of processing with tenants: one per controller, the processor's Art. 30(2) record, honest banners."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import ropa
from infra.config import load_settings
from tests.support import ROOT

pytestmark = pytest.mark.unit

EXAMPLE = json.loads((ROOT / "docs" / "tenants.example.json").read_text())


def _settings(**extra: Any) -> Any:
    return load_settings({"callguard": {**EXAMPLE, **extra}}, environ={})


def test_without_tenants_the_documents_are_exactly_v1s() -> None:
    single = load_settings({}, environ={})
    documents = ropa.rendered(single)
    assert set(documents) == {"ropa", "notice"}
    assert "Not yet isolated" not in documents["ropa"]
    assert "Tenant `" not in documents["ropa"]


def test_one_record_per_controller_and_the_processors_record_listing_them() -> None:
    settings = _settings(
        processor={
            "name": "Callcenter Service AG",
            "privacy_contact": "dp@bpo.example",
            "dpo_contact": "dpo@bpo.example",
        }
    )
    documents = ropa.rendered(settings)
    assert set(documents) == {"ropa", "notice", "ropa:acme-energie", "processor"}
    acme = documents["ropa:acme-energie"]
    assert "| Controller | Acme Energie GmbH, Beispielstraße 1, 10115 Berlin |" in acme
    assert "| Data protection officer | dsb@acme-energie.example |" in acme
    assert "| acme-energie:agent (people, MFA) | `calls:read` |" in acme
    assert "| agent (people, MFA)" not in acme  # the default tenant's groups are not this controller's
    assert "Acme Energie" not in documents["ropa"]  # nor is acme in the default controller's record
    record = documents["processor"]
    assert "Art. 30(2)" in record
    assert "| Processor | Callcenter Service AG" in record
    assert "| `acme-energie` | Acme Energie GmbH" in record
    assert "| `default` |" in record
    assert ropa.document_path("ropa:acme-energie").name == "acme-energie.md"
    assert ropa.document_path("processor").parent == ropa.document_path("ropa:acme-energie").parent


def test_every_record_says_the_data_is_not_isolated_and_which_retention_is_not_applied() -> None:
    documents = ropa.rendered(_settings())
    for name in ("ropa", "ropa:acme-energie", "processor"):
        assert "**Not yet isolated.**" in documents[name], name
    acme = documents["ropa:acme-energie"]
    # configured 30 days for transcripts; the purge applies the deployment's 90: the table says 90, the banner both
    assert "transcripts 30 days (applied: 90 days)" in acme
    row = next(line for line in acme.splitlines() if line.startswith("| transcripts |"))
    assert row.endswith("| 90 days |")
    no_override = ropa.rendered(_settings(tenants=[{**EXAMPLE["tenants"][0], "retention": {}}]))
    assert "Configured, not yet applied" not in no_override["ropa:acme-energie"]


def test_make_ropa_writes_the_tenant_documents_where_it_says(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ropa, "DOCS", {k: tmp_path / v.name for k, v in ropa.DOCS.items()})
    monkeypatch.setattr(ropa, "TENANT_DOCS", tmp_path / "records-of-processing")
    monkeypatch.setattr(ropa, "ROOT", tmp_path)
    monkeypatch.setattr(ropa, "settings_from_cdk_json", lambda: _settings())
    assert ropa.main(["--check"]) == 1
    assert ropa.main([]) == 0
    assert (tmp_path / "records-of-processing" / "acme-energie.md").read_text().count("Acme Energie GmbH") >= 1
    assert "Art. 30(2)" in (tmp_path / "records-of-processing" / "processor-art-30-2.md").read_text()
    assert ropa.main(["--check"]) == 0
