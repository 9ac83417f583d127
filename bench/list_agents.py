"""ListAgents latency while a plugin's import is held, beside the latency with everything loaded (issue 10).

Propeller calls ListAgents with a deadline of a few seconds (its default is 10 s) and drops every
task type of a service whose answer misses it, until its next poll. Before issue 10, ListAgents
loaded every connector first, so one slow plugin import (up to CONNECTOR_IMPORT_TIMEOUT, 60 s by
default) made it miss. The target: an answer within 100 ms while an import is held.

It keeps a virtualenv under bench/.work with connector-core from this checkout (non-editable), a
distribution of ``--connectors`` small connectors, and one whose import waits until the benchmark
releases it (a file appears). Then, for a real ``connector serve`` process on 127.0.0.1, it prints
the median (and the slowest) of ``--calls`` ListAgents calls on one open channel, as propeller
makes them, in three situations: the first start with the import held (nothing learned yet: only
what is loaded is listed), after the release (everything loaded), and a second start with the
import held again (listed from what the first start learned).

Run: ``python bench/list_agents.py`` or ``python -m nox -s bench -- bench/list_agents.py``.
Options: ``--calls N`` (default 50), ``--connectors N`` (default 20), ``--rebuild``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import CORE, WORK, BenchVenv, log, machine_notes, table

from tests.support.wheels import build_wheel

TARGET_SECONDS = 0.100
ADDRESS = re.compile(r"^Serving gRPC on 127\.0\.0\.1:(\d+) ")

# Many small connectors in one distribution, async and sync, as a first-party plugin would have.
MANY_MODULE = '''\
"""The list benchmark's connectors: Bench0 to Bench{last}, every third one sync."""

from __future__ import annotations

import dataclasses

from connector import AsyncConnector, Phase, Resource, ResourceMeta, SyncConnector


@dataclasses.dataclass
class Job(ResourceMeta):
    job_id: str


def _async(index: int) -> type:
    async def create(self, inputs):
        return Job(job_id="j")

    async def get(self, resource_meta):
        return Resource(phase=Phase.SUCCEEDED)

    async def delete(self, resource_meta):
        return None

    hooks = {{"create": create, "get": get, "delete": delete}}
    attributes = {{"name": f"Bench {{index}}", "task_type_name": f"bench{{index:03d}}", "metadata_type": Job}}
    return type(f"Bench{{index}}", (AsyncConnector,), {{**attributes, **hooks}})


def _sync(index: int) -> type:
    def do(self, inputs):
        return Resource(phase=Phase.SUCCEEDED)

    attributes = {{"name": f"Bench {{index}}", "task_type_name": f"bench{{index:03d}}", "do": do}}
    return type(f"Bench{{index}}", (SyncConnector,), attributes)


for _index in range({count}):
    globals()[f"Bench{{_index}}"] = (_sync if _index % 3 == 0 else _async)(_index)
