"""Tenant offboarding. Then: delete every item and object version of the tenant."""

from callguard.privacy.offboarding_runner import offboarding_step

lambda_handler = offboarding_step("delete_tenant_data")
