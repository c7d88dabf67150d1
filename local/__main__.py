"""``python -m local``: the embedded stack's commands (``make local``, ``make token``, ``make demo``)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
import urllib.error
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError

from local.client import fetch_token, run_scheduled
from local.stack import LocalStack, PortInUseError
from local.tenants import LOCAL_CDK_OUT

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

#: what `make local` and `make demo` synthesize (`make local-synth`: cdk.json plus the example tenants)
CDK_OUT = LOCAL_CDK_OUT


def _ports() -> tuple[int, int]:
    try:
        return int(os.environ.get("CALLGUARD_API_PORT", "8080")), int(os.environ.get("CALLGUARD_AWS_PORT", "4566"))
    except ValueError:
        typer.echo("CALLGUARD_API_PORT and CALLGUARD_AWS_PORT must be port numbers.", err=True)
        raise typer.Exit(2) from None


class _StopSignal(BaseException):  # like KeyboardInterrupt: not caught as an Exception
    """SIGINT or SIGTERM arrived: stop, whatever the stack is doing (starting, serving)."""


def _stop_on_signal(*_: object) -> None:
    # a second Ctrl-C while stopping ends the process at once
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # from here on, a request the embedded AWS is answering may lose its caller (the provisioning or
    # demo call this signal interrupts): that is the stop, not an error worth a traceback on stderr
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    raise _StopSignal


@app.command()
def serve(cdk_out: Annotated[Path, typer.Option(help="synthesized templates")] = CDK_OUT) -> None:
    """Start the embedded stack in the foreground until Ctrl-C or SIGTERM."""
    api_port, aws_port = _ports()
    stack = LocalStack(cdk_out=cdk_out, api_port=api_port, aws_port=aws_port)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    try:
        stack.start()
        sys.stdout.write(
            f"callguard local stack ready: api {stack.api_url}  aws {stack.aws_url}  console {stack.api_url}/console/\n"
        )
        sys.stdout.flush()
        # not signal.pause(): the kernel may hand SIGINT/SIGTERM to any of the stack's threads, and a
        # main thread asleep in pause() is then never woken to run the handler (the stack hung for good
        # under load); a short sleep lets the main thread run the pending handler within half a second
        while True:
            time.sleep(0.5)
    except _StopSignal:
        pass
    except PortInUseError as exc:
        typer.echo(f"callguard local: {exc.strerror}.", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"callguard local: cannot start ({exc.strerror}).", err=True)
        raise typer.Exit(1) from None
    finally:
        stack.stop()
    sys.stdout.write("callguard local stack stopped\n")


@app.command()
def token(
    role: Annotated[str, typer.Option(help="platform, agent or compliance")],
    user: Annotated[str, typer.Option(help="a distinct person of that role (four-eyes)")] = "",
    tenant: Annotated[str, typer.Option(help="the tenant the token belongs to (default: the default tenant)")] = "",
) -> None:
    """Print only a bearer token for ROLE (as the person USER, if given) of TENANT, for the running local stack."""
    try:
        typer.echo(fetch_token(role, user=user or None, tenant=tenant or None))
    except (RuntimeError, ValueError, urllib.error.URLError) as exc:
        typer.echo(f"callguard token: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def purge(
    as_of: Annotated[str, typer.Option("--as-of", help="ISO-8601 instant or date (UTC midnight); empty: now")] = "",
) -> None:
    """Run the retention purge of the running local stack as of AS_OF; print only its JSON report."""
    try:
        report = run_scheduled("purge", {"as_of": as_of} if as_of else {})
    except (RuntimeError, BotoCoreError) as exc:
        typer.echo(f"callguard purge: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report, indent=2, sort_keys=True))


@app.command(name="import")
def import_files(
    files: Annotated[list[Path], typer.Argument(help="Contact Lens or Transcribe Call Analytics JSON files")],
    format: Annotated[str, typer.Option("--format", help="contact-lens or transcribe (default: detected)")] = "",
    tenant: Annotated[str, typer.Option("--tenant", help="the tenant whose upload prefix takes the files")] = "",
) -> None:
    """Drop files into the running stack's import path (TENANT's, the default tenant's when empty); print
    only the resulting call ids, one per line."""
    from local.imports import drop_files

    if format and format not in {"contact-lens", "transcribe"}:
        typer.echo("callguard import: FORMAT must be contact-lens or transcribe.", err=True)
        raise typer.Exit(2)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        typer.echo(f"callguard import: no such file: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    try:
        results = drop_files(files, format or None, tenant=tenant or "default")
    except (RuntimeError, BotoCoreError) as exc:
        typer.echo(f"callguard import: {exc}", err=True)
        raise typer.Exit(1) from None
    failed = False
    for result in results:
        if result.call_id:
            typer.echo(result.call_id)
        else:
            failed = True
            typer.echo(f"callguard import: {result.path.name}: not imported ({result.reason})", err=True)
    if failed:
        raise typer.Exit(1)


@app.command()
def anchor() -> None:
    """Run the audit anchoring of the running local stack now (as its schedule would); print its JSON report."""
    try:
        report = run_scheduled("audit_anchor", {})
    except (RuntimeError, BotoCoreError) as exc:
        typer.echo(f"callguard anchor: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(report, indent=2, sort_keys=True))


@app.command(name="local-config")
def local_config() -> None:
    """Print (compact JSON) the ``callguard`` config `make local` and `make demo` synthesize: cdk.json's, plus
    docs/tenants.example.json's tenants when it lists none."""
    from local.tenants import local_config as config

    typer.echo(json.dumps(config(), ensure_ascii=False, separators=(",", ":")))


@app.command()
def demo(
    cdk_out: Annotated[Path, typer.Option(help="synthesized templates")] = CDK_OUT,
    log_file: Annotated[Path | None, typer.Option(help="the handlers' logs (default .local/logs/demo.log)")] = None,
) -> None:
    """Start the stack, walk through what it does (and list what it leaves out), stop; exit 0 if all checks pass."""
    from local.demo import LOG_FILE, run_demo

    api_port, aws_port = _ports()
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    try:
        code = run_demo(cdk_out, api_port, aws_port, log_file or LOG_FILE)  # stops its stack on the way out
    except _StopSignal:
        typer.echo("callguard demo: stopped.", err=True)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
