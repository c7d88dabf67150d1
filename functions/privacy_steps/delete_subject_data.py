"""Erasure: delete every item and object version; leave a tombstone."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("delete_subject_data")
