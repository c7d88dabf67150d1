"""Marks the request failed with the error's name (never its message)."""

from step_common import step_handler

lambda_handler = step_handler("mark_failed")
