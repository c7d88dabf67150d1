"""What `make local` and `make demo` synthesize: the deployment's config plus two tenants.

The contract: the local stack serves two tenants, ``default`` and ``acme-energie``, so isolation
can be tried on one machine. ``cdk.json`` (what ``make deploy`` deploys) is left as it is; the local
stack is synthesized into its own directory (``.local/cdk.out``) with ``cdk.json``'s ``callguard``
block and, when that block lists no tenants, the README's example list
(``docs/tenants.example.json``). A ``callguard`` block that lists tenants is served as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.stack import ROOT

__all__ = ["LOCAL_CDK_OUT", "TENANTS_EXAMPLE", "local_config"]

#: the example tenant list (the README's "Adding a tenant"): ``acme-energie`` beside ``default``
TENANTS_EXAMPLE = ROOT / "docs" / "tenants.example.json"
#: where `make local` and `make demo` synthesize to (never ``cdk.out``, which is what a deploy uses)
LOCAL_CDK_OUT = ROOT / ".local" / "cdk.out"


def local_config(cdk_json: Path = ROOT / "cdk.json", example: Path = TENANTS_EXAMPLE) -> dict[str, Any]:
    """``cdk.json``'s ``callguard`` block, with the example's tenants when it lists none."""
    context = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    block = context.get("callguard") or {}
    if isinstance(block, str):
        block = json.loads(block)
    config: dict[str, Any] = dict(block)
    if not config.get("tenants"):
        config["tenants"] = json.loads(example.read_text(encoding="utf-8"))["tenants"]
    return config
