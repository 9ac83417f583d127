"""Slow remotes at scale: N concurrent webhook calls, `connector serve` beside pyflyte (issue 13).

Every call is a flyteidl v1 ``SyncAgentService.ExecuteTaskSync`` of the ``webhook`` task type (header,
then inputs, on one stream), its template a real flytekit ``WebhookTask`` serialized by flytekit
itself, that POSTs to a loopback HTTP endpoint answering each request after ``--delay`` seconds
(default 1). All N calls of a measurement start at once on one grpc.aio channel, each with a 30 s
deadline, as propeller sets. For N = 100, 500 and 1000 (``--sizes``) and each server: the wall time
from the first call started to the last one answered, and the calls that did not succeed (refused
with RESOURCE_EXHAUSTED, another status, or an answer other than SUCCEEDED); medians of ``--runs``
rounds (default 3), servers interleaved in a rotating order, each burst on a fresh server process
warmed up with one call (``--long-lived``: one process per server for every burst).

- ``connector serve`` with its default settings, connector-core[server], connector-http and
  connector-sensor (the first-party plugins that need no peer SDK) installed non-editable from this
  checkout into bench/.work/concurrency-pyX.Y (refreshed when their sources change). The only
  setting is ``CONNECTOR_HTTP_ALLOW`` for the endpoint's origin: connector-http refuses loopback
  otherwise.
- ``pyflyte serve connector``: flytekit 1.16 from PyPI in a virtualenv of its own under bench/.work
  (tests/compat/venvs.py's cache, on a Python below 3.13), started through bench/service.py's
  launcher (127.0.0.1 instead of ``[::]``, nothing else changed); it serves ``webhook`` natively.

The endpoint (this file in another mode) is an ``asyncio.start_server`` HTTP/1.1 responder in its
own process; it also reports the most requests it held at once during each measurement ("peak at
the endpoint"). The file-descriptor limit is raised to its hard limit here, before any server
starts, so every process started inherits it.

Targets (ours): 0 refusals up to N = 1000 with default settings; wall time at most 1.5 s at
N = 100 and at most 3 s at N = 1000.

Run: ``python bench/concurrency.py`` or ``python -m nox -s bench -- bench/concurrency.py``.
Options: ``--runs R``, ``--sizes 100,500,1000``, ``--delay SECONDS``, ``--long-lived``, ``--rebuild``,
``--only-ours`` (``connector serve`` alone, to iterate: ``--only-ours --sizes 1000 --runs 1``),
``--py-spy PATH`` (a py-spy profile of ``connector serve`` during each burst; ``pip install py-spy``).
"""

from __future__ import annotations

import asyncio
import json
import sys

# The slow endpoint is this file run in another mode; it imports nothing beyond the standard library.
ENDPOINT_MODE = "slow-endpoint"


def _serve_slow_endpoint(port: int, delay: float) -> None:
    state = {"in_flight": 0, "peak": 0, "served": 0}

    async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    return
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                try:
                    await read_body(reader, headers)
                except asyncio.IncompleteReadError:  # the client went away mid-body (its call was cancelled)
                    return
                if target == "/stats":
                    body = json.dumps(state).encode()
                    state["peak"] = state["in_flight"]
                else:
                    state["in_flight"] += 1
                    state["peak"] = max(state["peak"], state["in_flight"])
                    try:
                        await asyncio.sleep(delay)
                    finally:
                        state["in_flight"] -= 1
                    state["served"] += 1
                    body = json.dumps({"ok": True, "method": method}).encode()
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n".encode()
                    + (b"Connection: close\r\n" if close else b"")
                    + b"\r\n"
                    + body
                )
                await writer.drain()
                if close:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__" and sys.argv[1:2] == [ENDPOINT_MODE]:
    _serve_slow_endpoint(int(sys.argv[2]), float(sys.argv[3]))
    sys.exit(0)

# -- the benchmark proper ----------------------------------------------------------------------------

import argparse  # noqa: E402
import base64  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from _common import (  # noqa: E402
    CORE,
    ROOT,
    WORK,
    BenchVenv,
    load_average,
    log,
    machine_notes,
    source_note,
    sources_fingerprint,
    table,
)
from service import FLYTEKIT_LAUNCHER, Running, Target, cpu_seconds, free_port, start  # noqa: E402

