"""Service benchmark: `connector serve` against a bare grpc.aio server of canned answers (issues 3 and 13).

Same machine, same run, medians of ``--runs`` rounds, every server on 127.0.0.1:

- cold start: process start to the first successful ListAgents, against a bare ``grpc.aio`` server
  process that answers ListAgents from a canned message (target: at most 2x the bare server);
- CreateTask+GetTask pairs per second and p50/p99 pair latency (flyteidl v1 ``AsyncAgentService``),
  1, 8 and 32 client threads, with a no-op async connector installed as a real distribution, against
  a bare ``grpc.aio`` servicer returning the very response messages ``connector serve`` sent, canned
  (the ceiling; targets: at least 0.85x at 1 thread, 0.95x at 8);
- server CPU per pair, from /proc/PID/stat (target: at most 1.2x the bare server's);
- idle RSS of ``connector serve`` (target: at most 60 MiB), read from /proc/PID/status;
- in process, without gRPC: the CPU time of the service's own ``CreateTask`` and ``GetTask``
  handlers called in a loop on freshly parsed requests, minus the same loop against the bare
  canned servicer: the project's own Python per pair (target: at most 50 us). Run alone with
  ``--in-process-only``, a quick loop while optimising. Beside it, the Python bytecodes the
  handlers execute per pair (counted with ``sys.settrace``): the same on every run, so a change
  of the call path shows there even when this shared machine's timings do not.

Peers as more columns, from the same run: ``--flytekit PYTHON`` adds flytekit's ``pyflyte serve
connector`` (from PYTHON's environment, with an equivalent no-op connector; the ``bench_flytekit``
nox session does that), ``--flyte PYTHON`` adds Flyte 2's connector service
(``flyte.connectors.ConnectorService.run``: flyte has no command that serves connectors) with the
same no-op connector written for Flyte 2; it speaks flyteidl2 only, so its pairs go over
``flyteidl2.connector.AsyncConnectorService``. ``--peers`` builds both virtualenvs under bench/.work
(cached; tests/compat/venvs.py's builder, on a Python below 3.13) and adds both columns.

Run: ``python bench/service.py`` or ``python -m nox -s bench -- bench/service.py``.
Options: ``--runs R`` (default 5), ``--pairs N`` (pairs per measurement, default 960),
``--threads 1,8,32``, ``--peers``, ``--bare-uvloop`` (one more column: the bare server on uvloop,
the loop ``connector serve`` runs on; the targets stay against the bare server on asyncio's loop),
``--in-process-only`` (with ``--profile``: where its time goes),
``--rebuild``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# The bare server is this file run in another mode; it imports only what a minimal server needs,
# so its cold start is the floor.
BARE_MODE = "bare-server"
# The in-process measurement runs in the service's virtualenv, as this file in a third mode.
IN_PROCESS_MODE = "in-process"
# Set for the bare server of --bare-uvloop.
BARE_LOOP_VARIABLE = "BENCH_BARE_LOOP"


def _serve_bare(port: int, canned_path: str) -> None:
    import asyncio
    import base64

    import grpc
    from flyteidl.admin import agent_pb2
    from flyteidl.service import agent_pb2_grpc

    with open(canned_path) as f:
        canned = {name: base64.b64decode(data) for name, data in json.load(f).items()}
    agents = agent_pb2.ListAgentsResponse.FromString(canned["list_agents"])
    created = agent_pb2.CreateTaskResponse.FromString(canned["create_task"])
    got = agent_pb2.GetTaskResponse.FromString(canned["get_task"])

    class Metadata(agent_pb2_grpc.AgentMetadataServiceServicer):  # type: ignore[misc]
        async def ListAgents(self, request: object, context: object) -> object:
            return agents

    class Tasks(agent_pb2_grpc.AsyncAgentServiceServicer):  # type: ignore[misc]
        async def CreateTask(self, request: object, context: object) -> object:
            return created

        async def GetTask(self, request: object, context: object) -> object:
            return got

    def unary(method: Any, request_class: Any, response_class: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            method,
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )

    async def main() -> None:
        server = grpc.aio.server()
        agent_pb2_grpc.add_AgentMetadataServiceServicer_to_server(Metadata(), server)
        agent_pb2_grpc.add_AsyncAgentServiceServicer_to_server(Tasks(), server)
        # Registered methods too (grpcio >= 1.63), as connector serve registers GetTask: the ceiling
        # must use every speed-up a Python grpc.aio server can have.
        tasks, metadata = Tasks(), Metadata()
        server.add_registered_method_handlers(
            "flyteidl.service.AsyncAgentService",
            {
                "CreateTask": unary(
                    tasks.CreateTask, agent_pb2.CreateTaskRequest, agent_pb2.CreateTaskResponse
                ),
                "GetTask": unary(tasks.GetTask, agent_pb2.GetTaskRequest, agent_pb2.GetTaskResponse),
            },
        )
        server.add_registered_method_handlers(
            "flyteidl.service.AgentMetadataService",
            {
                "ListAgents": unary(
                    metadata.ListAgents, agent_pb2.ListAgentsRequest, agent_pb2.ListAgentsResponse
                )
            },
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    if os.environ.get(BARE_LOOP_VARIABLE) == "uvloop":  # --bare-uvloop: on connector serve's loop
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


async def _bytecodes_per_pair(servicer: Any, requests: list[tuple[Any, Any]]) -> float:
    """Python bytecodes ``servicer`` executes per CreateTask+GetTask pair (all it calls), a pair a request."""
    executed = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal executed
        frame.f_trace_opcodes = True
        if event == "opcode":
            executed += 1
        return trace

    sys.settrace(trace)
    try:
        for request, context in requests:
            created = await servicer.CreateTask(request, context)
            await servicer.GetTask(get_request(created.resource_meta), context)
    finally:
        sys.settrace(None)
    return executed / len(requests)


def _measure_in_process(rounds: int, pairs: int, profile: bool = False) -> None:
    """Print, as JSON, the CPU seconds per pair of the service's handlers and of the bare ones, per round.

    With ``profile``, then one more loop of the service's handlers under cProfile, its figures on stderr.
    """
    import asyncio
    import time

    import grpc
    from flyteidl.admin import agent_pb2

    from connector.server import ConnectorService, ServiceOptions
    from connector.server._metrics import ServiceMetrics
    from connector.server._servicers import AsyncAgentServicer

    class Context:
        """What the handlers ask of grpc's servicer context: the deadline propeller sets, abort."""

        def time_remaining(self) -> float:
            return 30.0

        async def abort(self, code: grpc.StatusCode, details: str) -> None:
            raise RuntimeError(f"{code.name}: {details}")

    class Bare:
        """The bare server's servicer: the canned answers, whatever was asked."""

        def __init__(self, created: Any, got: Any) -> None:
            self.created, self.got = created, got

        async def CreateTask(self, request: Any, context: Any) -> Any:
            return self.created

        async def GetTask(self, request: Any, context: Any) -> Any:
            return self.got

    creates = [create_request(x).SerializeToString() for x in range(100)]
    parse_create = agent_pb2.CreateTaskRequest.FromString
    parse_get = agent_pb2.GetTaskRequest.FromString
    context = Context()

    async def loop(servicer: Any, count: int) -> float:
        began = time.process_time()
        for i in range(count):
            created = await servicer.CreateTask(parse_create(creates[i % 100]), context)
            created.SerializeToString()
            got = await servicer.GetTask(
                parse_get(get_request(created.resource_meta).SerializeToString()), context
            )
            got.SerializeToString()
        return (time.process_time() - began) / count

    async def main() -> dict[str, Any]:
        # As `connector serve` runs by default: the installed connectors, metrics on.
        service = ConnectorService(options=ServiceOptions(port=0))
        service.operations.metrics = ServiceMetrics(service.registry, error_codes=service.metrics_error_codes)
        ours = AsyncAgentServicer(service.operations, service.v1)
        created = await ours.CreateTask(parse_create(creates[7]), context)
        got = await ours.GetTask(get_request(created.resource_meta), context)
        if got.resource.outputs.literals["o"].scalar.primitive.integer != 7:
            raise RuntimeError(f"unexpected GetTask answer in process: {got}")
        bare = Bare(created, got)
        for servicer in (ours, bare):
            await loop(servicer, 300)  # warm: first-use paths, caches
        figures: dict[str, Any] = {"ours": [], "bare": []}
        for _ in range(rounds):
            figures["ours"].append(await loop(ours, pairs))
            figures["bare"].append(await loop(bare, pairs))
        requests = [(parse_create(creates[i % 100]), context) for i in range(20)]
        figures["bytecodes"] = {
            "ours": await _bytecodes_per_pair(ours, requests),
            "bare": await _bytecodes_per_pair(bare, requests),
        }
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            await loop(ours, pairs)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr).strip_dirs()
            print(f"cProfile of {pairs} pairs through the handlers (its overhead included):", file=sys.stderr)
            stats.sort_stats("cumulative").print_stats(35)
            stats.sort_stats("tottime").print_stats(20)
        return figures

    print(json.dumps(asyncio.run(main())))


