"""Erasure: delete every item and object version; leave a tombstone."""

from step_common import step_handler

lambda_handler = step_handler("delete_subject_data")
