"""callguard infrastructure (AWS CDK).

The domain layer is importable from here too, so that infra and functions share one
module of resource names (``callguard.names``) and one retention policy.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER_PATH = ROOT / "layers" / "common" / "python"
if str(LAYER_PATH) not in sys.path:
    sys.path.insert(0, str(LAYER_PATH))
