"""What a hook raises never stops the process: real plugin wheels, a real ``connector serve`` and ``run``.

Each kind of exception a hook must not raise (``KeyboardInterrupt``, ``SystemExit``,
``StopIteration`` from a plain ``def``, ``GeneratorExit``, its own ``CancelledError``, a custom
``BaseException``), from a plain ``def`` and an ``async def`` hook, from ``do`` and from ``create``:
the service answers INTERNAL with the call layer's message, stays SERVING with nothing left in
flight, then drains and exits 0 on SIGTERM; ``connector run`` exits 1 with the same message.
"""

from __future__ import annotations

import re
import signal
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from flyteidl.admin import agent_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.server.conftest import v1_category, v1_template
from tests.server.served import Served, environ_for
from tests.support.venvs import Venv
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.e2e

PLUGIN = textwrap.dedent(
    '''
    """Connectors whose hooks raise what a hook must not raise, as the template's ``how`` says."""

    import asyncio
    import dataclasses

    import connector


    class Custom(BaseException):
        """A BaseException of the plugin's own."""


    def fail(how):
        if how == "keyboard-interrupt":
            raise KeyboardInterrupt("stop everything")
        if how == "system-exit":
            raise SystemExit(3)
        if how == "stop-iteration":
            return next(iter(()))
        if how == "generator-exit":
            raise GeneratorExit("closing")
        if how == "cancelled":
            raise asyncio.CancelledError("not the caller's")
        if how == "custom":
            raise Custom("my own")
        return connector.Resource(connector.Phase.SUCCEEDED, outputs={"how": how})


    @dataclasses.dataclass
    class CrashMeta(connector.ResourceMeta):
        how: str


    class CrashDo(connector.SyncConnector):
        task_type_name = "crashdo"

        def do(self, task_template):
            return fail(task_template.custom["how"])


    class AsyncCrashDo(connector.SyncConnector):
        task_type_name = "crashdo"
        task_type_version = 1

        async def do(self, task_template):
            await asyncio.sleep(0)
            return fail(task_template.custom["how"])


    class CrashJob(connector.AsyncConnector):
        task_type_name = "crashjob"
        metadata_type = CrashMeta

        def create(self, task_template):
            fail(task_template.custom["how"])
            return CrashMeta(task_template.custom["how"])

        def get(self, resource_meta):
            return connector.Resource(connector.Phase.SUCCEEDED)

        def delete(self, resource_meta):
            return None


    class AsyncCrashJob(CrashJob):
        task_type_version = 1

        async def create(self, task_template):
            await asyncio.sleep(0)
            fail(task_template.custom["how"])
            return CrashMeta(task_template.custom["how"])
    '''
)

ENTRY_POINTS = {
    "crashdo": "connector_crashy:CrashDo",
    "crashdo@1": "connector_crashy:AsyncCrashDo",
    "crashjob": "connector_crashy:CrashJob",
    "crashjob@1": "connector_crashy:AsyncCrashJob",
}

#: Each kind: the value of ``how`` and what the message says the hook raised.
KINDS = {
    "keyboard-interrupt": "KeyboardInterrupt: stop everything",
    "system-exit": "SystemExit: 3",
    "stop-iteration": "StopIteration",
    "generator-exit": "GeneratorExit: closing",
    "cancelled": "CancelledError: not the caller's",
    "custom": "Custom: my own",
}

#: (task type, version, hook, class) of each connector that raises them.
HOOKS = [
    ("crashdo", 0, "do", "CrashDo"),
    ("crashdo", 1, "do", "AsyncCrashDo"),
    ("crashjob", 0, "create", "CrashJob"),
    ("crashjob", 1, "create", "AsyncCrashJob"),
]


