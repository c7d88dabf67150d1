"""Tenant offboarding. Open (or resume) the tenant's offboarding run."""

from callguard.privacy.offboarding_runner import offboarding_step

lambda_handler = offboarding_step("start_offboarding")
