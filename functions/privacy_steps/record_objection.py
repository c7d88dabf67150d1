"""Objection (Art. 21): AI analysis and personalised routing stop now."""

from step_common import step_handler

lambda_handler = step_handler("record_objection")
