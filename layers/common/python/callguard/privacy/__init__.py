"""GDPR data-subject requests: the workflow, its steps, every store of a subject's data, the compliance desk."""
