"""The path policy through a real loopback `ConnectorService` and the generated flyteidl stubs (issue 9).

A template or a meta naming a path outside CONNECTOR_SENSOR_ROOTS is INVALID_ARGUMENT with one
message whether the path exists or not, so the service is no oracle for the pod's files.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from connector_sensor import FileSensor
from flyteidl.admin import agent_pb2
from flyteidl.core import tasks_pb2
from flyteidl.service import agent_pb2_grpc
from google.protobuf import struct_pb2

from connector.registry._signing import MetaSigner
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of


@pytest.fixture
async def tasks() -> AsyncIterator[Any]:
    signer = MetaSigner.from_environ(
        {"CONNECTOR_META_KEYS": "k1=" + "s" * 32, "CONNECTOR_ACCEPT_UNSIGNED_META": "1"}
    )
    service = ConnectorService(
        registry_of(FileSensor), ServiceOptions(port=0, prometheus_port=None), signer=signer
    )
    await service.start()
    await service.ready.wait()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield agent_pb2_grpc.AsyncAgentServiceStub(channel)
    await service.stop(0)


def _outside(path: str) -> str:
    # The service cuts absolute paths to their last segment in every status message.
    shown = "…/" + path.rsplit("/", 1)[1]
    return (
        f"file_sensor: the path {shown!r} is outside the roots it may watch; to allow it, add a directory "
        "or URL prefix that contains it to CONNECTOR_SENSOR_ROOTS"
    )


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/no-such-file-for-the-sensor"])
async def test_create_outside_the_roots_is_invalid_argument_whether_it_exists_or_not(
    tasks: Any, path: str
) -> None:
    custom = struct_pb2.Struct()
    custom.update({"path": path})
    request = agent_pb2.CreateTaskRequest(template=tasks_pb2.TaskTemplate(type="file_sensor", custom=custom))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await tasks.CreateTask(request)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, _outside(path))


async def test_a_forged_meta_outside_the_roots_is_invalid_argument(tasks: Any, tmp_path: Path) -> None:
    # Let through unsigned (as during a switch-over): the path policy still holds.
    meta = json.dumps({"v": 1, "data": {"path": "/etc/shadow", "created_at": 1.0}}).encode()
    request = agent_pb2.GetTaskRequest(
        task_category=agent_pb2.TaskCategory(name="file_sensor"), resource_meta=meta
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await tasks.GetTask(request)
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        _outside("/etc/shadow"),
    )
