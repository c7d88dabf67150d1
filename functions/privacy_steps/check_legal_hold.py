"""Erasure: a standing legal hold wins (Art. 17(3)(e))."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("check_legal_hold")
