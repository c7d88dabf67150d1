"""callguard domain layer: models, identity, crypto, repositories and services.

Nothing in here knows about the console or CDK; AWS clients are always injected.
"""

__version__ = "0.1.0"
