"""``python -m callguard_cli`` — privacy requests and legal holds over the HTTP API.

Works against the local stack (defaults: its URL and a compliance token from
``make local``) and a deployed one (``--api-url`` and ``--token``, or
``CALLGUARD_API_URL`` / ``CALLGUARD_TOKEN``).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
privacy = typer.Typer(no_args_is_help=True, help="Data-subject requests (Art. 15-21 GDPR).")
hold = typer.Typer(no_args_is_help=True, help="Legal holds (Art. 17(3)(e) GDPR).")
audit = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
tenants = typer.Typer(no_args_is_help=True, help="The processor's operations on a tenant (AWS credentials, no token).")
app.add_typer(privacy, name="privacy")
privacy.add_typer(hold, name="hold")
app.add_typer(audit, name="audit")
app.add_typer(tenants, name="tenants")
console = Console()
errors = Console(stderr=True)

ApiUrl = Annotated[str | None, typer.Option("--api-url", envvar="CALLGUARD_API_URL", help="API base URL")]
Token = Annotated[str | None, typer.Option("--token", envvar="CALLGUARD_TOKEN", help="bearer token (compliance)")]
TYPES = ("access", "portability", "erasure", "rectification", "restriction", "objection")
#: the fixed list of the API (callguard.models.VerifyIn)
VERIFICATION_METHODS = ("id_document", "callback", "account_login", "in_person", "signed_letter")


class _Api:
    def __init__(self, api_url: str | None, token: str | None) -> None:
        if api_url is None or token is None:
            from local.client import fetch_token
            from local.stack import STATE_FILE

            if not STATE_FILE.exists():
                errors.print("No --api-url/--token given and no local stack running (start it with `make local`).")
                raise typer.Exit(2)
            state = json.loads(STATE_FILE.read_text())
            api_url = api_url or state["api_url"]
            token = token or fetch_token("compliance")
        if urllib.parse.urlsplit(api_url).scheme not in {"http", "https"}:
            errors.print("--api-url must be an http(s) URL, e.g. https://abc.execute-api.eu-central-1.amazonaws.com/v1")
            raise typer.Exit(2)
        self.url = api_url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            # B310 accepted: the URL is the API's (--api-url or the local stack), its scheme checked to be http(s)
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
                result: dict[str, Any] = json.loads(response.read() or b"{}")
                return result
        except urllib.error.HTTPError as error:
            payload = json.loads(error.read() or b"{}")
            detail = payload.get("error", {})
            errors.print(f"[red]{error.code} {detail.get('code', '')}[/]: {detail.get('message', '')}")
            for item in detail.get("details", []):
                errors.print(f"  {item.get('field')}: {item.get('message')}")
            raise typer.Exit(1) from None
        except urllib.error.URLError as error:
            errors.print(f"Cannot reach {self.url}: {error.reason}")
            raise typer.Exit(1) from None


def _subject(phone: str | None, email: str | None, customer_id: str | None) -> dict[str, str]:
    subject = {k: v for k, v in {"phone": phone, "email": email, "customer_id": customer_id}.items() if v}
    if not subject:
        errors.print("Give at least one of --phone, --email, --customer-id.")
        raise typer.Exit(2)
    return subject


@privacy.command("request")
def request_(
    kind: Annotated[str, typer.Argument(help=" | ".join(TYPES))],
    phone: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    customer_id: Annotated[str | None, typer.Option("--customer-id")] = None,
    new_phone: Annotated[str | None, typer.Option(help="rectification: the correct phone")] = None,
    new_email: Annotated[str | None, typer.Option(help="rectification: the correct e-mail")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """File a request; prints its id and the deadline (received + 1 month)."""
    if kind not in TYPES:
        errors.print(f"Unknown request type {kind!r}; use one of: {', '.join(TYPES)}.")
        raise typer.Exit(2)
    body: dict[str, Any] = {"type": kind, "subject": _subject(phone, email, customer_id)}
    if kind == "rectification":
        body["changes"] = {k: v for k, v in {"phone": new_phone, "email": new_email}.items() if v}
    answer = _Api(api_url, token).call("POST", "/v1/privacy/requests", body)
    console.print(f"request [bold]{answer['request_id']}[/] ({answer['type']}) received, due {answer['due_at']}")


@privacy.command()
def verify(
    request_id: str,
    reference: Annotated[str, typer.Option(help="the evidence: a ticket or case number (no personal data)")],
    method: Annotated[str, typer.Option(help=" | ".join(VERIFICATION_METHODS))] = "callback",
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Record the identity verification (you, from your token, are the verifying person).

    May come before the workflow waits for it (e.g. verified during the very call)."""
    if method not in VERIFICATION_METHODS:
        errors.print(f"Unknown method {method!r}; use one of: {', '.join(VERIFICATION_METHODS)}.")
        raise typer.Exit(2)
    body = {"method": method, "reference": reference}
    answer = _Api(api_url, token).call("POST", f"/v1/privacy/requests/{request_id}/verify", body)
    console.print(f"{request_id}: {answer['status']}")


