"""Marks the request rejected with its reason (legal hold, verification timeout)."""

from step_common import step_handler

lambda_handler = step_handler("mark_rejected")