if __name__ == "__main__" and sys.argv[1:2] == [BARE_MODE]:
    _serve_bare(int(sys.argv[2]), sys.argv[3])
    sys.exit(0)

# -- the benchmark proper ----------------------------------------------------------------------------

import base64  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
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
    table,
)

from tests.support.wheels import build_wheel  # noqa: E402

TASK_TYPE = "benchnoop"
LOGS = WORK / "service-logs"

# The no-op connector, as a plugin author would publish it: async hooks, no external system.
NOOP_MODULE = '''\
"""A connector that does nothing, for the service benchmark: create and get answer at once."""

from __future__ import annotations

import dataclasses

from connector import AsyncConnector, Phase, Resource, ResourceMeta


@dataclasses.dataclass
class NoopJob(ResourceMeta):
    """The job id, echoed back by get."""

    job_id: str


class NoopConnector(AsyncConnector):
    """Creates nothing; every job has already succeeded with output ``o`` = its input ``x``."""

    name = "No-op connector"
    task_type_name = "benchnoop"
    metadata_type = NoopJob

    async def create(self, task_template, inputs):
        return NoopJob(job_id=f"job-{inputs.get('x', 0)}")

    async def get(self, resource_meta):
        return Resource(phase=Phase.SUCCEEDED, outputs={"o": int(resource_meta.job_id[4:])})

    async def delete(self, resource_meta):
        return None
'''

