"""Which tenant a dropped file belongs to: its upload prefix, and nothing else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callguard.calls.importer import ImportSettings
from callguard.calls.importer.settings import tenant_key, tenant_of_key

pytestmark = pytest.mark.unit

ACME = "acme-energie"
V1_KEY = "Analysis/Voice/2026/11/27/voice-de_analysis_2026-11-27T09:04:10Z.json"


def test_the_upload_prefix_names_the_tenant_and_the_default_tenant_keeps_v1s_keys() -> None:
    assert tenant_key("default", V1_KEY) == V1_KEY
    assert tenant_key(ACME, V1_KEY) == f"tenants/{ACME}/{V1_KEY}"
    assert tenant_of_key(V1_KEY) == ("default", V1_KEY)
    assert tenant_of_key(tenant_key(ACME, V1_KEY)) == (ACME, V1_KEY)


@pytest.mark.parametrize(
    "spoofed",
    [
        "tenants/default/Analysis/Voice/x.json",  # the default tenant's files are v1's keys, never this
        "tenants/../Analysis/Voice/x.json",
        "tenants/ACME/Analysis/Voice/x.json",
        "tenants/acme-energie",  # no file below the prefix
        "tenants//Analysis/Voice/x.json",
        "tenants/a/Analysis/Voice/x.json",  # too short for a tenant id
    ],
)
def test_a_tenants_key_that_names_no_valid_tenant_belongs_to_no_one(spoofed: str) -> None:
    assert tenant_of_key(spoofed)[0] is None


@pytest.mark.parametrize("prefix", ["tenants/Analysis/", "tenants/", "tenant"])
def test_import_prefixes_stay_outside_the_tenants_own(prefix: str) -> None:
    with pytest.raises(ValidationError, match="outside 'tenants/'"):
        ImportSettings(prefixes=(prefix,))