from tests.compat.venvs import FLYTEKIT, CachedVenv, cached_venv  # noqa: E402

HERE = WORK / "concurrency"
#: First-party plugins `connector serve` runs with here: those that need no peer SDK.
PLUGINS = (ROOT / "plugins" / "connector-http", ROOT / "plugins" / "connector-sensor")
DEADLINE = 30.0  # seconds, each call's, as propeller sets
SERVERS_FRESH, SERVERS_LONG_LIVED = "a fresh server process per burst", "one process per server"
OUTPUT_PREFIX = "s3://bench/metadata/propeller/bench-development-c1/n0/data/0"

# Run with the flytekit virtualenv's python: flytekit serializes its own WebhookTask and its inputs.
SERIALIZE_WEBHOOK = """\
import base64, json, sys
from collections import OrderedDict

from flytekit import FlyteContextManager
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.extras.webhook import WebhookTask
from flytekit.tools.translator import get_serializable

task = WebhookTask(
    name="bench.slow_hook",
    url=sys.argv[1],
    method="POST",
    headers={"Content-Type": "application/json"},
    data={"run": "{inputs.run}", "attempt": 1},
    dynamic_inputs={"run": str},
    show_data=True,
)
settings = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="bench", domain="development", version="1"
)
template = get_serializable(OrderedDict(), settings, task).template
ctx = FlyteContextManager.current_context()
inputs = TypeEngine.dict_to_literal_map(ctx, {"run": "c1"}, task.python_interface.inputs)
print(json.dumps({
    "template": base64.b64encode(template.to_flyte_idl().SerializeToString()).decode(),
    "inputs": base64.b64encode(inputs.to_flyte_idl().SerializeToString()).decode(),
}))
"""


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; every process started afterwards inherits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# -- environments ------------------------------------------------------------------------------------


def ours_venv(rebuild: bool) -> BenchVenv:
    """bench/.work/concurrency-pyX.Y: core[server] and the first-party plugins, from this checkout."""
    venv = BenchVenv("concurrency")
    if rebuild and venv.path.exists():
        (venv.path / "bench-stamp").unlink(missing_ok=True)

    def populate(v: BenchVenv) -> None:
        v.pip("install", f"{CORE}[server]", *map(str, PLUGINS))

    venv.ensure("1", populate)
    fingerprint = sources_fingerprint(*PLUGINS)
    stamp = venv.path / "bench-plugins"
    if not stamp.exists() or stamp.read_text() != fingerprint:
        log(f"installing {', '.join(p.name for p in PLUGINS)} from this checkout into {venv.path.name}")
        # First with their dependencies (a plugin may have gained one), then their own code afresh.
        v_paths = [str(p) for p in PLUGINS]
        venv.pip("install", *v_paths)
        venv.pip("install", "--no-deps", "--force-reinstall", *v_paths)
        stamp.write_text(fingerprint)
    return venv


def targets(venv: BenchVenv, flytekit: CachedVenv, origin: str) -> list[Target]:
    """``connector serve`` (defaults, the endpoint's origin allowed) and ``pyflyte serve connector``."""
    HERE.mkdir(parents=True, exist_ok=True)
    launcher = HERE / "launch_pyflyte.py"
    launcher.write_text(FLYTEKIT_LAUNCHER)
    ours_env = venv.environ({"CONNECTOR_HOME": str(HERE / "home"), "CONNECTOR_HTTP_ALLOW": origin})
    theirs_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONNECTOR_", "PYTHON")) and k.lower() not in ("http_proxy", "https_proxy")
    }
    theirs_env["PATH"] = f"{flytekit.bin}{os.pathsep}{theirs_env.get('PATH', '')}"

    def ours(port: int) -> list[str]:
        return [str(venv.bin / "connector"), "serve", "--port", str(port), "--prometheus-port", "0"]

    def pyflyte(port: int) -> list[str]:
        metrics = ["--prometheus_port", str(free_port())]
        return [str(flytekit.python), str(launcher), "--port", str(port), *metrics]

    return [
        Target("connector serve", ours, ours_env, cwd=HERE),
        Target("pyflyte serve connector", pyflyte, theirs_env, cwd=HERE),
    ]