@privacy.command()
def approve(request_id: str, api_url: ApiUrl = None, token: Token = None) -> None:
    """Four-eyes: approve releasing the export or executing the erasure. You must be a second
    compliance person — not the one who filed or verified the request."""
    answer = _Api(api_url, token).call("POST", f"/v1/privacy/requests/{request_id}/approve", {})
    console.print(f"{request_id}: {answer['status']} (approved)")


@privacy.command()
def extend(
    request_id: str,
    months: Annotated[int, typer.Option(min=1, max=2, help="further months (two at most in all)")],
    reason: Annotated[str, typer.Option(help="why; the data subject must be told within the first month")],
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Extend a request's deadline (Art. 12(3))."""
    body = {"months": months, "reason": reason}
    answer = _Api(api_url, token).call("POST", f"/v1/privacy/requests/{request_id}/extend", body)
    console.print(f"{request_id}: now due {answer['due_at']}")


@privacy.command()
def status(request_id: str, api_url: ApiUrl = None, token: Token = None) -> None:
    """Show a request: status, deadline, history and result."""
    answer = _Api(api_url, token).call("GET", f"/v1/privacy/requests/{request_id}")
    table = Table(title=f"{request_id} ({answer['type']})")
    table.add_column("status")
    table.add_column("due")
    table.add_column("completed")
    table.add_row(answer["status"], answer["due_at"], answer.get("completed_at") or "")
    console.print(table)
    history = Table(title="history")
    history.add_column("at")
    history.add_column("status")
    for entry in answer["history"]:
        history.add_row(entry["at"], entry["status"])
    console.print(history)
    if answer.get("result"):
        console.print_json(data={k: v for k, v in answer["result"].items() if k != "download_url"})


@privacy.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="only requests in this status")] = None,
    kind: Annotated[str | None, typer.Option("--type", help=" | ".join(TYPES))] = None,
    due_before: Annotated[str | None, typer.Option(help="ISO-8601 instant with a time zone")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="requests per page")] = 25,
    every_page: Annotated[bool, typer.Option("--all", help="follow the cursor to the last page")] = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """The request queue, newest deadline first, with the days left (each page read is audited)."""
    api = _Api(api_url, token)
    query = {k: v for k, v in {"status": status, "type": kind, "due_before": due_before}.items() if v}
    query["limit"] = str(limit)
    table = Table(title="privacy requests")
    table.add_column("request", no_wrap=True, min_width=23)  # ids are copied from here: never cut
    for column in ("type", "status", "due", "days left", "received"):
        table.add_column(column)
    cursor: str | None = None
    while True:
        page = api.call(
            "GET", "/v1/privacy/requests?" + urllib.parse.urlencode(query | ({"cursor": cursor} if cursor else {}))
        )
        for item in page["items"]:
            left = "" if item["days_left"] is None else str(item["days_left"])
            table.add_row(item["request_id"], item["type"], item["status"], item["due_at"][:10], left,
                          item["received_at"][:10])  # fmt: skip
        cursor = page["next_cursor"]
        if cursor is None or not every_page:
            break
    console.print(table)
    if cursor:
        console.print("more: repeat with --all")