def expected_message(
    task_type: str, version: int, hook: str, cls: str, how: str, *, run: bool = False
) -> str:
    """The call layer's message for ``how`` raised by ``hook`` of that connector (``run``: as
    ``connector run`` words an ordinary exception, without the service's operation prefix)."""
    entry_point = task_type if version == 0 else f"{task_type}@{version}"
    if how == "stop-iteration" and cls.startswith("Async"):
        # In a coroutine Python itself turns StopIteration into a RuntimeError (PEP 479): an
        # ordinary exception of the hook, answered as any other.
        prefix = "" if run else f"{hook} for task type {task_type}@{version} failed: "
        return f"{prefix}RuntimeError: coroutine raised StopIteration"
    return (
        f"task type {task_type}@{version} from connector-crashy 1.0, entry point {entry_point!r} "
        f"(connector_crashy:{cls}): {hook} raised {KINDS[how]}, which a hook must not raise "
        "(raise an Exception to fail the call)"
    )


@pytest.fixture(scope="module")
def crashy_venv(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> Venv:
    """connector-core[server] and the crashing plugin, from real wheels."""
    wheels = tmp_path_factory.mktemp("crashy-wheels")
    plugin = build_wheel(
        wheels, "connector-crashy", "1.0", {"connector_crashy.py": PLUGIN}, {"connector": ENTRY_POINTS}
    )
    venv = Venv(tmp_path_factory.mktemp("crashy-venv") / "venv")
    venv.install(f"{core_wheel}[server]", plugin)
    return venv


@pytest.fixture
def served(crashy_venv: Venv) -> Iterator[Served]:
    command = [str(crashy_venv.bin / "connector"), "serve", "--port", "0", "--prometheus-port", "0"]
    running = Served([*command, "--drain-timeout", "5"], environ_for(crashy_venv))
    yield running
    if running.process.poll() is None:
        running.process.kill()
    running.close()


def _send(served: Served, task_type: str, version: int, hook: str, how: str) -> None:
    template = v1_template(task_type, version, custom={"how": how})
    if hook == "do":
        header = agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(template=template))
        list(served.v1_sync.ExecuteTaskSync(iter([header]), timeout=30))
    else:
        served.v1.CreateTask(agent_pb2.CreateTaskRequest(template=template), timeout=30)


def _call(served: Served, task_type: str, version: int, hook: str, how: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        _send(served, task_type, version, hook, how)
    return info.value  # type: ignore[return-value]


def _in_flight(served: Served) -> float:
    """The sum of ``connector_rpc_in_flight`` over every RPC."""
    with urllib.request.urlopen(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = re.findall(r"^connector_rpc_in_flight\{[^}]*\} (\S+)$", text, re.MULTILINE)
    return sum(float(v) for v in values)


def test_every_kind_from_def_and_async_def_is_internal_and_the_server_goes_on(served: Served) -> None:
    for task_type, version, hook, cls in HOOKS:
        for how in KINDS:
            error = _call(served, task_type, version, hook, how)
            assert (error.code(), error.details()) == (
                grpc.StatusCode.INTERNAL,
                expected_message(task_type, version, hook, cls, how),
            ), (task_type, version, how)
    # Still serving, nothing left in flight, and every connector still answers.
    health = health_pb2_grpc.HealthStub(served.channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    assert _in_flight(served) == 0
    created = served.v1.CreateTask(
        agent_pb2.CreateTaskRequest(template=v1_template("crashjob", 1, custom={"how": "fine"})), timeout=30
    )
    got = served.v1.GetTask(
        agent_pb2.GetTaskRequest(
            task_category=v1_category("crashjob", 1), resource_meta=created.resource_meta
        ),
        timeout=30,
    )
    assert got.resource.phase == 3  # SUCCEEDED
    # SIGTERM drains and exits 0, well within the drain timeout.
    start = time.monotonic()
    assert served.stop(signal.SIGTERM) == 0
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(("task_type", "version", "hook", "cls"), HOOKS)
def test_connector_run_exits_1_with_the_message(
    crashy_venv: Venv, task_type: str, version: int, hook: str, cls: str
) -> None:
    for how in KINDS:
        category = f"{task_type}@{version}"
        result = crashy_venv.run(["connector", "run", category, "--custom", f"how={how}", "--no-journal"])
        message = expected_message(task_type, version, hook, cls, how, run=True)
        assert result.returncode == 1, result.stderr
        assert result.stderr.splitlines()[-1] == f"Error: task {category} error: {message}", result.stderr
