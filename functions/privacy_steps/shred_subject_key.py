"""Erasure, first: delete the data keys (crypto-shredding)."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("shred_subject_key")
