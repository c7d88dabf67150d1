"""Stores the task token; the workflow waits until /verify (or times out)."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("await_verification")
