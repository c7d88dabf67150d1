"""Tenant offboarding. Last: the certificate, outside the tenant's prefix, its hash in the audit log."""

from callguard.privacy.offboarding_runner import offboarding_step

lambda_handler = offboarding_step("issue_offboarding_certificate")
