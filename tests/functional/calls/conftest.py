"""Fixtures of the calls tests: the Amazon Connect emulator the importer reads contacts from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.connect import ConnectServer

CONTACTS = Path(__file__).resolve().parents[3] / "local" / "connect_contacts.json"


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[ConnectServer]:
    contacts = tmp_path / "contacts.json"
    contacts.write_text(CONTACTS.read_text())
    server = ConnectServer(contacts_file=contacts).start()
    yield server
    server.stop()
