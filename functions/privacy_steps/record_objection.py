"""Objection (Art. 21): AI analysis and personalised routing stop now."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("record_objection")
