"""Bridged flytekit connectors: `connector serve` against `pyflyte serve connector`, same plugins (issue 11).

Both servers run from one virtualenv holding real flytekit 1.16, flytekitplugins-openai and
flytekitplugins-bigquery from PyPI (nothing remote is called), connector-core and connector-flytekit
from this checkout; every server on 127.0.0.1, same run, medians of interleaved rounds:

- cold start: process start to the first successful ListAgents (target: at most 0.5x pyflyte's),
  and whether that first answer lists the same task types as pyflyte's;
- idle RSS one second after that answer (target: at most 1x);
- CreateTask+GetTask pairs per second at 1 and 8 client threads (target: at least 1x) and the
  server's CPU per pair, on flytekit's own ``sensor``: a FileSensor (serialized by flytekit) on a
  file that exists, so GetTask answers SUCCEEDED at once. ``connector serve`` bridges it, opted in
  and pinned as an operator would (``CONNECTOR_FLYTEKIT_BUILTINS=sensor,webhook``: flytekit's own
  connectors, both served as pyflyte serves them; ``CONNECTOR_PIN=sensor=flytekit``); pyflyte
  serves it natively. Measured in steady state: each server warmed with 20 pairs and idle (``connector
  serve`` imports the connectors not asked for yet in the background after its first answer; the
  cold-start rows show what starting costs).

``connector serve`` runs as installed (its discovery cache warm from an unmeasured first start);
the row "cold start, discovery cache off" adds ``CONNECTOR_DISCOVERY_CACHE=0``, about what the first
start after an install pays. pyflyte starts through bench/service.py's launcher (127.0.0.1 only).

The PyPI part of the virtualenv is built once under .nox/_bench (tests/compat/venvs.py's cache); the
checkout's two distributions are installed in a second virtualenv over it, rebuilt when their
sources change.

Run: ``python bench/bridges.py`` or ``python -m nox -s bench -- bench/bridges.py``.
Options: ``--runs R`` (cold starts per server, default 5), ``--rounds N`` (throughput rounds,
default 7: one round's ratio moves by a fifth on a shared machine), ``--pairs P`` (pairs per
measurement, default 400), ``--threads 1,8``, ``--rebuild``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import CORE, ROOT, WORK, log, machine_notes, sources_fingerprint, table
from service import (
    FLYTEKIT_LAUNCHER,
    Target,
    Throughput,
    free_port,
    measure_pairs,
    ratio,
    rss_mib,
    start,
    wait_until_idle,
)

from tests.compat.venvs import FLYTEKIT, CachedVenv, cached_venv

BRIDGE = ROOT / "plugins" / "connector-flytekit"
CACHE = ROOT / ".nox" / "_bench"
HERE = WORK / "bridges"
#: Real flytekit plugins with connectors, from PyPI (their remotes, OpenAI and BigQuery, are never called).
PLUGINS = {"flytekitplugins-openai": ">=1.16,<1.17", "flytekitplugins-bigquery": ">=1.16,<1.17"}
SENSOR = "sensor"
META_KEYS = "bench=bench-bridges-meta-key-0123456789abcdef"

# Run with the virtualenv's python: flytekit serializes its own FileSensor, as `pyflyte register` would.
SERIALIZE_SENSOR = """\
import base64, json, sys
from collections import OrderedDict

from flytekit import FlyteContextManager
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.sensor import FileSensor
from flytekit.tools.translator import get_serializable

