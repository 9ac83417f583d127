"""The sensor task type through a real loopback ``ConnectorService`` and the generated stubs (issue 10).

Requests are shaped as flytekit 1.16 sends them for a ``FileSensor``: task type ``sensor``, the
custom fields of a ``BaseSensor``, an interface with the input ``path: str`` and the input as a
literal. Metas come back signed, or as flytekit's service wrote them (plain JSON) when the operator
accepts unsigned metas at a switch-over.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
import pytest
from connector_sensor import FILE_SENSOR_MODULE, FILE_SENSOR_NAME, Sensor
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl.service import agent_pb2_grpc
from google.protobuf import struct_pb2

from connector.registry._signing import MetaSigner
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of

KEYS = {"CONNECTOR_META_KEYS": "k1=" + "s" * 32}
CATEGORY = agent_pb2.TaskCategory(name="sensor", version=0)
Start = Callable[..., Coroutine[Any, Any, Any]]


@pytest.fixture
async def start(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """``await start(**environ)``: a served ``Sensor`` and the v1 stub; ``environ`` reaches the signer."""
    monkeypatch.setenv("CONNECTOR_SENSORS", "sensor_samples:FailingSensor")
    started: list[tuple[ConnectorService, grpc.aio.Channel]] = []

    async def run(**environ: str) -> Any:
        signer = MetaSigner.from_environ({**KEYS, **environ})
        service = ConnectorService(
            registry_of(Sensor()), ServiceOptions(port=0, prometheus_port=None), signer=signer
        )
        await service.start()
        await service.ready.wait()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
        started.append((service, channel))
        return agent_pb2_grpc.AsyncAgentServiceStub(channel)

    yield run
    for service, channel in started:
        await channel.close()
        await service.stop(0)


def flytekit_template(module: str = FILE_SENSOR_MODULE, name: str = FILE_SENSOR_NAME) -> Any:
    """A TaskTemplate as flytekit 1.16 serializes a FileSensor (the parts a connector reads)."""
    custom = struct_pb2.Struct()
    custom.update({"sensor_module": module, "sensor_name": name, "sensor_config": None, "inputs": None})
    string = types_pb2.LiteralType(simple=types_pb2.STRING)
    interface = interface_pb2.TypedInterface(
        inputs=interface_pb2.VariableMap(variables={"path": interface_pb2.Variable(type=string)}),
        outputs=interface_pb2.VariableMap(),
    )
    return tasks_pb2.TaskTemplate(type="sensor", task_type_version=0, custom=custom, interface=interface)


def path_input(path: str) -> Any:
    primitive = literals_pb2.Primitive(string_value=path)
    literal = literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=primitive))
    return literals_pb2.LiteralMap(literals={"path": literal})


def create_request(path: str, module: str = FILE_SENSOR_MODULE, name: str = FILE_SENSOR_NAME) -> Any:
    return agent_pb2.CreateTaskRequest(
        template=flytekit_template(module, name), inputs=path_input(path), output_prefix="/tmp/out"
    )


def get_request(meta: bytes) -> Any:
    return agent_pb2.GetTaskRequest(task_category=CATEGORY, resource_meta=meta)


def flytekit_meta(module: str, name: str, inputs: dict[str, Any]) -> bytes:
    """The bytes flytekit's SensorEngine stores: ``json.dumps(asdict(SensorMetadata(...)))``."""
    fields = {"sensor_module": module, "sensor_name": name, "sensor_config": None, "inputs": inputs}
    return json.dumps(fields).encode()


def outside(path: str) -> str:
    shown = "…/" + path.rsplit("/", 1)[1]  # the service cuts absolute paths in status messages
    return (
        f"sensor: the path {shown!r} is outside the roots it may watch; to allow it, add a directory or URL "
        "prefix that contains it to CONNECTOR_SENSOR_ROOTS"
    )


