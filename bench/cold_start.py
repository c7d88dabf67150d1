"""Cold start per handler: import *and* first invocation, each in a fresh interpreter.

A moto server (provisioned from the synthesized template) and the local Comprehend emulator run
in this process; every sample is a new ``python`` that imports ``functions/<name>/handler.py``
(timed), then handles one real request against those endpoints (timed), as a Lambda execution
environment does on its first event. Work moved from the import into the first call therefore
shows up in the total. The baseline is a fresh ``import boto3`` (what any function pays anyway).
"""

from __future__ import annotations

import json
import os
import socket
import statistics

# B404 accepted: fresh interpreters running a fixed script written here
import subprocess  # nosec B404
import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bench.fixtures import BASE_ENV, REGION, ROOT, api_event, call_body
from callguard.clients import SNAPSTART_INITIALIZATION
from local.comprehend import ComprehendServer
from local.provision import Provisioner, load_template

COLD_START_GOAL = 1.5

#: Run in a fresh interpreter: time the import, then one invocation; print both, and how long the
#: invocation waited for the emulators' answers (botocore's HTTP exchange, ``Endpoint._send``).
_CHILD = """
import json, os, sys, time
started, cpu_started = time.perf_counter(), time.process_time()
import handler
imported, cpu_imported = time.perf_counter(), time.process_time()

# SnapStart (Lambda's initialisation type says so): the version's init ends with the before-snapshot
# hooks (when the version is published: not timed); a restored environment runs the after-restore
# hooks, then its first invocation (timed)
from callguard.clients import SNAPSTART_INITIALIZATION
restore_wall = restore_cpu = 0.0
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == SNAPSTART_INITIALIZATION:
    from snapshot_restore_py import get_after_restore, get_before_snapshot
    for function, args, kwargs in reversed(get_before_snapshot()):
        function(*args, **kwargs)
    restore_began, restore_cpu_began = time.perf_counter(), time.process_time()
    for function, args, kwargs in get_after_restore():
        function(*args, **kwargs)
    restore_wall, restore_cpu = time.perf_counter() - restore_began, time.process_time() - restore_cpu_began

import botocore.endpoint
waited = [0.0, 0]
_send = botocore.endpoint.Endpoint._send
def _timed_send(self, request):
    begun = time.perf_counter()
    try:
        return _send(self, request)
    finally:
        waited[0] += time.perf_counter() - begun
        waited[1] += 1
botocore.endpoint.Endpoint._send = _timed_send

# CPU the SDK spends building clients and making calls (what any boto3 function doing this request pays)
import botocore.client, botocore.session
sdk = [0.0, 0]
def _sdk_cpu(original):
    def wrapper(*args, **kwargs):
        if sdk[1]:
            return original(*args, **kwargs)
        sdk[1] += 1
        begun = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            sdk[0] += time.process_time() - begun
            sdk[1] -= 1
    return wrapper
botocore.session.Session.create_client = _sdk_cpu(botocore.session.Session.create_client)
botocore.client.BaseClient._make_api_call = _sdk_cpu(botocore.client.BaseClient._make_api_call)

class Context:
    function_name = "callguard-bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:callguard-bench"
    aws_request_id = "bench-cold-start"
    def get_remaining_time_in_millis(self):
        return 10_000

event = json.loads(sys.stdin.read())
before, cpu_before = time.perf_counter(), time.process_time()
answer = handler.lambda_handler(event, Context())
done, cpu_done = time.perf_counter(), time.process_time()
status = answer.get("statusCode", 0) if isinstance(answer, dict) else 0
sys.stderr.write(json.dumps({"import": imported - started, "first": done - before, "waited": waited[0],
                             "calls": waited[1], "status": status,
                             "cpu": cpu_imported - cpu_started + cpu_done - cpu_before, "sdk": sdk[0],
                             "restore": restore_wall, "restored_cpu": restore_cpu + cpu_done - cpu_before}) + "\\n")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cases(call_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(function dir, template logical id prefix, first event): a real request each handler serves."""
    pre_token_event = {
        "version": "2",
        "triggerSource": "TokenGeneration_Authentication",
        "request": {
            "groupConfiguration": {"groupsToOverride": ["agents"]},
            "scopes": ["openid", "callguard/calls:read", "callguard/privacy:manage"],
        },
        "response": {},
    }
    return [
        ("ingest", "IngestApiIngest", api_event("POST", "/v1/calls", call_body(call_id, {"phone": "+49 30 5550123"}))),
        ("agent_view", "AgentViewApiAgentView", _with_path(
            api_event("GET", f"/v1/calls/{call_id}", scopes="callguard/calls:read"), "/v1/calls/{call_id}",
            {"call_id": call_id},
        )),
        ("route", "RoutingApiRoute", api_event(
            "POST", "/v1/routing/decisions",
            {"caller": {"phone": "+49 30 5550123"}, "channel": "voice", "utterance": "Wo ist meine Lieferung?"},
            scopes="callguard/routing:decide",
        )),
        ("privacy", "PrivacyApiPrivacy", _with_path(
            api_event("GET", "/v1/privacy/requests/req-none", scopes="callguard/privacy:manage"),
            "/v1/privacy/requests/{request_id}", {"request_id": "req-none"},
        )),
        ("pre_token", "IdentityPreToken", pre_token_event),
    ]  # fmt: skip