def _await_closed(api: _Api, request_id: str, seconds: int) -> dict[str, Any]:
    """The request as the API shows it, once closed or after ``seconds``; each change of status on stderr."""
    from callguard.privacy.workflow import CLOSED

    deadline = time.monotonic() + seconds
    answer = api.call("GET", f"/v1/privacy/requests/{request_id}")
    shown = None
    while answer["status"] not in CLOSED and time.monotonic() < deadline:
        if answer["status"] != shown:
            shown = answer["status"]
            errors.print(f"{request_id}: {shown}; waiting up to {seconds} s for it to complete")
        time.sleep(1)
        answer = api.call("GET", f"/v1/privacy/requests/{request_id}")
    return answer


@privacy.command()
def download(
    request_id: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the export")],
    wait: Annotated[
        int,
        typer.Option(min=0, max=3600, help="seconds to wait for the request to complete (0: do not wait)"),
    ] = 0,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Download the JSON export of a completed access/portability request (once per link; audited)."""
    api = _Api(api_url, token)
    answer = _await_closed(api, request_id, wait)
    url = (answer.get("result") or {}).get("download_url")
    if (answer.get("result") or {}).get("download") == "expired":
        errors.print(f"{request_id}: the export has passed its retention period and was deleted; file a new request.")
        raise typer.Exit(1)
    if not url:
        errors.print(f"{request_id} has no export (status {answer['status']}).")
        raise typer.Exit(1)
    from local.client import download_export

    try:  # the single-use link: redeemed with your token (audited), then the export itself
        output.write_bytes(download_export(url, api.token))
    except (ValueError, urllib.error.URLError) as exc:
        errors.print(f"{request_id}: the download failed ({exc}).")
        raise typer.Exit(1) from None
    console.print(f"export written to {output} ({output.stat().st_size} bytes)")


@hold.command("add")
def hold_add(
    reason: Annotated[str, typer.Option(help="why the data must be kept")],
    phone: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    customer_id: Annotated[str | None, typer.Option("--customer-id")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Place a legal hold: neither purges nor erasure delete the subject's data."""
    body = {"subject": _subject(phone, email, customer_id), "reason": reason}
    answer = _Api(api_url, token).call("POST", "/v1/privacy/holds", body)
    console.print(f"hold [bold]{answer['hold_id']}[/] placed")


@hold.command("remove")
def hold_remove(
    hold_id: str,
    reason: Annotated[str | None, typer.Option(help="why the hold ends (kept sealed with the hold)")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Lift a legal hold (you, from your token, are recorded as the person lifting it)."""
    _Api(api_url, token).call("DELETE", f"/v1/privacy/holds/{hold_id}", None if reason is None else {"reason": reason})
    console.print(f"hold {hold_id} lifted")


def _local_audit() -> dict[str, str]:
    import os

    from local.stack import STATE_FILE

    state_file = Path(os.environ.get("CALLGUARD_LOCAL_STATE") or STATE_FILE)
    if not state_file.exists():
        return {}
    state = json.loads(state_file.read_text())
    return {**state.get("audit", {}), "endpoint_url": state.get("aws_url", ""), "local": "1"}


@hold.command("list")
def hold_list(api_url: ApiUrl = None, token: Token = None) -> None:
    """The legal holds in force (the read is audited; identifiers are never shown, only their kinds)."""
    answer = _Api(api_url, token).call("GET", "/v1/privacy/holds")
    table = Table(title="legal holds in force")
    table.add_column("hold", no_wrap=True, min_width=25)
    for column in ("placed", "by", "covers", "reason"):
        table.add_column(column, overflow="fold")
    for item in answer["items"]:
        table.add_row(item["hold_id"], item["created_at"][:10], item["placed_by"] or "",
                      ", ".join(item["identifier_kinds"]), item["reason"] or "")  # fmt: skip
    console.print(table)


@audit.command("day")
def audit_day(
    day: Annotated[str, typer.Argument(help="yyyy-mm-dd (UTC)")], api_url: ApiUrl = None, token: Token = None
) -> None:
    """Verify one day of the audit chain through the API (compliance token; the check is itself audited)."""
    answer = _Api(api_url, token).call("GET", f"/v1/audit/days/{urllib.parse.quote(day)}")
    if answer["intact"]:
        console.print(f"[green]audit chain of {day} intact[/] ({answer['entries']} entries)")
        return
    errors.print(f"[red]audit chain of {day} broken at entry {answer['first_broken_position']}: {answer['problem']}[/]")
    raise typer.Exit(1)


@audit.command("verify")
def audit_verify(
    day: Annotated[str, typer.Argument(help="yyyy-mm-dd (UTC)")],
    table: Annotated[str | None, typer.Option(envvar="CALLGUARD_AUDIT_TABLE", help="the audit table")] = None,
    anchors_bucket: Annotated[
        str | None, typer.Option(envvar="CALLGUARD_AUDIT_ANCHORS_BUCKET", help="the bucket of signed anchors")
    ] = None,
    anchor_key: Annotated[
        str | None, typer.Option(envvar="CALLGUARD_AUDIT_ANCHOR_KEY_ID", help="the anchor key's ARN or alias")
    ] = None,
    endpoint_url: Annotated[str | None, typer.Option(envvar="AWS_ENDPOINT_URL")] = None,
    region: Annotated[str, typer.Option(envvar="AWS_REGION", help="the stack's region")] = "eu-central-1",
    tenant: Annotated[str, typer.Option(help="whose audit chain (each tenant has its own)")] = "default",
) -> None:
    """Check one day of the audit log: every entry, the chain, the signed anchors and checkpoints, and the
    link to the day before. Exits 1 on any alteration, deletion, reordering, rewrite or replayed anchor.
    Each tenant's log is a chain of its own: --tenant names it (the default tenant's without).

    Without options it checks the running local stack (`make local`); against AWS give --table,
    --anchors-bucket and --anchor-key (credentials from the usual AWS configuration)."""
    from datetime import date

    try:
        date.fromisoformat(day)
    except ValueError:
        errors.print(f"{day!r} is not a day; give it as yyyy-mm-dd (UTC), e.g. 2026-11-27.")
        raise typer.Exit(2) from None
    local = _local_audit() if not (table and anchors_bucket and anchor_key) else {}
    table, anchors_bucket, anchor_key = (table or local.get("table"), anchors_bucket or local.get("anchors_bucket"),
                                         anchor_key or local.get("anchor_key"))  # fmt: skip
    endpoint_url = endpoint_url or local.get("endpoint_url") or None
    if not (table and anchors_bucket and anchor_key):
        errors.print(
            "No local stack is running and --table, --anchors-bucket and --anchor-key were not all given; "
            "start the stack with `make local`, or name the deployed stack's audit table, anchors bucket and key."
        )
        raise typer.Exit(2)
    try:
        verdict = _verify(
            day, table, anchors_bucket, anchor_key, endpoint_url, region, local=bool(local), tenant=tenant
        )
    except Exception as exc:
        errors.print(f"[red]Cannot verify the audit log of {day}[/]: {_explain(exc)}", soft_wrap=True)
        raise typer.Exit(1) from None
    for note in verdict.notes:
        console.print(f"note: {note}", soft_wrap=True)
    if verdict.ok:
        console.print(
            f"[green]audit log of {day} intact[/]: {verdict.entries} entries, "
            f"{verdict.anchored_entries} covered by signed anchors",
            soft_wrap=True,
        )
        return
    for problem in verdict.problems:
        errors.print(f"[red]audit log of {day} tampered with[/]: {problem}", soft_wrap=True)
    raise typer.Exit(1)


def _verify(
    day: str,
    table: str,
    bucket: str,
    key: str,
    endpoint_url: str | None,
    region: str,
    *,
    local: bool,
    tenant: str = "default",
) -> Any:
    import boto3
    from botocore.config import Config

    from callguard.clients import AwsClients
    from callguard.names import Env
    from callguard.wiring import build_audit_verifier

    # the embedded stack takes any credentials; against AWS the usual configuration applies
    # B105 accepted: the embedded stack's dummy credentials
    dummy = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if local else {}  # nosec B105
    session = boto3.Session(region_name=region, **dummy)
    config = Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=30)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint_url, config=config)

    clients = AwsClients(dynamodb=client("dynamodb"), s3=client("s3"), kms=client("kms"))
    environ = {Env.AUDIT_TABLE.value: table, Env.AUDIT_ANCHORS_BUCKET.value: bucket, Env.AUDIT_ANCHOR_KEY_ID.value: key}
    return build_audit_verifier(clients, environ, tenant=tenant).verify(day)


@tenants.command("offboard")
def tenants_offboard(
    tenant: Annotated[str, typer.Argument(help="the listed tenant to offboard (never `default`)")],
    state_machine: Annotated[
        str | None, typer.Option(envvar="CALLGUARD_OFFBOARDING_STATE_MACHINE", help="the deployed machine's ARN")
    ] = None,
    region: Annotated[str, typer.Option(envvar="AWS_REGION", help="the stack's region")] = "eu-central-1",
) -> None:
    """Offboard TENANT: shred its subject keys, delete every item and object version of it, verify, and
    print only the certificate (JSON) on stdout; progress goes to stderr. Started again after a failure,
    it resumes the same run.

    Without --state-machine it runs on the running local stack (`make offboard TENANT=<id>`); against AWS
    give the deployed `<stack>-tenant-offboarding` state machine's ARN (credentials from the usual AWS
    configuration: an operator's, allowed states:StartExecution on it)."""
    import os

    import boto3

    from callguard_cli.offboard import OffboardingFailedError, find_local_machine, run_offboarding

    local: dict[str, Any] = {}
    if state_machine is None:
        from local.stack import STATE_FILE

        state_file = Path(os.environ.get("CALLGUARD_LOCAL_STATE") or STATE_FILE)
        if not state_file.exists():
            errors.print("No --state-machine given and no local stack running (start it with `make local`).")
            raise typer.Exit(2)
        # B105 accepted: the embedded stack's dummy credentials
        dummy = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}  # nosec B105
        local = {"endpoint_url": json.loads(state_file.read_text())["aws_url"], **dummy}
    try:
        sfn = boto3.client("stepfunctions", region_name=region, **local)
        machine = state_machine or find_local_machine(sfn)

        def show(progress: dict[str, Any]) -> None:
            errors.print(f"offboarding {tenant}: {progress.get('phase')}, "
                         f"{progress.get('removed_so_far', 0)} keys and versions removed so far")  # fmt: skip

        certificate = run_offboarding(sfn, machine, tenant, on_progress=show)
    except OffboardingFailedError as exc:
        errors.print(f"[red]callguard tenants offboard[/]: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        errors.print(f"[red]callguard tenants offboard[/]: {_explain(exc)}", soft_wrap=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(certificate, indent=2, sort_keys=True))


def _explain(exc: Exception) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials were found (configure a profile, or run against the local stack)."
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS answered {error.get('Code', 'an error')} ({exc.operation_name}); check the names and your access."
    if isinstance(exc, BotoCoreError):
        return f"the AWS endpoint could not be used ({type(exc).__name__}); is the stack running?"
    return f"an unexpected {type(exc).__name__} occurred."


if __name__ == "__main__":
    app()
