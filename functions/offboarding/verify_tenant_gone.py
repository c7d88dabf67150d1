"""Tenant offboarding. Then: a fresh scan and version listing find nothing of the tenant."""

from callguard.privacy.offboarding_runner import offboarding_step

lambda_handler = offboarding_step("verify_tenant_gone")
