"""A tenant's keys: v1's for the default tenant, prefixed for a listed one, and never each other's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callguard.names import CALL_ID_PATTERN
from callguard.security.tenancy import TENANT_ID_PATTERN
from callguard.storage.scope import V1, TenantScope


def test_the_default_tenant_keeps_v1_keys() -> None:
    assert V1.key("CALL#cc-1") == "CALL#cc-1"
    assert V1.object_key("transcripts/s/cc-1.sealed") == "transcripts/s/cc-1.sealed"
    assert V1.unscoped("CALL#cc-1") == "CALL#cc-1"


def test_a_listed_tenant_prefixes_every_key_and_owns_only_its_own() -> None:
    acme, beta = TenantScope("acme"), TenantScope("beta")
    stored = acme.key("CALL#cc-1")
    assert stored == "T#acme#CALL#cc-1"
    assert acme.unscoped(stored) == "CALL#cc-1"
    assert beta.unscoped(stored) is None
    assert V1.unscoped(stored) is None
    assert acme.unscoped("CALL#cc-1") is None
    assert acme.object_key("x/y") == "tenants/acme/x/y"
    assert acme.owns_object("tenants/acme/x/y")
    assert not beta.owns_object("tenants/acme/x/y")
    assert not V1.owns_object("tenants/acme/x/y")
    assert V1.owns_object("transcripts/s/c.sealed")


def test_a_tenant_whose_id_prefixes_another_does_not_own_its_keys() -> None:
    assert TenantScope("acme").unscoped(TenantScope("acme-2").key("CALL#cc-1")) is None
    assert not TenantScope("acme").owns_object(TenantScope("acme-2").object_key("x"))


@pytest.mark.parametrize("bad", ["", "Acme", "a", "acme#x", "../etc", "default/"])
def test_a_scope_needs_a_valid_tenant_id(bad: str) -> None:
    with pytest.raises(ValueError, match="valid tenant id"):
        TenantScope(bad)


@given(
    st.from_regex(TENANT_ID_PATTERN, fullmatch=True),
    st.from_regex(TENANT_ID_PATTERN, fullmatch=True),
    st.from_regex(CALL_ID_PATTERN, fullmatch=True),
)
def test_exactly_one_scope_owns_any_stored_call_key(first: str, second: str, call_id: str) -> None:
    a, b = TenantScope(first), TenantScope(second)
    stored = a.key(f"CALL#{call_id}")
    assert a.owns(stored)
    assert b.owns(stored) == (first == second)
    assert V1.owns(stored) == a.is_v1
