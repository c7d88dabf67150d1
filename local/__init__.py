"""The embedded stack: callguard on one machine, provisioned from ``cdk.out``. Never deployed."""

from __future__ import annotations

import sys
from pathlib import Path

_LAYER = Path(__file__).resolve().parents[1] / "layers" / "common" / "python"
if str(_LAYER) not in sys.path:
    sys.path.insert(0, str(_LAYER))
