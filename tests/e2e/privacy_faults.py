"""Runs in its own process (it changes the process environment): one local stack, with
(1) the delete step failing every time and (2) a verification timeout of two seconds.
Prints one JSON line with what happened; tests/e2e/test_privacy_faults.py reads it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from callguard.clients import AwsClients
from local.client import fetch_token, http, wait_for_request
from local.stack import LocalStack
from tests.support import call_body


def main(cdk_out: str, api_port: int, aws_port: int, state_file: str) -> None:
    # every handler in this process (api_workers=0): the timeout case rewires the privacy function in place
    stack = LocalStack(Path(cdk_out), api_port, aws_port, state_file=Path(state_file), api_workers=0)
    stack.start()
    report: dict[str, Any] = {}
    try:
        calls = {"n": 0}
        delete = next(name for name in stack.runtime.functions if name.startswith("PrivacyApiDeleteSubjectData"))

        class PlantedStoreOutageError(Exception):
            pass

        def failing(event: dict[str, Any]) -> Any:
            calls["n"] += 1
            raise PlantedStoreOutageError("store unavailable")

        stack.moto.functions[delete] = failing
        api, token = stack.api_url, fetch_token("compliance", stack.state_file)
        platform = fetch_token("platform", stack.state_file)
        http("POST", f"{api}/v1/calls", call_body(call_id="fault-1", caller={"phone": "+49 160 5551111"}), platform)
        answer = http(
            "POST", f"{api}/v1/privacy/requests", {"type": "erasure", "subject": {"phone": "+49 160 5551111"}}, token
        )
        request_id = answer.body["request_id"]
        wait_for_request(api, token, request_id, {"awaiting_verification"}, seconds=40)
        http(
            "POST", f"{api}/v1/privacy/requests/{request_id}/verify", {"method": "callback", "reference": "t-1"}, token
        )
        wait_for_request(api, token, request_id, {"awaiting_approval"}, seconds=40)
        approver = fetch_token("compliance", stack.state_file, user="second-person")
        http("POST", f"{api}/v1/privacy/requests/{request_id}/approve", None, approver)
        report["failed"] = wait_for_request(api, token, request_id, {"completed", "failed", "rejected"}, seconds=90)
        report["delete_attempts"] = calls["n"]

        os.environ["CALLGUARD_VERIFICATION_TIMEOUT_SECONDS"] = "2"
        privacy = next(f for n, f in stack.runtime.functions.items() if n.startswith("PrivacyApiPrivacyFunction"))
        privacy.module.dependencies(AwsClients())  # rebuilt with the short timeout
        answer = http(
            "POST", f"{api}/v1/privacy/requests", {"type": "access", "subject": {"phone": "+49 160 5551111"}}, token
        )
        report["timeout"] = wait_for_request(
            api, token, answer.body["request_id"], {"completed", "failed", "rejected"}, seconds=40
        )
    finally:
        stack.stop()
    sys.stdout.write("RESULT " + json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