def _with_path(event: dict[str, Any], resource: str, parameters: dict[str, str]) -> dict[str, Any]:
    return {**event, "resource": resource, "pathParameters": parameters}


def _child_env(function_env: dict[str, str], name: str, endpoints: dict[str, str]) -> dict[str, str]:
    """The function's environment from the template plus what Lambda's runtime sets itself.

    Lambda's reserved variables matter to the cold start: without ``LAMBDA_TASK_ROOT`` the X-Ray
    SDK (imported by Powertools' ``Tracer``) believes it runs on a server and builds its centralised
    sampler, with two botocore X-Ray clients, while being imported (about 0.2 s here) — work a
    Lambda execution environment never does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "CALLGUARD_"))}
    task_root = str(ROOT / "functions" / name)
    return {
        **env,
        **BASE_ENV,
        **function_env,
        **endpoints,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "LAMBDA_TASK_ROOT": task_root,
        "AWS_LAMBDA_FUNCTION_NAME": f"callguard-bench-{name}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": REGION,
        "_HANDLER": "handler.lambda_handler",
        # the function's folder, as Lambda's /var/task; the domain package is the venv's editable install
        "PYTHONPATH": task_root,
        "PYTHONDONTWRITEBYTECODE": "",
    }


def _run(env: dict[str, str], event: dict[str, Any]) -> dict[str, float]:
    # B603 accepted: this interpreter with a script written here
    result = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-c", _CHILD], input=json.dumps(event), env=env, capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith('{"import"')]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"cold start run failed (exit {result.returncode}); last output: {result.stderr[-600:]}")
    return dict(json.loads(lines[-1]))


_BASELINE = (
    "import time; s, c = time.perf_counter(), time.process_time(); import boto3; "
    "print(time.perf_counter() - s, time.process_time() - c)"
)


def _baseline() -> tuple[float, float]:
    """(wall, CPU) seconds of ``import boto3`` in a fresh interpreter, timed inside it as the handlers' import is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # B603 accepted: this interpreter with a fixed statement
    done = subprocess.run([sys.executable, "-c", _BASELINE], check=True, env=env, capture_output=True, text=True)  # noqa: S603  # nosec B603
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


@dataclass(frozen=True)
class ColdStarts:
    """One run's cold starts: the table; per handler, CPU of import + first invocation in a fresh
    interpreter / ``import boto3``, and the floor (``import boto3`` + boto3's own CPU for that request,
    over ``import boto3``); per SnapStart handler, CPU of the after-restore hooks + first invocation
    of an environment restored from the snapshot / ``import boto3``; the SnapStart evaluation."""

    text: str
    fresh: dict[str, float]
    floors: dict[str, float]
    restored: dict[str, float]
    snapstart_text: str

    @property
    def as_deployed(self) -> dict[str, float]:
        """Each handler's cold start as cdk.out deploys it: restored where SnapStart is on, else fresh."""
        return {name: self.restored.get(name, ratio) for name, ratio in self.fresh.items()}


