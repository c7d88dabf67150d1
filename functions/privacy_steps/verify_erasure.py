"""Erasure: look again everywhere; fail loudly if anything remains; write the certificate."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("verify_erasure")
