"""Erasure, first: delete the data keys (crypto-shredding)."""

from step_common import step_handler

lambda_handler = step_handler("shred_subject_key")