task = FileSensor(name="bench.landed")
settings = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="bench", domain="development", version="1"
)
template = get_serializable(OrderedDict(), settings, task).template
ctx = FlyteContextManager.current_context()
inputs = TypeEngine.dict_to_literal_map(ctx, {"path": sys.argv[1]}, task.python_interface.inputs)
print(json.dumps({
    "template": base64.b64encode(template.to_flyte_idl().SerializeToString()).decode(),
    "inputs": base64.b64encode(inputs.to_flyte_idl().SerializeToString()).decode(),
}))
"""


# -- the virtualenv ----------------------------------------------------------------------------------


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pip vendors the same parser
        from pip._vendor import tomli as tomllib
    with path.open("rb") as handle:
        return tomllib.load(handle)


def layer_requirements() -> tuple[str, ...]:
    """flytekit, the plugins, and what core[server] and connector-flytekit depend on (per pyproject.toml)."""
    requirements = [*FLYTEKIT, *(name + versions for name, versions in PLUGINS.items())]
    for project in (CORE, BRIDGE):
        metadata = _load_toml(project / "pyproject.toml")["project"]
        server = metadata.get("optional-dependencies", {}).get("server", [])
        for requirement in [*metadata.get("dependencies", []), *(server if project == CORE else [])]:
            name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()
            if name not in ("connector-core", "flytekit"):  # built here / pinned by FLYTEKIT
                requirements.append(requirement)
    return tuple(dict.fromkeys(requirements))


def bridges_venv(rebuild: bool) -> tuple[Path, CachedVenv]:
    """The bin folder of the virtualenv both servers run from, and its PyPI layer.

    The layer (flytekit, the two plugins, the dependencies of core[server] and connector-flytekit)
    is ``tests.compat.venvs.cached_venv``'s; the checkout's core and connector-flytekit go into a
    virtualenv of their own that adds the layer's site-packages through a ``.pth`` file (as the
    end-to-end tests do), so a change of either is a reinstall of two wheels, not of flytekit.
    """
    layer = cached_venv("bench-bridges", layer_requirements(), root=CACHE)
    top = CACHE / f"bridges-{layer.path.name}"
    python = top / "bin" / "python"
    stamp = sources_fingerprint(CORE, BRIDGE)
    stamp_file = top / "bench-stamp"
    if not rebuild and python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return top / "bin", layer
    log(f"installing connector-core and connector-flytekit from this checkout into {top.relative_to(ROOT)}")
    if top.exists():
        shutil.rmtree(top)
    # The layer's interpreter (the peers' Python, maybe not this one); this process's pip installs.
    subprocess.run([str(layer.python), "-m", "venv", "--without-pip", str(top)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    own = subprocess.run([str(python), "-c", purelib], capture_output=True, text=True, check=True)
    theirs = subprocess.run([str(layer.python), "-c", purelib], capture_output=True, text=True, check=True)
    (Path(own.stdout.strip()) / "_bench_layer.pth").write_text(
        f"import site; site.addsitedir({theirs.stdout.strip()!r})\n"
    )
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "--quiet"]
    pip += ["--cache-dir", str(CACHE / "pip-cache")]
    subprocess.run([*pip, "install", "--no-deps", str(CORE), str(BRIDGE)], check=True)
    stamp_file.write_text(stamp)
    # The discovery cache is written only when every watched folder is older than 2 s.
    time.sleep(2.5)
    return top / "bin", layer


def environ(bin_folder: Path, **extra: str) -> dict[str, str]:
    """A server's environment: the venv first on PATH; no CONNECTOR_*, PYTHON* or proxy settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONNECTOR_", "PYTHON")) and k.lower() not in ("http_proxy", "https_proxy")
    }
    env["PATH"] = f"{bin_folder}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def targets(bin_folder: Path) -> tuple[Target, Target, Target]:
    """``connector serve`` (flytekit's sensor pinned), the same with its discovery cache off, and pyflyte."""
    HERE.mkdir(parents=True, exist_ok=True)
    launcher = HERE / "launch_pyflyte.py"
    launcher.write_text(FLYTEKIT_LAUNCHER)
    ours_env = environ(
        bin_folder,
        CONNECTOR_HOME=str(HERE / "home"),
        CONNECTOR_PIN=f"{SENSOR}=flytekit",
        # flytekit's own connectors are served only when opted in: both, as pyflyte serves both.
        CONNECTOR_FLYTEKIT_BUILTINS="sensor,webhook",
        CONNECTOR_META_KEYS=META_KEYS,
    )

    def ours(port: int) -> list[str]:
        return [str(bin_folder / "connector"), "serve", "--port", str(port), "--prometheus-port", "0"]

    def pyflyte(port: int) -> list[str]:
        metrics = ["--prometheus_port", str(free_port())]
        return [str(bin_folder / "python"), str(launcher), "--port", str(port), *metrics]

    return (
        Target("connector serve", ours, ours_env, cwd=HERE),
        Target("connector serve, cache off", ours, {**ours_env, "CONNECTOR_DISCOVERY_CACHE": "0"}, cwd=HERE),
        Target("pyflyte serve connector", pyflyte, environ(bin_folder), cwd=HERE),
    )


# -- requests ------------------------------------------------------------------------------------------


def sensor_requests(bin_folder: Path) -> tuple[Callable[[int], Any], Callable[[bytes], Any]]:
    """The CreateTaskRequest of a FileSensor on a file that exists, and the GetTaskRequest after it."""
    from flyteidl.admin import agent_pb2
    from flyteidl.core import literals_pb2, tasks_pb2

    landed = HERE / "landed.csv"
    landed.write_text("a,b\n")
    done = subprocess.run(
        [str(bin_folder / "python"), "-c", SERIALIZE_SENSOR, str(landed)],
        env=environ(bin_folder),
        capture_output=True,
        text=True,
        check=True,
    )
    made = json.loads(done.stdout.splitlines()[-1])
    template = tasks_pb2.TaskTemplate.FromString(base64.b64decode(made["template"]))
    inputs = literals_pb2.LiteralMap.FromString(base64.b64decode(made["inputs"]))
    if template.type != SENSOR:
        raise RuntimeError(f"flytekit's FileSensor serialized to task type {template.type!r}, not {SENSOR!r}")
    metadata = agent_pb2.TaskExecutionMetadata(namespace="bench", k8s_service_account="default")
    created = agent_pb2.CreateTaskRequest(
        inputs=inputs, template=template, output_prefix="s3://bench/out", task_execution_metadata=metadata
    )

    def create(index: int) -> Any:
        return created

    def get(resource_meta: bytes) -> Any:
        return agent_pb2.GetTaskRequest(
            task_type=SENSOR,
            task_category=agent_pb2.TaskCategory(name=SENSOR, version=template.task_type_version),
            resource_meta=resource_meta,
            output_prefix="s3://bench/out",
        )

    return create, get


