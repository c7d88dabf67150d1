"""The embedded stack: callguard on one machine, provisioned from ``cdk.out``. Never deployed."""
