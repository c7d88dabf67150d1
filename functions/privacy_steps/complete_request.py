"""Marks the request completed."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("complete_request")