def first_pair(address: str, create: Callable[[int], Any], get: Callable[[bytes], Any]) -> float:
    """Seconds one CreateTask+GetTask pair takes on a server that has just answered ListAgents.

    On ``connector serve`` this pair waits for the imports of flytekit and its plugins, which begin
    once the port is bound; pyflyte made them before it bound its port.
    """
    import grpc
    from flyteidl.core import execution_pb2
    from flyteidl.service import agent_pb2_grpc

    began = time.perf_counter()
    with grpc.insecure_channel(address) as channel:
        stub = agent_pb2_grpc.AsyncAgentServiceStub(channel)
        created = stub.CreateTask(create(0), timeout=120)
        got = stub.GetTask(get(created.resource_meta), timeout=120)
    if got.resource.phase != execution_pb2.TaskExecution.SUCCEEDED:
        raise RuntimeError(f"{address}: the first GetTask answered {got}")
    return time.perf_counter() - began


def categories(listed: Any) -> frozenset[str]:
    """The task types (``name@version``) a ListAgentsResponse lists."""
    return frozenset(
        f"{category.name}@{category.version}"
        for agent in listed.agents
        for category in agent.supported_task_categories
    )


# -- report ---------------------------------------------------------------------------------------------


def millis(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def mib(value: float) -> str:
    return f"{value:.1f} MiB"


def report(
    args: argparse.Namespace,
    names: tuple[str, str, str],
    versions: str,
    load_at_start: str,
    cold: dict[str, list[float]],
    serving: dict[str, list[float]],
    idle: dict[str, list[float]],
    listed: dict[str, list[frozenset[str]]],
    results: dict[tuple[str, int], list[Throughput]],
    loaded: dict[str, float],
) -> None:
    """The side-by-side table (medians, ours over pyflyte's) and each target's verdict."""
    ours, cache_off, theirs = names
    thread_counts = sorted({threads for _, threads in results})
    med = statistics.median
    rows: list[list[str]] = []
    verdicts: list[tuple[str, bool, str]] = []

    def row(figure: str, mine: float, their: float, shown: Callable[[float], str], target: str = "") -> str:
        rows.append([figure, shown(mine), shown(their), ratio(mine, their), target])
        return ratio(mine, their)

    def pairs(name: str, threads: int, figure: Callable[[Throughput], float]) -> float:
        return med(figure(r) for r in results[(name, threads)])

    def rate(r: Throughput) -> float:
        return r.pairs_per_second

    def p50(r: Throughput) -> float:
        return r.percentile(0.5)

    def cpu(r: Throughput) -> float:
        return r.server_cpu_per_pair

    mine, their = med(cold[ours]), med(cold[theirs])
    shown = row("cold start to first ListAgents", mine, their, millis, "<= 0.50x")
    verdicts.append(("cold start <= 0.5x pyflyte", mine <= 0.5 * their, shown))
    row("cold start, discovery cache off", med(cold[cache_off]), their, millis)
    row("cold start to the first sensor pair", med(serving[ours]), med(serving[theirs]), millis)
    first = {name: set(answers) for name, answers in listed.items()}
    same = first[ours] == first[theirs] and len(first[theirs]) == 1

    def count(name: str) -> str:
        return " or ".join(str(n) for n in sorted({len(answer) for answer in first[name]}))

    verdict = "same" if same else "differ"
    rows.append(["task types in the first answer", count(ours), count(theirs), verdict, ""])
    mine, their = med(idle[ours]), med(idle[theirs])
    shown = row("idle RSS, 1 s after the first answer", mine, their, mib, "<= 1.00x")
    verdicts.append(("idle RSS <= 1x pyflyte", mine <= their, shown))
    for threads in thread_counts:
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        mine, their = pairs(ours, threads, rate), pairs(theirs, threads, rate)
        shown = row(f"sensor pairs/s, {label}", mine, their, "{:.0f}".format, ">= 1.00x")
        verdicts.append((f"pairs/s >= 1x pyflyte, {label}", mine >= their, shown))
        latency = pairs(ours, threads, p50), pairs(theirs, threads, p50)
        row(f"pair latency p50, {label}", *latency, lambda s: f"{s * 1000:.2f} ms")
        used = pairs(ours, threads, cpu), pairs(theirs, threads, cpu)
        row(f"server CPU per pair, {label}", *used, lambda s: f"{s * 1e6:.0f} us")
    row("RSS after the pair runs", loaded[ours], loaded[theirs], mib)

    print(
        f"Bridged flytekit connectors ({machine_notes()}; load average {load_at_start} at the start; "
        f"{versions}; {args.runs} cold starts per server, {args.rounds} throughput rounds of "
        f"{args.pairs} pairs)"
    )
    print()
    print(table(["figure", ours, theirs, "ratio", "target"], rows))
    print()
    for label, ok, value in verdicts:
        print(f"{'PASS' if ok else 'FAIL'} {label}: {value}")
    # The spread says how far one run's median can be trusted on a shared machine.
    for threads in thread_counts:
        each = zip(results[(ours, threads)], results[(theirs, threads)], strict=True)
        ratios = sorted(rate(a) / rate(b) for a, b in each)
        print(f"pairs/s ratio of each round, {threads} thread(s): {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"{'same' if same else 'DIFFERENT'}: the task types of the first ListAgents answers")
    for name in names:
        for answer in sorted(first[name], key=len):
            print(f"  {name}: {', '.join(sorted(answer)) or '(none)'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts per server; medians are printed")
    parser.add_argument("--rounds", type=int, default=7, help="throughput rounds; medians are printed")
    parser.add_argument("--pairs", type=int, default=400, help="CreateTask+GetTask pairs per measurement")
    parser.add_argument("--threads", default="1,8", help="client thread counts, comma-separated")
    parser.add_argument("--rebuild", action="store_true", help="reinstall the checkout's distributions")
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",")]
    load_at_start = f"{os.getloadavg()[0]:.2f}"

    bin_folder, layer = bridges_venv(args.rebuild)
    installed = ", ".join(f"{name} {layer.version_of(name)}" for name in ("flytekit", *PLUGINS))
    versions = f"servers on Python {layer.info['python']} with {installed}"
    all_targets = targets(bin_folder)
    ours, cache_off, theirs = all_targets
    create, get = sensor_requests(bin_folder)

    # One unmeasured start each: the discovery cache written, files in the page cache, answers checked.
    for target in (ours, theirs):
        running, seconds = start(target)
        try:
            types = ", ".join(sorted(categories(running.listed)))
            log(f"{target.name}: first start {seconds * 1000:.0f} ms, lists {types}")
            measure_pairs(running.address, 1, 5, running.process.pid, create, get)
        finally:
            running.stop()

    cold: dict[str, list[float]] = {t.name: [] for t in all_targets}
    serving: dict[str, list[float]] = {t.name: [] for t in (ours, theirs)}
    idle: dict[str, list[float]] = {t.name: [] for t in all_targets}
    listed: dict[str, list[frozenset[str]]] = {t.name: [] for t in all_targets}
    for round_number in range(args.runs):
        shift = round_number % len(all_targets)
        for target in all_targets[shift:] + all_targets[:shift]:
            running, seconds = start(target)
            try:
                time.sleep(1.0)  # idle: started, answered ListAgents, nothing else asked
                idle[target.name].append(rss_mib(running.process.pid))
            finally:
                running.stop()
            cold[target.name].append(seconds)
            listed[target.name].append(categories(running.listed))
        for target in (ours, theirs) if round_number % 2 == 0 else (theirs, ours):
            running, seconds = start(target)
            try:
                serving[target.name].append(seconds + first_pair(running.address, create, get))
            finally:
                running.stop()
        log(f"cold start round {round_number + 1}/{args.runs} done")

    # Throughput: one long-lived process per server, rounds interleaved.
    servers = {}
    try:
        for target in (ours, theirs):
            servers[target.name] = start(target)[0]
        # Steady state: warmed, and done with start-up work (connector serve imports flytekit's
        # other connectors in the background after its first answer; the cold-start rows count that).
        for server in servers.values():
            measure_pairs(server.address, 1, 20, server.process.pid, create, get)
            wait_until_idle(server.process.pid)
        results: dict[tuple[str, int], list[Throughput]] = {}
        for round_number in range(args.rounds):
            order = [ours, theirs] if round_number % 2 == 0 else [theirs, ours]
            for target in order:
                server = servers[target.name]
                for threads in thread_counts:
                    measured = measure_pairs(
                        server.address, threads, args.pairs, server.process.pid, create, get
                    )
                    results.setdefault((target.name, threads), []).append(measured)
            log(f"throughput round {round_number + 1}/{args.rounds} done")
        loaded = {name: rss_mib(server.process.pid) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()

    names = (ours.name, cache_off.name, theirs.name)
    report(args, names, versions, load_at_start, cold, serving, idle, listed, results, loaded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
