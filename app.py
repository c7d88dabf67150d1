#!/usr/bin/env python3
"""CDK entry point: one stack in one EU region, compliance rule packs on the app."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from infra.config import ConfigError, load_settings
from infra.nag import add_rule_packs
from infra.stacks.callguard_stack import CallguardStack


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    settings = load_settings(app.node.try_get_context)
    CallguardStack(app, settings.stack_name, settings=settings)
    add_rule_packs(app)
    return app


def main() -> int:
    try:
        app = build_app()
    except ConfigError as exc:
        sys.stderr.write(f"callguard: {exc}\n")
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
