"""Restriction (Art. 18): processing frozen, data kept."""

from step_common import step_handler

lambda_handler = step_handler("apply_restriction")