'''

# Its import waits until the file BENCH_HELD_RELEASE names exists, after creating BENCH_HELD_STARTED.
HELD_MODULE = """\
import os
import time
from pathlib import Path

Path(os.environ["BENCH_HELD_STARTED"]).touch()
while not Path(os.environ["BENCH_HELD_RELEASE"]).exists():
    time.sleep(0.005)

from connector import Phase, Resource, SyncConnector


class Held(SyncConnector):
    name = "Held import"
    task_type_name = "{task_type}"

    def do(self, inputs):
        return Resource(phase=Phase.SUCCEEDED)
"""


def _held_task_type(count: int) -> str:
    # Connectors load in task-type order: half of the others sort before the held one, half after.
    return f"bench{count // 2:03d}_held"


def _stamp(count: int) -> str:
    return hashlib.sha256(f"{count}\n{MANY_MODULE}\n{HELD_MODULE}".encode()).hexdigest()[:16]


def _populate(count: int) -> Callable[[BenchVenv], None]:
    def populate(venv: BenchVenv) -> None:
        with tempfile.TemporaryDirectory() as folder:
            directory = Path(folder)
            many = build_wheel(
                directory,
                "connector-benchlist",
                "1.0",
                {"connector_benchlist.py": MANY_MODULE.format(count=count, last=count - 1)},
                {"connector": {f"bench{i:03d}": f"connector_benchlist:Bench{i}" for i in range(count)}},
            )
            held_type = _held_task_type(count)
            held = build_wheel(
                directory,
                "connector-benchheld",
                "1.0",
                {"connector_benchheld.py": HELD_MODULE.format(task_type=held_type)},
                {"connector": {held_type: "connector_benchheld:Held"}},
            )
            venv.pip("install", f"{CORE}[server]")
            venv.pip("install", "--no-deps", str(many), str(held))

    return populate


class Server:
    """A ``connector serve`` process of the venv, on a free port, its log in bench/.work."""

    def __init__(self, venv: BenchVenv, home: Path, started: Path, release: Path, log_path: Path) -> None:
        import grpc
        from flyteidl.service import agent_pb2_grpc
        from grpc_health.v1 import health_pb2_grpc

        environ = venv.environ(
            {
                "CONNECTOR_HOME": str(home),
                "BENCH_HELD_STARTED": str(started),
                "BENCH_HELD_RELEASE": str(release),
            }
        )
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [str(venv.bin / "connector"), "serve", "--port", "0", "--prometheus-port", "off"],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = ADDRESS.match(line)
            if found:
                self.port = int(found.group(1))
                break
        else:
            raise SystemExit(f"connector serve printed no address; see {log_path}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.agents = agent_pb2_grpc.AgentMetadataServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def list_times(self, calls: int) -> tuple[list[float], int]:
        """Seconds of ``calls`` ListAgents calls (after one that opens the channel), and the agents listed."""
        from flyteidl.admin import agent_pb2

        request = agent_pb2.ListAgentsRequest()
        agents = len(self.agents.ListAgents(request, timeout=10).agents)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            self.agents.ListAgents(request, timeout=10)
            times.append(time.perf_counter() - start)
        return times, agents

    def wait_serving(self) -> None:
        from grpc_health.v1 import health_pb2

        for _ in range(3000):
            status = self.health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
            if status == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.02)
        raise SystemExit("connector serve never became SERVING")

    def stop(self) -> None:
        self.channel.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.log.close()


def _wait_for(path: Path) -> None:
    for _ in range(6000):
        if path.exists():
            return
        time.sleep(0.005)
    raise SystemExit(f"the held import never began ({path} was not created)")


def main(argv: list[str] | None = None) -> None:
    """Build (or reuse) the virtualenv, measure the three situations, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="ListAgents calls per situation (median)")
    parser.add_argument("--connectors", type=int, default=20, help="small connectors besides the held one")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the virtualenv")
    args = parser.parse_args(argv)

    WORK.mkdir(parents=True, exist_ok=True)
    venv = BenchVenv(f"list-agents-n{args.connectors}")
    if args.rebuild and venv.path.exists():
        shutil.rmtree(venv.path)
    venv.ensure(_stamp(args.connectors), _populate(args.connectors))

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        home, started, release = scratch / "home", scratch / "started", scratch / "release"

        def measure(server: Server, situation: str) -> None:
            times, agents = server.list_times(args.calls)
            median = statistics.median(times)
            verdict = "met" if median <= TARGET_SECONDS else "NOT met"
            rows.append(
                [
                    situation,
                    str(agents),
                    f"{median * 1000:.2f} ms",
                    f"{max(times) * 1000:.2f} ms",
                    f"{TARGET_SECONDS * 1000:.0f} ms ({verdict})",
                ]
            )

        log("first start: nothing learned yet, the import held")
        first = Server(venv, home, started, release, WORK / "list-agents-first.log")
        try:
            _wait_for(started)
            measure(first, "first start, import held")
            release.touch()
            first.wait_serving()
            measure(first, "everything loaded")
        finally:
            release.touch()
            first.stop()

        log("second start: the import held again, the first start's learning in CONNECTOR_HOME")
        started.unlink()
        release.unlink()
        second = Server(venv, home, started, release, WORK / "list-agents-second.log")
        try:
            _wait_for(started)
            measure(second, "next start, import held (learned)")
        finally:
            release.touch()
            second.stop()

    print(
        f"ListAgents latency, `connector serve` with {args.connectors} connectors and one held import; "
        f"median and slowest of {args.calls} calls on an open channel. {machine_notes()}"
    )
    print()
    print(table(["situation", "agents listed", "median", "slowest", "reference"], rows))
    print()
    print(
        "Before issue 10 ListAgents waited for the held import: it answered once the import ended "
        "or CONNECTOR_IMPORT_TIMEOUT (60 s by default) passed."
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
