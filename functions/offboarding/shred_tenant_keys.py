"""Tenant offboarding. First: delete the tenant's wrapped subject keys (crypto-shredding)."""

from callguard.privacy.offboarding_runner import offboarding_step

lambda_handler = offboarding_step("shred_tenant_keys")
