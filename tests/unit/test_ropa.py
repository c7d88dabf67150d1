"""Records of processing and notice snippets: generated from config, committed, never stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from callguard.retention.policy import DataCategory, RetentionPolicy
from infra import ropa
from infra.config import Settings

pytestmark = pytest.mark.unit


def test_the_committed_documents_are_what_make_ropa_generates() -> None:
    documents = ropa.rendered(ropa.settings_from_cdk_json())
    for name, text in documents.items():
        assert ropa.DOCS[name].read_text() == text, f"{ropa.DOCS[name].name} is stale: run `make ropa`"


def test_a_changed_retention_period_changes_both_documents() -> None:
    default = Settings()
    shorter = Settings(retention=RetentionPolicy.defaults({"transcripts": 30, "analyses": 730}))
    before, after = ropa.rendered(default), ropa.rendered(shorter)
    notice_before, notice_after = (" ".join(d["notice"].split()) for d in (before, after))  # line breaks aside
    row = next(line for line in after["ropa"].splitlines() if line.startswith("| transcripts |"))
    assert row.endswith("| 30 days |")
    assert "| transcripts |" in before["ropa"]
    assert "90 days |" in next(line for line in before["ropa"].splitlines() if line.startswith("| transcripts |"))
    assert "nach 30 Tagen" in notice_after
    assert "nach 2 Jahren" in notice_after
    assert "after 30 days" in notice_after
    assert "after 2 years" in notice_after
    assert "nach 90 Tagen" in notice_before


def test_every_data_category_is_described_and_controller_settings_reach_the_notice() -> None:
    assert set(ropa.CATEGORY_RECORDS) == set(DataCategory)
    settings = Settings.model_validate({"controller": {"name": "Beispiel Service GmbH", "privacy_contact": "dsb@x.de"}})
    notice = ropa.render_notice(settings)
    assert notice.count("Beispiel Service GmbH") == 2  # German and English
    assert "dsb@x.de" in ropa.render_ropa(settings)


def test_check_mode_fails_on_a_stale_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "records-of-processing.md"
    stale.write_text("old")
    fresh = tmp_path / "privacy-notice-snippets.md"
    fresh.write_text(ropa.render_notice(ropa.settings_from_cdk_json()))
    monkeypatch.setattr(ropa, "DOCS", {"ropa": stale, "notice": fresh})
    monkeypatch.setattr(ropa, "ROOT", tmp_path)
    assert ropa.main(["--check"]) == 1
    assert ropa.main([]) == 0
    assert ropa.main(["--check"]) == 0


def test_the_record_names_amazon_connect_as_a_source_only_when_the_importer_reads_it() -> None:
    arn = "arn:aws:connect:eu-central-1:123456789012:instance/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    on = Settings.model_validate({"imports": {"bucket_name": "acme-connect", "connect_instance_arn": arn}})
    off = Settings.model_validate({"imports": {"enabled": False}})
    sources_on = ropa.render_ropa(on).split("## Sources of the personal data")[1].split("\n## ")[0]
    sources_off = ropa.render_ropa(off).split("## Sources of the personal data")[1].split("\n## ")[0]
    assert "Contact Lens" in sources_on
    assert "`acme-connect`" in sources_on
    assert "GetContactAttributes" in sources_on
    assert "POST /v1/calls" in sources_on
    assert "Contact Lens" not in sources_off
    assert "Connect" not in sources_off
    assert "POST /v1/calls" in sources_off
