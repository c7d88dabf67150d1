"""Stores the task token; the workflow waits until /verify (or times out)."""

from step_common import step_handler

lambda_handler = step_handler("await_verification")