def serialize_webhook(flytekit: CachedVenv, url: str) -> tuple[bytes, bytes]:
    """flytekit's own serialization of the WebhookTask (its TaskTemplate) and of its inputs."""
    done = subprocess.run(
        [str(flytekit.python), "-c", SERIALIZE_WEBHOOK, url], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"flytekit could not serialize the WebhookTask:\n{done.stderr[-2000:]}")
    made = json.loads(done.stdout.strip().splitlines()[-1])
    return base64.b64decode(made["template"]), base64.b64decode(made["inputs"])


# -- the endpoint ------------------------------------------------------------------------------------


class Endpoint:
    """The slow HTTP endpoint's process, on a free loopback port."""

    def __init__(self, delay: float) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), ENDPOINT_MODE, str(self.port), str(delay)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the slow endpoint did not start")

    def stats(self) -> dict[str, int]:
        """In flight now, the peak since the last call of ``stats``, and requests served so far."""
        with urllib.request.urlopen(self.origin + "/stats", timeout=10) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


# -- calls -------------------------------------------------------------------------------------------


@dataclass
class Burst:
    """One measurement: N calls started at once; their wall time and how each ended."""

    size: int
    wall: float
    outcomes: Counter[str] = field(default_factory=Counter)
    peak: int = 0  # the most requests the endpoint held at once
    server_cpu: float = 0.0  # CPU seconds, during the burst, of the server
    endpoint_cpu: float = 0.0  # ... of the endpoint's process
    client_cpu: float = 0.0  # ... of this process (the grpc.aio client)
    details: dict[str, str] = field(default_factory=dict)  # the first message of each outcome

    @property
    def ok(self) -> int:
        return self.outcomes["OK"]

    @property
    def refused(self) -> int:
        return self.outcomes["RESOURCE_EXHAUSTED"]

    @property
    def other(self) -> int:
        return self.size - self.ok - self.refused


def _requests(template: bytes, inputs: bytes) -> list[Any]:
    from flyteidl.admin import agent_pb2
    from flyteidl.core import literals_pb2, tasks_pb2

    from tests.compat.wire import execution_metadata

    header = agent_pb2.CreateRequestHeader(
        template=tasks_pb2.TaskTemplate.FromString(template),
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=execution_metadata(),
    )
    return [
        agent_pb2.ExecuteTaskSyncRequest(header=header),
        agent_pb2.ExecuteTaskSyncRequest(inputs=literals_pb2.LiteralMap.FromString(inputs)),
    ]


async def _one(stub: Any, requests: list[Any]) -> tuple[str, str]:
    """One ExecuteTaskSync: ("OK", "") when it answered SUCCEEDED, else the status code or phase, and why."""
    import grpc
    from flyteidl.core import execution_pb2

    try:
        call = stub.ExecuteTaskSync(iter(requests), timeout=DEADLINE)
        responses = [response async for response in call]
    except grpc.aio.AioRpcError as exc:
        return str(exc.code().name), exc.details() or ""
    resources = [r.header.resource for r in responses if r.WhichOneof("res") == "header"]
    if [r.phase for r in resources] == [execution_pb2.TaskExecution.SUCCEEDED]:
        return "OK", ""
    if not resources:
        return "answered nothing", ""
    return "answered " + execution_pb2.TaskExecution.Phase.Name(resources[0].phase), resources[0].message


async def _burst(address: str, size: int, requests: list[Any]) -> Burst:
    import grpc
    from flyteidl.service import agent_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        stub = agent_pb2_grpc.SyncAgentServiceStub(channel)
        began = time.perf_counter()
        outcomes = await asyncio.gather(*(_one(stub, requests) for _ in range(size)))
        wall = time.perf_counter() - began
    measured = Burst(size, wall, Counter(kind for kind, _ in outcomes))
    for kind, details in outcomes:
        measured.details.setdefault(kind, details)
    return measured