def not_allowed(pair: str) -> str:
    return (
        f"sensor: the sensor {pair!r} is not allowed, so it is not imported; to allow it, install a "
        "distribution that registers it (module:ClassName) in the entry point group 'connector.sensors', "
        "or add it to CONNECTOR_SENSORS (module:ClassName, separated by ',')"
    )


async def failure(call: Coroutine[Any, Any, Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details()


async def test_a_flytekit_file_sensor_is_running_then_succeeded(start: Start, tmp_path: Path) -> None:
    tasks = await start()
    target = tmp_path / "ready"
    created = await tasks.CreateTask(create_request(str(target)))
    running = (await tasks.GetTask(get_request(created.resource_meta))).resource
    assert (running.phase, running.message) == (execution_pb2.TaskExecution.RUNNING, "")
    target.write_text("")
    done = (await tasks.GetTask(get_request(created.resource_meta))).resource
    assert (done.phase, done.message) == (execution_pb2.TaskExecution.SUCCEEDED, "")
    assert not done.HasField("outputs")
    await tasks.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=CATEGORY, resource_meta=created.resource_meta)
    )


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/no-such-file-for-the-sensor"])
async def test_a_path_outside_the_roots_is_invalid_argument(start: Start, path: str) -> None:
    tasks = await start()
    assert await failure(tasks.CreateTask(create_request(path))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        outside(path),
    )


async def test_an_unknown_sensor_is_invalid_argument_at_create(start: Start) -> None:
    tasks = await start()
    assert await failure(tasks.CreateTask(create_request("/x", "os", "system"))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        not_allowed("os:system"),
    )


async def test_an_unsigned_meta_is_refused_unless_the_operator_accepts_them(
    start: Start, tmp_path: Path
) -> None:
    tasks = await start()
    meta = flytekit_meta(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, {"path": str(tmp_path / "x")})
    code, _ = await failure(tasks.GetTask(get_request(meta)))
    assert code is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_meta_written_by_flytekits_service_is_polled_at_a_switch_over(
    start: Start, tmp_path: Path
) -> None:
    tasks = await start(CONNECTOR_ACCEPT_UNSIGNED_META="1")
    target = tmp_path / "landed"
    meta = flytekit_meta(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, {"path": str(target)})
    assert (await tasks.GetTask(get_request(meta))).resource.phase == execution_pb2.TaskExecution.RUNNING
    target.write_text("")
    assert (await tasks.GetTask(get_request(meta))).resource.phase == execution_pb2.TaskExecution.SUCCEEDED
    await tasks.DeleteTask(agent_pb2.DeleteTaskRequest(task_category=CATEGORY, resource_meta=meta))


@pytest.mark.parametrize("written_by", ["flytekit", "connector"])
async def test_a_forged_unsigned_meta_still_meets_the_roots_and_the_allow_list(
    start: Start, written_by: str
) -> None:
    def forged(module: str, name: str, inputs: dict[str, Any]) -> bytes:
        data = flytekit_meta(module, name, inputs)
        return data if written_by == "flytekit" else b'{"v": 1, "data": ' + data + b"}"

    tasks = await start(CONNECTOR_ACCEPT_UNSIGNED_META="1")
    shadow = forged(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, {"path": "/etc/shadow"})
    assert await failure(tasks.GetTask(get_request(shadow))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        outside("/etc/shadow"),
    )
    system = forged("os", "system", {"command": "touch /tmp/pwned"})
    assert await failure(tasks.GetTask(get_request(system))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        not_allowed("os:system"),
    )


async def test_a_poke_that_raises_is_internal_with_its_first_line(start: Start) -> None:
    tasks = await start()
    created = await tasks.CreateTask(create_request("s3://b/k", "sensor_samples", "FailingSensor"))
    assert await failure(tasks.GetTask(get_request(created.resource_meta))) == (
        grpc.StatusCode.INTERNAL,
        "get for task type sensor@0 failed: SensorPokeError: sensor: the sensor "
        "'sensor_samples:FailingSensor' failed in its poke: ValueError: the bucket of s3://b/k is gone",
    )
