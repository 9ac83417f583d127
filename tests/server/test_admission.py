"""Over a loopback service: the admission limits of ``async def`` hooks, per connector and in all."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl2.connector import connector_pb2

import connector
from connector import Phase, Resource, TaskCategory
from connector.testing import registry_of
from tests.server.conftest import v1_template, v2_template
from tests.support.scrape import scrape, until

HELD = TaskCategory("held")


class Gate:
    """Where the held calls wait; made on the test's event loop."""

    event: asyncio.Event | None = None
    entered = 0


@dataclasses.dataclass
class Hook(connector.ResourceMeta):
    """A webhook call's meta."""

    call_id: str = "call"


class HeldWebhook(connector.AsyncConnector):
    """An ``async def`` create that waits until the test opens the gate (a webhook awaiting its remote)."""

    name = "Held webhook"
    task_type_name = "held"
    metadata_type = Hook

    async def create(self) -> Hook:
        Gate.entered += 1
        assert Gate.event is not None
        await Gate.event.wait()
        return Hook()

    async def get(self, resource_meta: Hook) -> Resource:
        return Resource(phase=Phase.SUCCEEDED)

    async def delete(self, resource_meta: Hook) -> None:
        pass


class OtherWebhook(HeldWebhook):
    """The same, under another task type, answering at once."""

    name = "Other webhook"
    task_type_name = "other"

    async def create(self) -> Hook:
        return Hook("other")


@pytest.fixture(autouse=True)
def _gate() -> Iterator[None]:
    Gate.event = asyncio.Event()
    Gate.entered = 0
    yield
    Gate.event.set()


def _create(running: Any, task_type: str) -> Any:
    return running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template(task_type)), timeout=120)


async def test_a_thousand_concurrent_async_calls_are_all_admitted_by_default(start_service: Any) -> None:
    running = await start_service(registry_of(HeldWebhook), prometheus_port=0)
    calls = [_create(running, "held") for _ in range(1000)]
    # All 1000 are in the hook at once: admitted, none waiting for a worker, none refused.
    await until(lambda: Gate.entered == 1000)
    lane = running.service.lanes.get(HELD)
    assert lane is not None
    assert lane.async_in_flight == 1000
    samples = await asyncio.to_thread(scrape, running.metrics_url)
    in_flight = ("connector_calls_in_flight", frozenset({("task_type", "held"), ("kind", "async")}))
    assert samples[in_flight] == 1000
    assert running.service.pool.threads == 0  # async hooks need no thread
    assert Gate.event is not None
    Gate.event.set()
    answers = await asyncio.gather(*calls)
    assert len(answers) == 1000
    assert (lane.async_in_flight, lane.refused_async, lane.refused_async_total) == (0, 0, 0)
    samples = await asyncio.to_thread(scrape, running.metrics_url)
    for limit in ("queue-size", "connector-async-calls", "max-async-calls"):
        key = ("connector_calls_refused_total", frozenset({("task_type", "held"), ("limit", limit)}))
        assert samples[key] == 0


async def test_async_calls_past_a_connector_limit_are_refused_and_others_still_served(
    start_service: Any,
) -> None:
    running = await start_service(
        registry_of(HeldWebhook, OtherWebhook), connector_async_calls=3, prometheus_port=0
    )
    held = [_create(running, "held") for _ in range(3)]
    await until(lambda: Gate.entered == 3)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.v2.CreateTask(connector_pb2.CreateTaskRequest(template=v2_template("held")))
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.value.details() == (
        "task type held@0 is overloaded: it has 3 async calls in flight (--connector-async-calls); "
        "retry later, raise the limit, or run more replicas"
    )
    # The neighbour is admitted while held is full.
    answers = await asyncio.gather(*(_create(running, "other") for _ in range(5)))
    assert all(answer.resource_meta for answer in answers)
    samples = await asyncio.to_thread(scrape, running.metrics_url)
    refused = "connector_calls_refused_total"
    assert samples[(refused, frozenset({("task_type", "held"), ("limit", "connector-async-calls")}))] == 1
    assert samples[(refused, frozenset({("task_type", "other"), ("limit", "connector-async-calls")}))] == 0
    assert Gate.event is not None
    Gate.event.set()
    await asyncio.gather(*held)
    # Once they are over, the connector is admitted again.
    Gate.event = asyncio.Event()
    Gate.event.set()
    assert (await _create(running, "held")).resource_meta


async def test_async_calls_past_the_service_limit_are_refused(start_service: Any) -> None:
    running = await start_service(registry_of(HeldWebhook, OtherWebhook), max_async_calls=2)
    held = [_create(running, "held") for _ in range(2)]
    await until(lambda: Gate.entered == 2)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _create(running, "other")
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.value.details() == (
        "the service is overloaded: it has 2 async calls in flight (--max-async-calls), refusing one of "
        "task type other@0; retry later, raise the limit, or run more replicas"
    )
    assert Gate.event is not None
    Gate.event.set()
    await asyncio.gather(*held)
    assert (await _create(running, "other")).resource_meta


async def test_a_refused_call_leaves_nothing_counted(start_service: Any) -> None:
    running = await start_service(registry_of(HeldWebhook), connector_async_calls=1)
    first = _create(running, "held")
    await until(lambda: Gate.entered == 1)
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError):
            await _create(running, "held")
    lane = running.service.lanes.get(HELD)
    assert lane is not None
    assert (lane.async_in_flight, lane.refused_async, running.service.lanes.budget.in_flight) == (1, 5, 1)
    assert Gate.event is not None
    Gate.event.set()
    await first
    assert (lane.async_in_flight, running.service.lanes.budget.in_flight) == (0, 0)
