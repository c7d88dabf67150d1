"""Records of processing with tenants: one per controller, notice snippets per controller, the processor's
Art. 30(2) record with each controller's retention and alarm contacts, honest banners."""

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
    assert "not yet isolated" not in documents["ropa"]
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
    assert set(documents) == {"ropa", "notice", "ropa:acme-energie", "notice:acme-energie", "processor"}
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


def test_every_record_says_the_stored_data_is_not_isolated_and_a_tenant_record_shows_its_own_retention() -> None:
    documents = ropa.rendered(_settings())
    for name in ("ropa", "ropa:acme-energie", "processor"):
        assert "**Stored data not yet isolated.**" in documents[name], name
    acme = documents["ropa:acme-energie"]
    # acme keeps transcripts 30 days (stamped at ingest for its calls); the default controller 90
    row = next(line for line in acme.splitlines() if line.startswith("| transcripts |"))
    assert row.endswith("| 30 days |")
    default_row = next(line for line in documents["ropa"].splitlines() if line.startswith("| transcripts |"))
    assert default_row.endswith("| 90 days |")
    assert "Configured, not yet applied" not in acme


def test_each_listed_tenant_has_notice_snippets_with_its_controller_contacts_and_retention() -> None:
    documents = ropa.rendered(_settings())
    notice = documents["notice:acme-energie"]
    assert "Acme Energie GmbH" in notice
    assert "datenschutz@acme-energie.example" in notice
    assert "dsb@acme-energie.example" in notice
    assert "Berliner Beauftragte" in notice
    words = " ".join(notice.split())
    assert "Die Aufzeichnung löschen wir nach 30 Tagen" in words
    assert "We delete the recording after 30 days" in words
    # nothing of the default controller's notice in it, nothing of acme's in the default one
    assert "<privacy@example.com>" not in notice
    assert "Acme" not in documents["notice"]
    assert ropa.document_path("notice:acme-energie").parent.name == "privacy-notice-snippets"


def test_the_processors_record_lists_each_controllers_retention_and_alarm_contacts() -> None:
    record = ropa.rendered(_settings(alarm_emails=["oncall@bpo.example"]))["processor"]
    row = next(line for line in record.splitlines() if line.startswith("| transcripts |"))
    assert row == "| transcripts | 90 days | 30 days |"  # default, acme-energie (the listed order)
    assert "| `acme-energie` | noc@acme-energie.example (its own topic, `Operations/Tenant-acme-energie`) |" in record
    assert "| `default` | oncall@bpo.example (the operations topic) |" in record


def test_make_ropa_writes_the_tenant_documents_where_it_says(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ropa, "DOCS", {k: tmp_path / v.name for k, v in ropa.DOCS.items()})
    monkeypatch.setattr(ropa, "TENANT_DOCS", tmp_path / "records-of-processing")
    monkeypatch.setattr(ropa, "TENANT_NOTICES", tmp_path / "privacy-notice-snippets")
    monkeypatch.setattr(ropa, "ROOT", tmp_path)
    monkeypatch.setattr(ropa, "settings_from_cdk_json", lambda: _settings())
    assert ropa.main(["--check"]) == 1
    assert ropa.main([]) == 0
    assert (tmp_path / "records-of-processing" / "acme-energie.md").read_text().count("Acme Energie GmbH") >= 1
    assert "Acme Energie GmbH" in (tmp_path / "privacy-notice-snippets" / "acme-energie.md").read_text()
    assert "Art. 30(2)" in (tmp_path / "records-of-processing" / "processor-art-30-2.md").read_text()
    assert ropa.main(["--check"]) == 0
