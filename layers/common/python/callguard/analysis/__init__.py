"""Analysis of a call: PII redaction (German first), Comprehend within its limits, intents, phone regions."""
