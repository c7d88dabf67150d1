"""Shared by the step handlers of the privacy workflow (one file per step, verb_noun)."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger

from callguard.clients import Lazy
from callguard.privacy_steps import PrivacySteps
from callguard.wiring import build_privacy_steps

logger = Logger()
_REQUEST_ID = re.compile(r"^pr-[0-9a-f]{20}$")
steps: Lazy[PrivacySteps] = Lazy(build_privacy_steps)


def request_id_of(event: dict[str, Any]) -> str:
    request_id = str(event.get("request_id", ""))
    if not _REQUEST_ID.match(request_id):
        raise ValueError("the step input holds no valid request id")
    return request_id
