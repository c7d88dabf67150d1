"""The v1 (single-tenant) template, reduced to one digest per resource, for the equivalence test.

``tests/fixtures/v1_template_digest.json`` was written from the synth of main *before* tenants
existed; a deployment without a tenant list must keep synthesizing exactly those resources with
exactly those properties (code assets aside: their hashes change with every code change, and so does
the logical id of a SnapStart function's published version, ``<function>CurrentVersion<id><hash>``,
which the digest names ``<function>CurrentVersion<id>`` wherever it appears).

Regenerate only for an intended change of a v1 resource (and say why in the commit):
``make synth && .venv/bin/python -m tests.infra.v1_template cdk.out/Callguard.template.json``
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v1_template_digest.json"

#: metadata that names the code asset (a content hash), not what is deployed
_ASSET_METADATA = ("aws:asset:path", "aws:asset:hash", "aws:asset:property", "aws:asset:is-bundled")


def _normalised(resource: dict[str, Any]) -> dict[str, Any]:
    resource = json.loads(json.dumps(resource))
    props = resource.get("Properties", {})
    if resource["Type"] == "AWS::Lambda::Function" and "S3Key" in props.get("Code", {}):
        props["Code"]["S3Key"] = "<code asset>"
    if resource["Type"] == "AWS::Lambda::LayerVersion" and "S3Key" in props.get("Content", {}):
        props["Content"]["S3Key"] = "<code asset>"
    for key in _ASSET_METADATA:
        resource.get("Metadata", {}).pop(key, None)
    return resource


#: CDK's ``current_version``: a new logical id (a hash of the function's code and configuration) for each
#: version to publish, so that CloudFormation publishes one whenever the function changes
_CURRENT_VERSION = re.compile(r"\b([A-Za-z0-9]+CurrentVersion[0-9A-F]{8})[0-9a-f]{32}\b")


def _without_version_hashes(template: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(_CURRENT_VERSION.sub(r"\1", json.dumps(template))))


def digest(template: dict[str, Any]) -> dict[str, Any]:
    """``{"resources": {logical id: [type, sha256 of the normalised resource]}, "outputs": [...]}``."""
    template = _without_version_hashes(template)
    resources = {
        logical: [
            resource["Type"],
            hashlib.sha256(json.dumps(_normalised(resource), sort_keys=True).encode()).hexdigest(),
        ]
        for logical, resource in sorted(template["Resources"].items())
        if resource["Type"] != "AWS::CDK::Metadata"  # the CDK's analytics string, not a deployed resource
    }
    outputs = {
        name: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
        for name, value in sorted(template.get("Outputs", {}).items())
    }
    return {"resources": resources, "outputs": outputs}


def main(path: str) -> None:
    FIXTURE.write_text(json.dumps(digest(json.loads(Path(path).read_text())), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