# The same connector for flytekit (`pyflyte serve connector --modules`), registered at import.
FLYTEKIT_MODULE = '''\
"""flytekit's version of the benchmark's no-op connector."""

from dataclasses import dataclass

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import (
    AsyncConnectorBase,
    ConnectorRegistry,
    Resource,
    ResourceMeta,
)


@dataclass
class NoopJob(ResourceMeta):
    job_id: str


class NoopConnector(AsyncConnectorBase):
    name = "No-op connector"

    def __init__(self):
        super().__init__(task_type_name="benchnoop", metadata_type=NoopJob)

    async def create(self, task_template, inputs=None, **kwargs):
        x = inputs.literals["x"].scalar.primitive.integer if inputs else 0
        return NoopJob(job_id=f"job-{x}")

    async def get(self, resource_meta, **kwargs):
        return Resource(phase=TaskExecution.SUCCEEDED, outputs={"o": int(resource_meta.job_id[4:])})

    async def delete(self, resource_meta, **kwargs):
        return None


ConnectorRegistry.register(NoopConnector())
'''

# pyflyte binds [::] and its metrics 0.0.0.0; this launcher keeps both on 127.0.0.1 and changes
# nothing else, then runs `pyflyte serve connector` itself.
FLYTEKIT_LAUNCHER = """\
import sys
import grpc.aio._server as aio_server
import prometheus_client

_add_port = aio_server.Server.add_insecure_port
aio_server.Server.add_insecure_port = lambda self, address: _add_port(
    self, address.replace("[::]", "127.0.0.1")
)
_start_http = prometheus_client.start_http_server
prometheus_client.start_http_server = lambda port, addr="127.0.0.1", **kw: _start_http(port, addr, **kw)

from flytekit.clis.sdk_in_container.pyflyte import main

sys.argv = ["pyflyte", "serve", "connector", *sys.argv[1:]]
main()
"""


# The same connector for Flyte 2 (``flyte.connectors``), registered at import (``modules=[...]``).
FLYTE2_MODULE = '''\
"""Flyte 2's version of the benchmark's no-op connector."""

from dataclasses import dataclass

from flyte.connectors import AsyncConnector, ConnectorRegistry, Resource, ResourceMeta
from flyteidl2.core.execution_pb2 import TaskExecution


@dataclass
class NoopJob(ResourceMeta):
    job_id: str


class NoopConnector(AsyncConnector):
    name = "No-op connector"
    task_type_name = "benchnoop"
    metadata_type = NoopJob

    async def create(self, task_template, output_prefix=None, inputs=None, **kwargs):
        return NoopJob(job_id=f"job-{(inputs or {}).get('x', 0)}")

    async def get(self, resource_meta, **kwargs):
        return Resource(phase=TaskExecution.SUCCEEDED, outputs={"o": int(resource_meta.job_id[4:])})

    async def delete(self, resource_meta, **kwargs):
        return None


ConnectorRegistry.register(NoopConnector())
'''