def profiled(server: Running, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``server`` until it is sent SIGINT; folded stacks of busy threads to ``out``."""
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--pid", str(server.process.pid), "--format", "raw"]
    process = subprocess.Popen([*command, "--nonblocking", "-o", str(out)], stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return process


def burst(server: Running, size: int, requests: list[Any], endpoint: Endpoint) -> Burst:
    """``size`` ExecuteTaskSync calls started at once on a fresh channel; how long and how they ended.

    Also the CPU seconds the server, the endpoint and this client spent meanwhile: on a shared
    machine they compete for the same CPUs, so a burst's wall time is partly theirs.
    """
    endpoint.stats()  # resets the peak
    before = (cpu_seconds(server.process.pid), cpu_seconds(endpoint.process.pid), time.process_time())
    measured = asyncio.run(_burst(server.address, size, requests))
    after = (cpu_seconds(server.process.pid), cpu_seconds(endpoint.process.pid), time.process_time())
    spent = [b - a for a, b in zip(before, after, strict=True)]
    measured.server_cpu, measured.endpoint_cpu, measured.client_cpu = spent
    measured.peak = endpoint.stats()["peak"]
    return measured


def warm_up(server: Running, requests: list[Any], endpoint: Endpoint) -> None:
    """One call until it succeeds: ``connector serve`` may list before connector-http has loaded."""
    give_up = time.monotonic() + 120
    while True:
        measured = burst(server, 1, requests, endpoint)
        if measured.ok == 1:
            return
        if time.monotonic() > give_up:
            why = "; ".join(f"{kind}: {details}" for kind, details in measured.details.items())
            raise RuntimeError(
                f"{server.target.name} never answered a webhook call ({why}); see {server.log_path}"
            )
        time.sleep(0.2)


# -- report ------------------------------------------------------------------------------------------


def report(
    args: argparse.Namespace, names: list[str], results: dict[tuple[str, int], list[Burst]], load_start: str
) -> None:
    """The side-by-side table (medians; ratios ours / pyflyte's) and the targets' verdicts."""
    med = statistics.median
    ours, theirs = names[0], names[-1]
    paired = len(names) > 1
    rows = []
    for size in args.sizes:
        walls = {n: med(b.wall for b in results[(n, size)]) for n in names}
        failed = {n: med(b.size - b.ok for b in results[(n, size)]) for n in names}
        refused = {n: med(b.refused for b in results[(n, size)]) for n in names}
        peak = {n: med(b.peak for b in results[(n, size)]) for n in names}
        rows.append(
            [
                str(size),
                *(f"{walls[n]:.2f} s" for n in names),
                *([f"{walls[ours] / walls[theirs]:.2f}x"] if paired else []),
                *(f"{failed[n]:.0f} ({refused[n]:.0f})" for n in names),
                *(f"{peak[n]:.0f}" for n in names),
            ]
        )
    headers = [
        "N",
        *(f"wall, {n}" for n in names),
        *(["wall ratio"] if paired else []),
        *(f"not OK (refused), {n}" for n in names),
        *(f"peak at endpoint, {n}" for n in names),
    ]
    print(
        f"Slow remotes at scale ({machine_notes()}; endpoint delay {args.delay:g} s, "
        f"{args.runs} rounds, medians; {SERVERS_LONG_LIVED if args.long_lived else SERVERS_FRESH})"
    )
    print(f"Load average at the start {load_start}, at the end {load_average()}; {source_note()}.")
    print()
    print(table(headers, rows))
    print()
    cpu_rows = []
    for size in args.sizes:
        for name in names:
            runs = results[(name, size)]
            cpu_rows.append(
                [
                    str(size),
                    name,
                    f"{med(b.server_cpu for b in runs):.2f} s",
                    f"{med(b.server_cpu for b in runs) / size * 1000:.2f} ms",
                    f"{med(b.endpoint_cpu for b in runs):.2f} s",
                    f"{med(b.client_cpu for b in runs):.2f} s",
                ]
            )
    print("CPU time during a burst (medians; the machine has", os.cpu_count(), "CPUs):")
    print()
    headers = ["N", "server", "server CPU", "server CPU per call", "endpoint CPU", "client CPU"]
    print(table(headers, cpu_rows))
    print()
    print("How the calls that were not OK ended, all rounds (calls per outcome):")
    for name in names:
        for size in args.sizes:
            total: Counter[str] = Counter()
            details: dict[str, str] = {}
            for measured in results[(name, size)]:
                total.update({k: v for k, v in measured.outcomes.items() if k != "OK"})
                details = {**measured.details, **details}
            if total:
                print(f"  {name}, N = {size}: " + ", ".join(f"{k} {v}" for k, v in total.most_common()))
                for kind in total:
                    print(f"    {kind}, e.g.: {details.get(kind, '')[:300]!r}")
    print()
    checks = []
    for size in args.sizes:
        failed = med(b.size - b.ok for b in results[(ours, size)])
        checks.append((f"0 calls not OK at N = {size}", failed == 0, f"{failed:.0f}"))
    limits = {100: 1.5, 1000: 3.0}
    for size, limit in limits.items():
        if size in args.sizes:
            wall = med(b.wall for b in results[(ours, size)])
            checks.append((f"wall time <= {limit:g} s at N = {size}", wall <= limit, f"{wall:.2f} s"))
    for label, ok, value in checks:
        print(f"{'met   ' if ok else 'MISSED'} {label} ({ours}): {value}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds per figure; medians are printed")
    parser.add_argument("--sizes", default="100,500,1000", help="concurrent calls per burst, comma-separated")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds the endpoint takes to answer")
    parser.add_argument(
        "--long-lived",
        action="store_true",
        help="one process per server for every burst (default: a fresh, warmed-up process per burst)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild connector serve's virtualenv")
    parser.add_argument(
        "--only-ours", action="store_true", help="measure connector serve alone (no pyflyte column, no ratio)"
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="sample connector serve with py-spy (next to this Python) during each burst; folded "
        "stacks to PATH.nN.rR.txt",
    )
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    load_start = load_average()
    limits = raise_fd_limit()
    log(f"file descriptors: soft {limits[0]}, hard {limits[1]}")

    venv = ours_venv(args.rebuild)
    flytekit = cached_venv("flytekit", FLYTEKIT, root=WORK)
    endpoint = Endpoint(args.delay)
    servers: dict[str, Running] = {}
    try:
        template, inputs = serialize_webhook(flytekit, endpoint.origin + "/hooks/slow")
        requests = _requests(template, inputs)
        chosen = targets(venv, flytekit, endpoint.origin)
        if args.only_ours:
            chosen = chosen[:1]
        by_name = {target.name: target for target in chosen}

        def fresh(name: str) -> Running:
            if name in servers:
                servers.pop(name).stop()
            servers[name] = start(by_name[name], logs=HERE / "logs")[0]
            warm_up(servers[name], requests, endpoint)
            return servers[name]

        for target in chosen:
            fresh(target.name)
        names = [t.name for t in chosen]
        results: dict[tuple[str, int], list[Burst]] = {}
        for round_number in range(args.runs):
            for size in args.sizes:
                shift = (round_number + args.sizes.index(size)) % len(names)
                for name in names[shift:] + names[:shift]:
                    # A fresh process per burst unless --long-lived: a burst whose calls ran past
                    # their deadline can leave a server's HTTP client with connections it never
                    # frees, which would decide every later burst's figures.
                    server = (
                        servers[name]
                        if args.long_lived or (round_number, size) == (0, args.sizes[0])
                        else fresh(name)
                    )
                    spy = None
                    if args.py_spy and name == names[0]:
                        out = Path(args.py_spy).with_suffix(f".n{size}.r{round_number + 1}.txt")
                        spy = profiled(server, out)
                    measured = burst(server, size, requests, endpoint)
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(60)
                        log(f"py-spy profile of {name}'s burst: {out}")
                    results.setdefault((name, size), []).append(measured)
                    log(
                        f"round {round_number + 1}, N = {size}, {name}: {measured.wall:.2f} s, "
                        f"{dict(measured.outcomes)}, peak {measured.peak}"
                    )
                    time.sleep(1.0)  # let the servers settle (closed sockets, finished threads)
    finally:
        for server in servers.values():
            server.stop()
        endpoint.stop()
    report(args, names, results, load_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