def cold_starts(cdk_out: Path, runs: int = 5) -> ColdStarts:
    """Per handler, the handler's own cold start (import + first invocation, less the time that
    invocation waited for the emulators' answers) against a fresh ``import boto3`` (medians), and
    for the SnapStart handlers, the same request served by an environment restored from a snapshot
    (the before-snapshot hooks run after the import, untimed, as when the version is published)."""
    from moto.server import ThreadedMotoServer

    template = load_template(cdk_out, "Callguard")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    comprehend = ComprehendServer().start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        session = boto3.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")  # noqa: S106  # nosec B106
        provisioner = Provisioner(session, region=REGION, endpoint_url=endpoint)
        provisioner.provision(template)
        endpoints = {"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_COMPREHEND": comprehend.url}
        memory: dict[str, int] = {}
        snap_start: set[str] = set()  # the handlers whose function has SnapStart in cdk.out
        functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
        for name, logical, _ in _cases("x"):
            resource = next(r for k, r in functions.items() if k.startswith(logical))
            memory[name] = int(resource["Properties"]["MemorySize"])
            if (resource["Properties"].get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions":
                snap_start.add(name)
        measured: dict[str, list[dict[str, float]]] = {}
        restored: dict[str, list[dict[str, float]]] = {}
        baselines: list[tuple[float, float]] = []
        for sample in range(runs):
            # the baseline interleaved with the handlers: the shared machine's load changes by the minute
            baselines.append(_baseline())
            for name, logical, event in _cases(f"bench-cold-{sample}"):
                env = _child_env(provisioner.function_environment(template, logical), name, endpoints)
                measured.setdefault(name, []).append(_run(env, event))
            for name, logical, event in _cases(f"bench-restored-{sample}"):
                if name in snap_start:
                    env = _child_env(provisioner.function_environment(template, logical), name, endpoints)
                    snapshot = {**env, "AWS_LAMBDA_INITIALIZATION_TYPE": SNAPSTART_INITIALIZATION}
                    restored.setdefault(name, []).append(_run(snapshot, event))
        baseline = (statistics.median(b[0] for b in baselines), statistics.median(b[1] for b in baselines))
        text, ratios, floors = _table(measured, baseline)
        restored_text, restored_ratios = _restored_table(restored, baseline)
        return ColdStarts(
            text=text + "\n\n" + restored_text,
            fresh=ratios,
            floors=floors,
            restored=restored_ratios,
            snapstart_text=snapstart_evaluation(_imports(measured), memory, snap_start),
        )
    finally:
        comprehend.stop()
        server.stop()


def _restored_table(
    restored: dict[str, list[dict[str, float]]], baseline: tuple[float, float]
) -> tuple[str, dict[str, float]]:
    """The SnapStart rows: what an environment restored from the snapshot does before its first answer."""
    cpu_base = baseline[1]
    rows = [
        "With SnapStart (the functions deployed with it): each sample imports the handler and runs its "
        "before-snapshot hooks untimed (Lambda does both when the version is published), then times what an "
        "environment restored from that snapshot runs: the after-restore hooks and the first invocation. "
        "Lambda's restore of the snapshot itself (`Restore Duration` in the REPORT line) is not code of the "
        "function and cannot be run here; it is not in these numbers. Nor is one request a restored "
        "environment makes on Lambda: with SnapStart the SDK fetches the function's credentials from "
        "Lambda's container endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI`) when it builds its first client; "
        "here they come from environment variables.",
        "",
        "| handler (SnapStart) | after-restore hooks (s) | first invocation (s) | of which waiting for AWS answers "
        "(s, calls) | CPU: hooks + first invocation (s) | CPU vs `import boto3` (the goal) | of which boto3 clients "
        "and calls (CPU s) | status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios: dict[str, float] = {}
    for name, samples in restored.items():
        cpu = statistics.median(s["restored_cpu"] for s in samples)
        ratios[name] = cpu / cpu_base
        rows.append(
            f"| {name} | {statistics.median(s['restore'] for s in samples):.3f} "
            f"| {statistics.median(s['first'] for s in samples):.3f} "
            f"| {statistics.median(s['waited'] for s in samples):.3f} "
            f"({statistics.median(s['calls'] for s in samples):.0f}) | {cpu:.3f} | {ratios[name]:.2f} "
            f"| {statistics.median(s['sdk'] for s in samples):.3f} "
            f"| {', '.join(map(str, sorted({int(s['status']) for s in samples}))) or '-'} |"
        )
    return "\n".join(rows), ratios


def _imports(measured: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    return {name: statistics.median(s["import"] for s in samples) for name, samples in measured.items()}


def _table(
    measured: dict[str, list[dict[str, float]]], baseline: tuple[float, float]
) -> tuple[str, dict[str, float], dict[str, float]]:
    """The rows; the goal's ratio is the handler's CPU time (import + first invocation) over the CPU
    time of ``import boto3``: what the function's own code costs, apart from the emulators' answers
    (which run in this process) and from the other work on the shared cores (wall time beside it)."""
    wall_base, cpu_base = baseline
    rows = [
        "| handler | first request | import (s) | first invocation (s) | of which waiting for AWS answers "
        "(s, calls) | wall total vs `import boto3` | CPU: import + first invocation (s) "
        "| CPU vs `import boto3` (the goal) | of which boto3 clients and calls (CPU s) "
        "| floor: `import boto3` + those, vs `import boto3` | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| `import boto3` (fresh interpreter, baseline) | - | {wall_base:.3f} | - | - | 1.00 | {cpu_base:.3f} "
        "| 1.00 | - | 1.00 | - |",
    ]
    ratios: dict[str, float] = {}
    floors: dict[str, float] = {}
    for name, samples in measured.items():
        imported = statistics.median(s["import"] for s in samples)
        first = statistics.median(s["first"] for s in samples)
        waited = statistics.median(s["waited"] for s in samples)
        calls = statistics.median(s["calls"] for s in samples)
        total = statistics.median(s["import"] + s["first"] for s in samples)
        cpu = statistics.median(s["cpu"] for s in samples)
        sdk = statistics.median(s["sdk"] for s in samples)
        statuses = sorted({int(s["status"]) for s in samples})
        event = next(e for n, _, e in _cases("x") if n == name)
        request = f"{event.get('httpMethod', 'trigger')} {event.get('resource', event.get('triggerSource', ''))}"
        ratios[name] = cpu / cpu_base
        floors[name] = (cpu_base + sdk) / cpu_base
        rows.append(
            f"| {name} | `{request}` | {imported:.3f} | {first:.3f} | {waited:.3f} ({calls:.0f}) "
            f"| {total / wall_base:.2f} | {cpu:.3f} | {cpu / cpu_base:.2f} | {sdk:.3f} "
            f"| {(cpu_base + sdk) / cpu_base:.2f} | {', '.join(map(str, statuses)) or '-'} |"
        )
    return "\n".join(rows), ratios, floors


def cold_start_gap(
    ratios: dict[str, float], floors: dict[str, float] | None = None, restored: Collection[str] = ()
) -> str | None:
    """The gap line for each handler above the goal; ``restored``: the handlers whose ratio is their
    SnapStart restore (after-restore hooks + first invocation), not a fresh import."""
    slow = {h: r for h, r in sorted(ratios.items()) if r > COLD_START_GOAL and h not in restored}
    slow_restored = {h: r for h, r in sorted(ratios.items()) if r > COLD_START_GOAL and h in restored}
    lines = []
    if slow_restored:
        lines.append(
            f"- Restored from its SnapStart snapshot, above {COLD_START_GOAL} times a fresh `import boto3` (CPU of "
            "the after-restore hooks and the first invocation): "
            + ", ".join(f"{h} {r:.2f}" for h, r in slow_restored.items())
            + ". The import is not in it: what remains is the first request's own work, its clients built from "
            "the primed data files and its AWS calls (the SnapStart rows of the cold-start table)."
        )
    if not slow:
        return "\n".join(lines) or None
    floors = floors or {}
    beyond = {h: floors[h] for h in slow if floors.get(h, 0.0) > COLD_START_GOAL}
    text = (
        f"- Cold start (CPU of import + first invocation) above {COLD_START_GOAL} times a fresh `import boto3`: "
        + ", ".join(f"{h} {r:.2f}" for h, r in slow.items())
        + ". `python -X importtime` of the handlers (Lambda's environment) puts the import in boto3 itself (through "
        "Powertools' idempotency utility), Powertools' event handler (which loads its AppSync, data-class and "
        "OpenAPI modules with it), pydantic and the API models, and the Powertools logger; the first invocation "
        "adds boto3's clients (service models and endpoint rules parsed from JSON) and the requests."
    )
    if beyond:
        text += (
            " The goal is out of reach for these handlers on any code: `import boto3` plus only the CPU boto3 itself "
            "spent building the clients and making the calls of that one request is already "
            + ", ".join(f"{h} {f:.2f}" for h, f in beyond.items())
            + " times `import boto3`, before any line of callguard or Powertools runs. Lambda SnapStart removes the "
            "import from the cold start (see its evaluation); without it, only fewer clients and calls would help."
        )
    return "\n".join([*lines, text])


#: SnapStart list prices quoted for us-east-1 when this was written (check the region's price page:
#: eu-central-1 is priced separately): snapshot cache per GB-second (at least 3 hours per published
#: version), restore per GB restored.
SNAPSTART_CACHE_USD_PER_GB_SECOND = 0.0000015046
SNAPSTART_RESTORE_USD_PER_GB = 0.0001397998
SECONDS_PER_MONTH = 30 * 86400
#: the cost example: invocations a month per function, and the share of them that start an environment
#: (an assumption for steady traffic; CloudWatch's ``Restore Duration`` lines count the real restores)
EXAMPLE_INVOCATIONS = 1_000_000
EXAMPLE_COLD_SHARE = 0.01


def snapstart_cost(memory_mb: int, restores: float, versions: int = 1) -> tuple[float, float]:
    """(cache, restores) in USD a month for one function: ``memory_GB x seconds a month x cache price``
    per cached version, plus ``memory_GB x restore price`` per restored environment."""
    gb = memory_mb / 1024
    return (
        gb * SNAPSTART_CACHE_USD_PER_GB_SECOND * SECONDS_PER_MONTH * versions,
        gb * SNAPSTART_RESTORE_USD_PER_GB * restores,
    )


def snapstart_evaluation(imports: dict[str, float], memory_mb: dict[str, int], snap_start: set[str]) -> str:
    """The SnapStart section: which handlers have it (from cdk.out), what it skips (this run's import
    times), and its cost (list prices, the formula and an example of 1M invocations a month)."""
    restores = EXAMPLE_INVOCATIONS * EXAMPLE_COLD_SHARE
    rows = [
        "| handler | SnapStart | memory (MB) | import this run (s): what a restore skips | cache per version and month "
        f"(USD) | restore per cold start (USD) | {EXAMPLE_INVOCATIONS:,} invocations, {EXAMPLE_COLD_SHARE:.0%} "
        "cold: cache + restores a month (USD) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    total_cache = total_restores = 0.0
    for name, seconds in sorted(imports.items()):
        memory = memory_mb.get(name, 512)
        cache, restore_cost = snapstart_cost(memory, restores)
        on = name in snap_start
        if on:
            total_cache, total_restores = total_cache + cache, total_restores + restore_cost
        rows.append(
            f"| {name} | {'on' if on else 'off'} | {memory} | {seconds:.3f} | {cache:.2f} "
            f"| {snapstart_cost(memory, 1)[1]:.6f} | {cache + restore_cost:.2f}{'' if on else ' (not paid)'} |"
        )
    names = ", ".join(sorted(snap_start)) or "none"
    return "\n\n".join(
        [
            "SnapStart supports the managed Python runtimes from 3.12 on (callguard runs 3.14 on arm64: the "
            "documented limits name runtimes and features, not the architecture) in every commercial region but "
            "Asia Pacific (New Zealand) and (Taipei), so in eu-central-1; only on published versions reached "
            "through a version or alias (never `$LATEST`), and not with provisioned concurrency, EFS or more than"
            " 512 MB of ephemeral storage (callguard uses none of them). Lambda initialises the function when a "
            "version is published, runs the `before snapshot` hooks, snapshots memory and disk (encrypted), and "
            "resumes new execution environments from it, running the `after restore` hooks first "
            "(`snapshot_restore_py`).",
            f"**On for the API functions: {names}** (cdk.out: `SnapStart: PublishedVersions`, one published "
            "version and the alias `live` each, which API Gateway's integrations and invoke permissions name; "
            "`tests/infra/test_snapstart_infra.py`). Off for the scheduled jobs (retention purge, deadline check, "
            "audit anchoring), the analysis queue's consumer, the importer, the privacy workflow's steps and the "
            "Cognito pre-token trigger: no user waits on their cold start (the trigger's import is 0.08 s, a "
            "quarter of `import boto3`), and every one would pay its snapshot cache every month.",
            "\n".join(rows),
            "**Cost** (us-east-1 list prices when written; eu-central-1 is priced on its own page): per function, "
            f"`memory_GB x 2,592,000 s x {SNAPSTART_CACHE_USD_PER_GB_SECOND:.10f} USD x cached versions` a month (at "
            f"least 3 hours per version) `+ memory_GB x {SNAPSTART_RESTORE_USD_PER_GB} USD x restores`, on top of "
            "Lambda's requests and duration, which do not change. A restore happens when Lambda starts an "
            f"execution environment (a cold start). Example: {EXAMPLE_INVOCATIONS:,} invocations a month of each "
            f"API function with {EXAMPLE_COLD_SHARE:.0%} of them cold ({restores:,.0f} restores each): "
            f"{total_cache:.2f} USD of cache + {total_restores:.2f} USD of restores = "
            f"{total_cache + total_restores:.2f} USD a month for {names}. Each deployment "
            "that changes a function publishes a new version (`current_version`'s logical id hashes its code and "
            "configuration) and CloudFormation deletes the one it replaces, so one version per function stays "
            "cached; every further published version kept adds its cache line again.",
            "**Gain**: a restore skips the import column above (the INIT phase, the larger part of every API "
            "handler's cold start, and the part the floor column shows no change to the code can remove). The "
            "before-snapshot hooks also take two costs out of the restored environment's first request: "
            "botocore's data files (service models, endpoint rule sets) are parsed into the loader every client "
            "shares (`callguard.clients.prime_sdk`, with placeholder keys: the credential chain is never "
            "consulted), and the heap init leaves is frozen (`gc.freeze`, `freeze_heap`), so the first full "
            "collection does not walk it. The SnapStart rows of the cold-start table measure the rest: the "
            "after-restore hooks and the first invocation, with its clients and AWS calls. A restore itself "
            "cannot be run or timed on this machine, and AWS documents no fixed restore time (`Restore Duration` "
            "and `Billed Restore Duration` in the function's REPORT lines measure it on Lambda: compare them with "
            "the `Init Duration` of the same function without SnapStart).",
            "**What the snapshot holds**: the Powertools `Logger`, `Metrics`, `Tracer` and resolver objects and "
            "the parsed configuration from the environment (routing, intents, retention: no personal data). The "
            "API handlers register SnapStart's runtime hooks (`callguard.clients.register_snapstart_hooks`): "
            "before the snapshot and after every restore their dependencies forget the service graph (keyring with "
            "its unwrapped keys, pseudonym caches) and the AWS clients (connection pools, credentials resolved "
            "during init); before the snapshot botocore's parsed data files are kept (library data, no "
            "credential) and the heap is frozen; after a restore `random` is seeded again. "
            "`tests/functional/test_snapstart.py` runs "
            "the hooks a handler registered and walks everything the handler module reaches: no keyring, no AWS "
            "client of callguard's services and no unwrapped data key is left, even after a warm invocation that "
            "used a subject's key. Pseudonyms are KMS `GenerateMac` calls (the HMAC key never enters the function); "
            "identifiers come from `uuid.uuid4()` (os.urandom), unique after a restore. The embedded stack runs "
            "the same hooks after loading a SnapStart function (before-snapshot, then after-restore), so every "
            "local first request starts from a restored environment's state.",
        ]
    )
