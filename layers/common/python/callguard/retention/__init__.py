"""Retention per data category and the nightly purge."""
