"""Tells the workflow which branch the request's type takes."""

from step_common import step_handler

lambda_handler = step_handler("route_request")
