"""Explainable routing: the pure rules and the service that identifies the caller and stores the decision."""
