"""Restriction (Art. 18): processing frozen, data kept."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("apply_restriction")
