"""Marks the request rejected with its reason (legal hold, verification timeout)."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("mark_rejected")
