"""Pseudonymous identities, per-subject keys, the audit chain and its anchors, tenants."""
