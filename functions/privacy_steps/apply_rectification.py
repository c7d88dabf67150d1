"""Rectification (Art. 16): re-key identifiers, keep history."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("apply_rectification")
