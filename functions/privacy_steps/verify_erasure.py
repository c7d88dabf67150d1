"""Erasure: look again everywhere; fail loudly if anything remains; write the certificate."""

from step_common import step_handler

lambda_handler = step_handler("verify_erasure")