# Flyte 2 has a connector service in Python but no command that serves it: this launcher calls
# ConnectorService.run as such a command would (10 workers, pyflyte's default), on 127.0.0.1 instead
# of [::] and its metrics on 127.0.0.1 instead of 0.0.0.0.
FLYTE2_LAUNCHER = """\
import sys
import grpc.aio._server as aio_server
import prometheus_client

_add_port = aio_server.Server.add_insecure_port
aio_server.Server.add_insecure_port = lambda self, address: _add_port(
    self, address.replace("[::]", "127.0.0.1")
)
_start_http = prometheus_client.start_http_server
prometheus_client.start_http_server = lambda port, addr="127.0.0.1", **kw: _start_http(port, addr, **kw)

from flyte.connectors import ConnectorService

port, prometheus_port, *modules = sys.argv[1:]
ConnectorService.run(
    port=int(port), prometheus_port=int(prometheus_port), worker=10, timeout=None, modules=modules
)
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, timeout: float = 120.0) -> None:
    """Wait until the process ``pid`` uses no CPU of its own: ``connector serve`` imports the
    connectors it was not asked for yet in the background, which would be measured with the pairs."""
    give_up = time.monotonic() + timeout
    used = cpu_seconds(pid)
    while time.monotonic() < give_up:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        if now - used < 0.02:
            return
        used = now
    raise RuntimeError(f"the server (pid {pid}) kept using CPU for {timeout:.0f} s without calls")


def rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Target:
    """A server under test: how to start it on a port, in which environment."""

    name: str
    command: Callable[[int], list[str]]
    env: dict[str, str]
    cwd: Path = ROOT
    #: "v1" (flyteidl: ListAgents, AsyncAgentService) or "v2" (flyteidl2 only: ListConnectors, ...).
    protocol: str = "v1"


@dataclass
class Running:
    """A started server process and its address."""

    target: Target
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    listed: Any = None  # its first successful ListAgentsResponse

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited in 30 s (only this process, by its id)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(target: Target, logs: Path = LOGS) -> tuple[Running, float]:
    """Start ``target``; return it and the seconds from process start to its first ListAgents answer.

    ListConnectors (flyteidl2) for a target whose protocol is "v2". Its output goes to a file in ``logs``.
    """
    import grpc
    from flyteidl.admin import agent_pb2
    from flyteidl.service import agent_pb2_grpc

    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = logs / f"{target.name.replace(' ', '-')}.log"
    with open(log_path, "wb") as log_file:
        began = time.perf_counter()
        process = subprocess.Popen(
            target.command(port), env=target.env, cwd=target.cwd, stdout=log_file, stderr=subprocess.STDOUT
        )
    running = Running(target, process, port, log_path)
    deadline = began + 120
    # Poll the port (cheap) until it accepts, then ask ListAgents on a fresh channel.
    while True:
        if process.poll() is not None or time.perf_counter() > deadline:
            running.stop()
            raise RuntimeError(
                f"{target.name} did not start; see {log_path}:\n{log_path.read_text()[-2000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
        except OSError:
            time.sleep(0.002)
            continue
        with grpc.insecure_channel(running.address) as channel:
            try:
                if target.protocol == "v2":
                    from flyteidl2.connector import connector_pb2, service_pb2_grpc

                    v2 = service_pb2_grpc.ConnectorMetadataServiceStub(channel)
                    running.listed = v2.ListConnectors(connector_pb2.ListConnectorsRequest(), timeout=5)
                else:
                    stub = agent_pb2_grpc.AgentMetadataServiceStub(channel)
                    running.listed = stub.ListAgents(agent_pb2.ListAgentsRequest(), timeout=5)
            except grpc.RpcError:
                time.sleep(0.002)
                continue
        return running, time.perf_counter() - began


# -- requests -----------------------------------------------------------------------------------------


def create_request(x: int) -> Any:
    """A flyteidl v1 CreateTaskRequest for the no-op task, with a typed interface and one input."""
    from flyteidl.admin import agent_pb2
    from flyteidl.core import identifier_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2

    integer = types_pb2.LiteralType(simple=types_pb2.INTEGER)
    template = tasks_pb2.TaskTemplate(
        id=identifier_pb2.Identifier(
            resource_type=identifier_pb2.TASK, project="bench", domain="development", name="noop", version="1"
        ),
        type=TASK_TYPE,
        metadata=tasks_pb2.TaskMetadata(
            runtime=tasks_pb2.RuntimeMetadata(type=tasks_pb2.RuntimeMetadata.FLYTE_SDK)
        ),
        interface=interface_pb2.TypedInterface(
            inputs=interface_pb2.VariableMap(variables={"x": interface_pb2.Variable(type=integer)}),
            outputs=interface_pb2.VariableMap(variables={"o": interface_pb2.Variable(type=integer)}),
        ),
    )
    template.custom.update({"note": "no-op"})
    inputs = literals_pb2.LiteralMap(
        literals={
            "x": literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=x)))
        }
    )
    metadata = agent_pb2.TaskExecutionMetadata(namespace="bench", k8s_service_account="default")
    return agent_pb2.CreateTaskRequest(
        inputs=inputs, template=template, output_prefix="s3://bench/out", task_execution_metadata=metadata
    )


def get_request(resource_meta: bytes) -> Any:
    """The GetTaskRequest that follows a CreateTask of the no-op task."""
    from flyteidl.admin import agent_pb2

    return agent_pb2.GetTaskRequest(
        task_type=TASK_TYPE,
        task_category=agent_pb2.TaskCategory(name=TASK_TYPE, version=0),
        resource_meta=resource_meta,
        output_prefix="s3://bench/out",
    )


def create_request_v2(x: int) -> Any:
    """The flyteidl2 CreateTaskRequest of the no-op task: the same template, interface and input."""
    from flyteidl2.connector import connector_pb2
    from flyteidl2.core import identifier_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
    from flyteidl2.task import common_pb2

    integer = types_pb2.LiteralType(simple=types_pb2.INTEGER)

    def entry(name: str) -> Any:
        return interface_pb2.VariableEntry(key=name, value=interface_pb2.Variable(type=integer))

    template = tasks_pb2.TaskTemplate(
        id=identifier_pb2.Identifier(
            resource_type=identifier_pb2.TASK, project="bench", domain="development", name="noop", version="1"
        ),
        type=TASK_TYPE,
        metadata=tasks_pb2.TaskMetadata(
            runtime=tasks_pb2.RuntimeMetadata(type=tasks_pb2.RuntimeMetadata.FLYTE_SDK)
        ),
        interface=interface_pb2.TypedInterface(
            # flyteidl2 keeps the declaration order: a list of entries, not a map.
            inputs=interface_pb2.VariableMap(variables=[entry("x")]),
            outputs=interface_pb2.VariableMap(variables=[entry("o")]),
        ),
    )
    template.custom.update({"note": "no-op"})
    value = literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=x)))
    inputs = common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name="x", value=value)])
    metadata = connector_pb2.TaskExecutionMetadata(namespace="bench", k8s_service_account="default")
    return connector_pb2.CreateTaskRequest(
        inputs=inputs, template=template, output_prefix="s3://bench/out", task_execution_metadata=metadata
    )


def get_request_v2(resource_meta: bytes) -> Any:
    """The flyteidl2 GetTaskRequest that follows a CreateTask of the no-op task."""
    from flyteidl2.connector import connector_pb2

    return connector_pb2.GetTaskRequest(
        task_category=connector_pb2.TaskCategory(name=TASK_TYPE, version=0),
        resource_meta=resource_meta,
        output_prefix="s3://bench/out",
    )


def capture_canned(address: str, path: Path) -> None:
    """Record the ListAgents, CreateTask and GetTask answers of ``connector serve`` for the bare server."""
    import grpc
    from flyteidl.admin import agent_pb2
    from flyteidl.service import agent_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        # ListAgents answers before every import ends (issue 10): wait until the benchmark's is listed.
        metadata = agent_pb2_grpc.AgentMetadataServiceStub(channel)
        give_up = time.monotonic() + 60
        while True:
            agents = metadata.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10)
            listed = any(c.name == TASK_TYPE for a in agents.agents for c in a.supported_task_categories)
            if listed or time.monotonic() > give_up:
                break
            time.sleep(0.05)
        tasks = agent_pb2_grpc.AsyncAgentServiceStub(channel)
        created = tasks.CreateTask(create_request(7), timeout=10)
        got = tasks.GetTask(get_request(created.resource_meta), timeout=10)
    if not listed:
        raise RuntimeError(f"connector serve does not list {TASK_TYPE!r}: {agents}")
    if got.resource.outputs.literals["o"].scalar.primitive.integer != 7:
        raise RuntimeError(f"unexpected GetTask answer from connector serve: {got}")
    messages = {"list_agents": agents, "create_task": created, "get_task": got}
    path.write_text(
        json.dumps({k: base64.b64encode(m.SerializeToString()).decode() for k, m in messages.items()})
    )


# -- throughput --------------------------------------------------------------------------------------


@dataclass
class Throughput:
    """One measurement: pairs per second, the pair latencies in seconds, server CPU seconds per pair."""

    pairs_per_second: float
    latencies: list[float] = field(default_factory=list)
    server_cpu_per_pair: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_pairs(
    address: str,
    threads: int,
    pairs: int,
    pid: int,
    create: Callable[[int], Any] = create_request,
    get: Callable[[bytes], Any] = get_request,
    protocol: str = "v1",
) -> Throughput:
    """``pairs`` CreateTask+GetTask pairs over ``threads`` client threads (one channel each).

    ``pid`` is the server's process: the CPU time it spends per pair is less sensitive to other load
    on a shared machine than the rate is. ``create(i)`` makes the i-th CreateTaskRequest and
    ``get(resource_meta)`` the GetTaskRequest after it (the no-op task's by default); every
    GetTask must answer SUCCEEDED. ``protocol`` "v2" calls flyteidl2's AsyncConnectorService
    (``create`` and ``get`` must then make flyteidl2 requests).
    """
    import grpc
    from flyteidl.core import execution_pb2
    from flyteidl.service import agent_pb2_grpc

    if protocol == "v2":
        from flyteidl2.connector import service_pb2_grpc

        stub_class: Any = service_pb2_grpc.AsyncConnectorServiceStub
    else:
        stub_class = agent_pb2_grpc.AsyncAgentServiceStub

    per_thread = max(1, pairs // threads)
    ready = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    finished: list[float] = [0.0] * threads
    errors: list[BaseException] = []
    requests = [create(i) for i in range(per_thread)]

    def client(index: int) -> None:
        try:
            with grpc.insecure_channel(address) as channel:
                stub = stub_class(channel)

                def pair(request: Any) -> None:
                    created = stub.CreateTask(request, timeout=30)
                    got = stub.GetTask(get(created.resource_meta), timeout=30)
                    if got.resource.phase != execution_pb2.TaskExecution.SUCCEEDED:
                        raise RuntimeError(f"GetTask answered {got}")

                for request in requests[:20]:
                    pair(request)  # warm the channel and the server's first-use paths
                ready.wait()
                record = latencies[index]
                for request in requests:
                    began = time.perf_counter()
                    pair(request)
                    record.append(time.perf_counter() - began)
                finished[index] = time.perf_counter()
        except BaseException as exc:
            errors.append(exc)
            ready.abort()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    began = time.perf_counter()
    cpu_before = cpu_seconds(pid)
    for worker in workers:
        worker.join()
    cpu_used = cpu_seconds(pid) - cpu_before
    if errors:
        raise RuntimeError(f"client failed against {address}: {errors[0]!r}") from errors[0]
    elapsed = max(finished) - began
    samples = [value for record in latencies for value in record]
    return Throughput(len(samples) / elapsed, samples, cpu_used / len(samples))


# -- environments ------------------------------------------------------------------------------------


def service_venv(rebuild: bool) -> BenchVenv:
    """bench/.work/service-pyX.Y: connector-core[server] from this checkout and the no-op connector."""
    venv = BenchVenv("service")
    stamp = hashlib.sha256(NOOP_MODULE.encode()).hexdigest()[:16]
    if rebuild and venv.path.exists():
        (venv.path / "bench-stamp").unlink(missing_ok=True)

    def populate(v: BenchVenv) -> None:
        v.pip("install", f"{CORE}[server]")
        with tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(
                Path(tmp),
                "connector-benchnoop",
                "1.0",
                {"connector_benchnoop/__init__.py": NOOP_MODULE},
                entry_points={"connector": {TASK_TYPE: "connector_benchnoop:NoopConnector"}},
            )
            v.pip("install", "--no-deps", str(wheel))

    venv.ensure(stamp, populate)
    return venv


def flytekit_target(python: str) -> Target:
    """flytekit's `pyflyte serve connector` from ``python``'s environment, with the no-op connector."""
    work = WORK / "flytekit-noop"
    work.mkdir(parents=True, exist_ok=True)
    (work / "bench_noop_flytekit.py").write_text(FLYTEKIT_MODULE)
    (work / "launch_pyflyte.py").write_text(FLYTEKIT_LAUNCHER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "PYTHON"))}
    env["PYTHONPATH"] = str(work)

    def command(port: int) -> list[str]:
        return [
            python,
            str(work / "launch_pyflyte.py"),
            "--port",
            str(port),
            "--prometheus_port",
            str(free_port()),
            "--modules",
            "bench_noop_flytekit",
        ]

    return Target("pyflyte serve connector", command, env, cwd=work)


def flyte2_target(python: str) -> Target:
    """Flyte 2's ``ConnectorService.run`` from ``python``'s environment, with the no-op connector."""
    work = WORK / "flyte2-noop"
    work.mkdir(parents=True, exist_ok=True)
    (work / "bench_noop_flyte2.py").write_text(FLYTE2_MODULE)
    (work / "launch_flyte2.py").write_text(FLYTE2_LAUNCHER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "PYTHON"))}
    env["PYTHONPATH"] = str(work)

    def command(port: int) -> list[str]:
        return [python, str(work / "launch_flyte2.py"), str(port), str(free_port()), "bench_noop_flyte2"]

    return Target("Flyte 2 ConnectorService", command, env, cwd=work, protocol="v2")


def peer_pythons() -> tuple[str, str]:
    """The interpreters of flytekit's and flyte's virtualenvs under bench/.work, built when missing."""
    from tests.compat.venvs import FLYTE, FLYTEKIT, cached_venv

    log("flytekit and flyte virtualenvs under bench/.work (built once, then reused)")
    flytekit = cached_venv("flytekit", FLYTEKIT, root=WORK)
    flyte = cached_venv("flyte", FLYTE, root=WORK)
    return str(flytekit.python), str(flyte.python)


# -- report -------------------------------------------------------------------------------------------


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "n/a"


#: Issue 13's targets for connector serve against the bare server: pairs/s at these thread counts, CPU.
RATE_TARGETS = {1: 0.85, 8: 0.95}
CPU_TARGET = 1.2
IN_PROCESS_TARGET = 50e-6


@dataclass
class InProcess:
    """CPU seconds per CreateTask+GetTask pair through the handlers, no gRPC: each round's figure."""

    ours: list[float]
    bare: list[float]
    #: Python bytecodes per pair of each loop (``{"ours": ..., "bare": ...}``).
    bytecodes: dict[str, float]

    @property
    def own(self) -> float:
        """The project's own Python per pair: the median of ours minus the median of the bare loop."""
        return statistics.median(self.ours) - statistics.median(self.bare)


def measure_in_process(venv: BenchVenv, rounds: int, pairs: int, profile: bool = False) -> InProcess:
    """Run this file's in-process mode in the service's virtualenv (the installed no-op connector).

    With ``profile``, the profile of one more loop is printed (on stdout, after the progress lines).
    """
    args = [str(venv.python), str(Path(__file__).resolve()), IN_PROCESS_MODE, str(rounds), str(pairs)]
    done = subprocess.run(
        [*args, *(["profile"] if profile else [])],
        env=venv.environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the in-process measurement failed:\n{done.stderr[-3000:]}")
    if profile:
        print(done.stderr)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return InProcess(figures["ours"], figures["bare"], figures["bytecodes"])


def report_in_process(measured: InProcess, rounds: int, pairs: int) -> None:
    """The small in-process table and its verdict."""
    med = statistics.median
    print(
        f"In process, no gRPC ({machine_notes()}; CPU time, median of {rounds} x {pairs} pairs, "
        "the loops interleaved):"
    )
    print()
    codes = measured.bytecodes
    rows = [
        [
            "connector serve's handlers (AsyncAgentServicer)",
            f"{med(measured.ours) * 1e6:.1f} us",
            f"{codes['ours']:.0f}",
        ],
        ["bare canned servicer, same loop", f"{med(measured.bare) * 1e6:.1f} us", f"{codes['bare']:.0f}"],
        [
            "the project's own Python per pair (difference)",
            f"{measured.own * 1e6:.1f} us",
            f"{codes['ours'] - codes['bare']:.0f}",
        ],
    ]
    headers = ["CreateTask+GetTask pair, parse and serialize included", "CPU per pair", "bytecodes per pair"]
    print(table(headers, rows))
    print()
    ok = measured.own <= IN_PROCESS_TARGET
    print(
        f"{'met   ' if ok else 'MISSED'} project CPU per pair in process <= 50 us: "
        f"{measured.own * 1e6:.1f} us"
    )


def report(
    args: argparse.Namespace,
    targets: list[Target],
    cold: dict[str, list[float]],
    idle: dict[str, list[float]],
    results: dict[tuple[str, int], list[Throughput]],
    loaded: dict[str, float],
    loads: tuple[str, str],
) -> None:
    """Print the side-by-side table (medians, ratios to the bare server, targets) and the verdicts."""
    thread_counts = sorted({threads for _, threads in results})
    bare, ours = targets[0].name, targets[1].name
    names = [t.name for t in targets]
    med = statistics.median

    def figure(name: str, threads: int, kind: str) -> float:
        runs = results[(name, threads)]
        if kind == "rate":
            return med(r.pairs_per_second for r in runs)
        if kind == "cpu":
            return med(r.server_cpu_per_pair for r in runs)
        return med(r.percentile(0.5 if kind == "p50" else 0.99) for r in runs)

    def versus_bare(value: Callable[[str], float]) -> list[str]:
        return ["" if n == bare else f"{ratio(value(n), value(bare))} bare" for n in names]

    rows = [["cold start to first ListAgents", *(f"{med(cold[n]) * 1000:.0f} ms" for n in names), ""]]
    rows.append(["", *versus_bare(lambda n: med(cold[n])), "<= 1.3x bare"])
    for threads in thread_counts:
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        rows.append([f"pairs/s, {label}", *(f"{figure(n, threads, 'rate'):.0f}" for n in names), ""])
        target = f">= {RATE_TARGETS[threads]:.2f}x bare" if threads in RATE_TARGETS else ""
        rows.append(["", *versus_bare(lambda n, t=threads: figure(n, t, "rate")), target])
        for kind in ("p50", "p99"):
            latency = [f"{figure(n, threads, kind) * 1000:.2f} ms" for n in names]
            rows.append([f"pair latency {kind}, {label}", *latency, ""])
        cpu = [f"{figure(n, threads, 'cpu') * 1e6:.0f} us" for n in names]
        rows.append([f"server CPU per pair, {label}", *cpu, ""])
        rows.append(
            ["", *versus_bare(lambda n, t=threads: figure(n, t, "cpu")), f"<= {CPU_TARGET:.1f}x bare"]
        )
    rows.append(["idle RSS", *(f"{med(idle[n]):.1f} MiB" for n in names), "<= 60 MiB"])
    rows.append(["RSS after the pair runs", *(f"{loaded[n]:.1f} MiB" for n in names), ""])

    print(f"Service benchmark ({machine_notes()}; {args.runs} rounds, {args.pairs} pairs per measurement)")
    print(f"Load average at the start {loads[0]}, at the end {loads[1]}; {source_note()}.")
    v2 = [t.name for t in targets if t.protocol == "v2"]
    if v2:
        print(f"{', '.join(v2)}: flyteidl2 (ListConnectors, AsyncConnectorService); the others flyteidl v1.")
    print()
    print(table(["figure", *names, f"target ({ours})"], rows))
    print()
    cold_ratio = med(cold[ours]) / med(cold[bare])
    checks = [("cold start <= 1.3x bare", cold_ratio <= 1.3, f"{cold_ratio:.3f}x")]
    for threads in thread_counts:
        rate = figure(ours, threads, "rate") / figure(bare, threads, "rate")
        if threads in RATE_TARGETS:
            wanted = RATE_TARGETS[threads]
            checks.append(
                (f"pairs/s >= {wanted:.2f}x bare, {threads} thread(s)", rate >= wanted, f"{rate:.3f}x")
            )
        cpu = figure(ours, threads, "cpu") / figure(bare, threads, "cpu")
        checks.append(
            (
                f"server CPU per pair <= {CPU_TARGET:.1f}x bare, {threads} thread(s)",
                cpu <= CPU_TARGET,
                f"{cpu:.3f}x",
            )
        )
    checks.append(("idle RSS <= 60 MiB", med(idle[ours]) <= 60, f"{med(idle[ours]):.1f} MiB"))
    for label, ok, value in checks:
        print(f"{'met   ' if ok else 'MISSED'} {label}: {value}")


def service_targets(venv: BenchVenv) -> tuple[Target, Target]:
    """``connector serve`` (metrics on, as by default) and the bare server, which answers with the
    canned answers captured from it here first."""
    canned = WORK / "service-canned.json"
    connector_target = Target(
        "connector serve",
        lambda port: [str(venv.bin / "connector"), "serve", "--port", str(port), "--prometheus-port", "0"],
        venv.environ(),
    )
    bare_target = Target(
        "bare grpc.aio",
        lambda port: [str(venv.python), str(Path(__file__).resolve()), BARE_MODE, str(port), str(canned)],
        venv.environ(),
    )
    log("capturing connector serve's answers for the bare server")
    running, _ = start(connector_target)
    try:
        capture_canned(running.address, canned)
    finally:
        running.stop()
    return connector_target, bare_target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds per figure; medians are printed")
    parser.add_argument("--pairs", type=int, default=960, help="CreateTask+GetTask pairs per measurement")
    parser.add_argument("--threads", default="1,8,32", help="client thread counts, comma-separated")
    parser.add_argument(
        "--flytekit", metavar="PYTHON", help="also measure pyflyte serve connector from PYTHON"
    )
    parser.add_argument(
        "--flyte", metavar="PYTHON", help="also measure Flyte 2's ConnectorService from PYTHON"
    )
    parser.add_argument(
        "--bare-uvloop",
        action="store_true",
        help="also measure the bare server on uvloop, the event loop connector serve runs on",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="build (once) flytekit's and flyte's virtualenvs under bench/.work and measure both",
    )
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the in-process CPU per pair (a quick loop)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the in-process loop (where it goes)"
    )
    parser.add_argument("--in-process-rounds", type=int, default=5, help="in-process rounds (median)")
    parser.add_argument("--in-process-pairs", type=int, default=3000, help="pairs per in-process round")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the virtualenv under bench/.work")
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",")]
    loads_start = load_average()

    venv = service_venv(args.rebuild)
    log("in process: the handlers' CPU per pair, no gRPC")
    in_process = measure_in_process(venv, args.in_process_rounds, args.in_process_pairs, args.profile)
    if args.in_process_only:
        report_in_process(in_process, args.in_process_rounds, args.in_process_pairs)
        return 0
    if args.peers:
        args.flytekit, args.flyte = peer_pythons()

    connector_target, bare_target = service_targets(venv)
    targets = [bare_target, connector_target]
    if args.bare_uvloop:
        env = {**bare_target.env, BARE_LOOP_VARIABLE: "uvloop"}
        targets.append(Target("bare grpc.aio on uvloop", bare_target.command, env))
    if args.flytekit:
        targets.append(flytekit_target(args.flytekit))
    if args.flyte:
        targets.append(flyte2_target(args.flyte))

    # Cold start and idle RSS: fresh processes, rounds interleaved in a rotating order.
    cold: dict[str, list[float]] = {t.name: [] for t in targets}
    idle: dict[str, list[float]] = {t.name: [] for t in targets}
    for round_number in range(args.runs):
        shift = round_number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            running, seconds = start(target)
            try:
                time.sleep(1.0)  # idle: started, answered ListAgents, nothing else
                idle[target.name].append(rss_mib(running.process.pid))
            finally:
                running.stop()
            cold[target.name].append(seconds)
        log(f"cold start round {round_number + 1}/{args.runs} done")

    # Throughput: one long-lived process per target, rounds interleaved.
    servers = {}
    try:
        for target in targets:
            servers[target.name] = start(target)[0]
        results: dict[tuple[str, int], list[Throughput]] = {}
        for round_number in range(args.runs):
            shift = round_number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                for threads in thread_counts:
                    server = servers[target.name]
                    if target.protocol == "v2":
                        requests: dict[str, Any] = {"create": create_request_v2, "get": get_request_v2}
                    else:
                        requests = {}
                    measured = measure_pairs(
                        server.address,
                        threads,
                        args.pairs,
                        server.process.pid,
                        protocol=target.protocol,
                        **requests,
                    )
                    results.setdefault((target.name, threads), []).append(measured)
            log(f"throughput round {round_number + 1}/{args.runs} done")
        loaded = {name: rss_mib(server.process.pid) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()

    report(args, targets, cold, idle, results, loaded, (loads_start, load_average()))
    print()
    report_in_process(in_process, args.in_process_rounds, args.in_process_pairs)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == [IN_PROCESS_MODE]:
        _measure_in_process(int(sys.argv[2]), int(sys.argv[3]), profile=sys.argv[4:5] == ["profile"])
        sys.exit(0)
    sys.exit(main())
