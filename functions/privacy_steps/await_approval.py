"""Four-eyes: stores the task token; the workflow waits until a second person approves (or times out)."""

from step_common import step_handler

lambda_handler = step_handler("await_approval")
