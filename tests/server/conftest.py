"""In-process connector services on loopback ports, and their generated flyteidl/flyteidl2 client stubs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import literals_pb2, tasks_pb2
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import connector_pb2, service_pb2_grpc
from flyteidl2.core import literals_pb2 as literals2_pb2
from flyteidl2.core import tasks_pb2 as tasks2_pb2
from flyteidl2.task import common_pb2
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2_grpc

from connector import ConnectorRegistry
from connector.registry._signing import MetaSigner
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of
from tests.server import sample_plugin
from tests.server.served import serve, serve_venv  # noqa: F401 - the e2e fixtures, shared


@dataclasses.dataclass
class Running:
    """A started service and stubs of every service it answers, on one channel."""

    service: ConnectorService
    channel: grpc.aio.Channel

    def __post_init__(self) -> None:
        self.v1 = agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        self.v1_sync = agent_pb2_grpc.SyncAgentServiceStub(self.channel)
        self.v1_meta = agent_pb2_grpc.AgentMetadataServiceStub(self.channel)
        self.v2 = service_pb2_grpc.AsyncConnectorServiceStub(self.channel)
        self.v2_meta = service_pb2_grpc.ConnectorMetadataServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.service.metrics_port}/metrics"


ALL_SAMPLES = (
    sample_plugin.FileJobConnector,
    sample_plugin.AsyncSleepConnector,
    sample_plugin.SyncEcho,
    sample_plugin.AsyncDo,
    sample_plugin.BlockingConnector,
    sample_plugin.FailingConnector,
)


@pytest.fixture
async def start_service() -> AsyncIterator[Callable[..., Any]]:
    """``await start_service(registry=None, **options)``: a started service (ready) and its stubs."""
    started: list[Running] = []

    async def start(
        registry: ConnectorRegistry | None = None,
        *,
        wait_ready: bool = True,
        signer: MetaSigner | None = None,
        **options: Any,
    ) -> Running:
        options.setdefault("port", 0)
        options.setdefault("prometheus_port", None)
        service = ConnectorService(
            registry or registry_of(*ALL_SAMPLES), ServiceOptions(**options), signer=signer
        )
        await service.start()
        if wait_ready:
            await service.ready.wait()
        running = Running(service, grpc.aio.insecure_channel(f"127.0.0.1:{service.port}"))
        started.append(running)
        return running

    yield start
    for running in started:
        await running.channel.close()
        await running.service.stop(0)


@contextlib.contextmanager
def serving_in_thread(registry: ConnectorRegistry, **options: Any) -> Iterator[str]:
    """A service on its own event loop in a thread, for synchronous stubs (hypothesis drives them).

    Yields its address; ``options`` are the ``ServiceOptions`` (port 0 unless given).
    """
    options.setdefault("port", 0)
    loop = asyncio.new_event_loop()
    service = ConnectorService(registry, ServiceOptions(**options))
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(service.start())
        loop.run_until_complete(service.ready.wait())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        yield f"127.0.0.1:{service.port}"
    finally:
        asyncio.run_coroutine_threadsafe(service.stop(0), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@pytest.fixture(autouse=True)
def _reset_samples() -> Iterable[None]:
    sample_plugin.STARTED.clear()
    sample_plugin.CANCELLED.clear()
    sample_plugin.RELEASE.clear()
    yield
    sample_plugin.RELEASE.set()  # never leave a worker thread blocked


# Request builders.


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def v1_template(task_type: str, version: int = 0, custom: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return tasks_pb2.TaskTemplate(
        type=task_type, task_type_version=version, custom=struct(custom or {}), **kwargs
    )


def v2_template(task_type: str, version: int = 0, custom: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return tasks2_pb2.TaskTemplate(
        type=task_type, task_type_version=version, custom=struct(custom or {}), **kwargs
    )


def v1_inputs(**values: Any) -> literals_pb2.LiteralMap:
    literal_map = literals_pb2.LiteralMap()
    for name, value in values.items():
        _primitive(literal_map.literals[name].scalar.primitive, value)
    return literal_map


def v2_inputs(**values: Any) -> common_pb2.Inputs:
    inputs = common_pb2.Inputs()
    for name, value in values.items():
        literal = literals2_pb2.Literal()
        _primitive(literal.scalar.primitive, value)
        inputs.literals.add(name=name, value=literal)
    return inputs


def _primitive(primitive: Any, value: Any) -> None:
    if isinstance(value, bool):
        primitive.boolean = value
    elif isinstance(value, int):
        primitive.integer = value
    elif isinstance(value, float):
        primitive.float_value = value
    else:
        primitive.string_value = value


def v1_category(name: str, version: int = 0) -> agent_pb2.TaskCategory:
    return agent_pb2.TaskCategory(name=name, version=version)


def v2_category(name: str, version: int = 0) -> connector_pb2.TaskCategory:
    return connector_pb2.TaskCategory(name=name, version=version)


def v1_outputs(resource: Any) -> dict[str, Any]:
    """The primitive values of a v1 Resource's outputs."""
    return {name: _value(literal) for name, literal in resource.outputs.literals.items()}


def v2_outputs(resource: Any) -> dict[str, Any]:
    """The primitive values of a v2 Resource's outputs (named literals)."""
    return {named.name: _value(named.value) for named in resource.outputs.literals}


def _value(literal: Any) -> Any:
    primitive = literal.scalar.primitive
    return getattr(primitive, primitive.WhichOneof("value"))


def meta_json(resource_meta: bytes) -> dict[str, Any]:
    """The fields of a meta the service handed out (inside its signature envelope)."""
    payload = resource_meta.split(b"\n", 4)[4] if resource_meta.startswith(b"cm1\n") else resource_meta
    return json.loads(payload)["data"]  # type: ignore[no-any-return]
