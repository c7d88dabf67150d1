"""The HTTP edge of the API functions: one resolver set-up, body checks, errors, responses."""
