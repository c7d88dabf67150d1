"""Tells the workflow which branch the request's type takes."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("route_request")
