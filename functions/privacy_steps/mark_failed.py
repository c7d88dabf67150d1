"""Marks the request failed with the error's name (never its message)."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("mark_failed")
