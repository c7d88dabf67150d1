"""Four-eyes: stores the task token; the workflow waits until a second person approves (or times out)."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("await_approval")
