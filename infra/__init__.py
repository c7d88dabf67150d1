"""callguard infrastructure (AWS CDK).

infra and the functions share one module of resource names (``callguard.names``) and one
retention policy: the domain package, installed in the venv by ``make setup``
(layers/common/pyproject.toml; docs/architecture.md). infra imports it only for names and models.
"""

from __future__ import annotations

from pathlib import Path

#: the checkout: cdk.json, functions/ and layers/ are found from here
ROOT = Path(__file__).resolve().parents[1]
