"""Transient get failures: retried inside the caller's deadline, never past the service's own time limit."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2

import connector
from connector.server import _transient
from connector.testing import registry_of
from tests.server.conftest import v1_category, v1_template


@dataclasses.dataclass
class Meta(connector.ResourceMeta):
    job: str


class Flaky(connector.AsyncConnector):
    """``get`` raises each error in ``errors`` in turn, then answers RUNNING; or hangs when told to."""

    name = "Flaky"
    task_type_name = "flaky"
    metadata_type = Meta

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[Exception] = []
        self.gets = 0
        self.hang = False

    def create(self) -> Meta:
        return Meta("j")

    async def get(self, resource_meta: Meta) -> connector.Resource:
        self.gets += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.errors:
            raise self.errors.pop(0)
        return connector.Resource(connector.Phase.RUNNING)

    def delete(self, resource_meta: Meta) -> None:
        pass


async def _started(start_service: Any, flaky: Flaky, **options: Any) -> tuple[Any, bytes]:
    running = await start_service(registry_of(flaky), **options)
    created = await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("flaky")))
    return running, bytes(created.resource_meta)


def _get(meta: bytes) -> agent_pb2.GetTaskRequest:
    return agent_pb2.GetTaskRequest(task_category=v1_category("flaky"), resource_meta=meta)


async def test_without_a_client_deadline_the_service_timeout_still_bounds_each_try(
    start_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tries' budget is shorter than the service's limit: a try must still get the limit.
    monkeypatch.setattr(_transient, "NO_DEADLINE_BUDGET", 0.2)
    flaky = Flaky()
    running, meta = await _started(start_service, flaky, timeout=0.5)
    flaky.hang = True
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.v1.GetTask(_get(meta))  # no deadline
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert info.value.details() == "get for task type flaky@0 did not finish within 0.5s"


async def test_retry_after_sets_the_wait(start_service: Any, caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky()
    running, meta = await _started(start_service, flaky)
    flaky.errors = [connector.TransientError("busy", retry_after=0.3)] * 2
    with caplog.at_level(logging.INFO, logger="connector.server"):
        response = await running.v1.GetTask(_get(meta), timeout=10)
    assert response.resource.phase == connector.Phase.RUNNING.value
    assert flaky.gets == 3
    waits = [float(w) for w in re.findall(r"again in ([\d.]+)s: busy", caplog.text)]
    assert len(waits) == 2
    assert all(wait >= 0.3 for wait in waits)


@pytest.mark.parametrize("value", ["5", -1, float("nan"), float("inf"), True])
def test_retry_after_must_be_seconds(value: Any) -> None:
    with pytest.raises(TypeError) as info:
        connector.TransientError("busy", retry_after=value)
    assert str(info.value) == f"retry_after must be a number of seconds, at least 0; got {value!r}"
