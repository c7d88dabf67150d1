"""Rectification (Art. 16): re-key identifiers, keep history."""

from step_common import step_handler

lambda_handler = step_handler("apply_rectification")
