"""The embedded stack: callguard on one machine, provisioned from ``cdk.out``. Never deployed.

Handlers run in this process and import the domain package ``callguard`` from the venv
(``make setup`` installs layers/common in editable mode), as Lambda imports it from the layer."""
