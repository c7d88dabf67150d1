"""Marks the request completed."""

from step_common import step_handler

lambda_handler = step_handler("complete_request")
