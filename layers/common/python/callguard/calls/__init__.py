"""Calls: ingestion, live assistance, the agent's view and the Contact Lens / Transcribe import."""
