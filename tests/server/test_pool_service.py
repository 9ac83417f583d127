"""Over a loopback service: one connector's slow plain calls do not delay another's; the metrics say so."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2

import connector
from connector import Phase, Resource, TaskCategory
from connector.testing import registry_of
from tests.server.conftest import v1_template
from tests.support.scrape import scrape, until

#: Released by the tests to let ``SlowPlain.create`` return.
RELEASE = threading.Event()


@dataclasses.dataclass
class Job(connector.ResourceMeta):
    """A meta with one field."""

    job_id: str = "job"


class SlowPlain(connector.AsyncConnector):
    """A plain-def create that blocks until ``RELEASE`` is set."""

    name = "Slow plain"
    task_type_name = "slowplain"
    metadata_type = Job

    def create(self) -> Job:
        assert RELEASE.wait(60)
        return Job()

    def get(self, resource_meta: Job) -> Resource:
        return Resource(phase=Phase.SUCCEEDED)

    def delete(self, resource_meta: Job) -> None:
        pass


class QuickPlain(SlowPlain):
    """A plain-def create that returns at once."""

    name = "Quick plain"
    task_type_name = "quickplain"

    def create(self) -> Job:
        return Job()


@pytest.fixture(autouse=True)
def _released() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()  # never leave a worker thread blocked


def _create(running: Any, task_type: str) -> Any:
    # A generous deadline: a call that hangs fails the test instead of hanging it.
    return running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template(task_type)), timeout=60)


async def test_twenty_slow_plain_calls_do_not_delay_another_connector(start_service: Any) -> None:
    running = await start_service(
        registry_of(SlowPlain, QuickPlain),
        max_workers=30,
        connector_workers=20,
        queue_size=5,
        prometheus_port=0,
    )
    service = running.service
    slow = [_create(running, "slowplain") for _ in range(20)]
    await until(lambda: (lane := service.lanes.get(TaskCategory("slowplain"))) and lane.running == 20)
    lane = service.lanes.get(TaskCategory("slowplain"))
    assert lane is not None
    queued = [_create(running, "slowplain") for _ in range(5)]
    await until(lambda: lane.queued == 5)

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _create(running, "slowplain")
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert info.value.details() == (
        "task type slowplain@0 is overloaded: it has 20 plain-def calls in flight (--connector-workers) "
        "and 5 queued (--queue-size); retry later, raise those limits, or run more replicas"
    )

    # Every slow call is still blocked; the other connector's calls are answered meanwhile, none refused.
    answers = await asyncio.gather(*(_create(running, "quickplain") for _ in range(10)))
    assert all(answer.resource_meta for answer in answers)
    assert (lane.running, lane.queued) == (20, 5)
    assert not RELEASE.is_set()

    samples = await asyncio.to_thread(scrape, running.metrics_url)
    in_flight = ("connector_calls_in_flight", frozenset({("task_type", "slowplain"), ("kind", "plain")}))
    assert samples[in_flight] == 20
    assert samples[("connector_queue_depth", frozenset({("task_type", "slowplain")}))] == 5
    refused = "connector_calls_refused_total"
    assert samples[(refused, frozenset({("task_type", "slowplain"), ("limit", "queue-size")}))] == 1
    assert samples[(refused, frozenset({("task_type", "quickplain"), ("limit", "queue-size")}))] == 0
    assert samples[("connector_worker_wait_seconds_count", frozenset({("task_type", "quickplain")}))] == 10
    assert samples[("connector_worker_wait_seconds_count", frozenset({("task_type", "slowplain")}))] == 20
    assert samples[("connector_worker_threads_max", frozenset())] == 30

    RELEASE.set()
    done = await asyncio.gather(*slow, *queued)
    assert len(done) == 25
    samples = await asyncio.to_thread(scrape, running.metrics_url)
    assert samples[("connector_worker_wait_seconds_count", frozenset({("task_type", "slowplain")}))] == 25
    assert samples[("connector_queue_depth", frozenset({("task_type", "slowplain")}))] == 0
    bucket = ("connector_worker_wait_seconds_bucket", frozenset({("task_type", "slowplain"), ("le", "+Inf")}))
    assert samples[bucket] == 25


async def test_the_pool_grows_past_workers_for_plain_calls(start_service: Any) -> None:
    # --workers 2 used to cap the service at two threads; now more start on demand.
    running = await start_service(registry_of(SlowPlain, QuickPlain), workers=2, prometheus_port=0)
    service = running.service
    assert service.pool.max_workers == 128  # the default
    assert service.lanes.connector_workers == 64  # half of it
    assert service.lanes.queue_size == 256  # 4 per connector worker
    slow = [_create(running, "slowplain") for _ in range(12)]
    await until(lambda: service.pool.busy == 12)
    assert service.pool.threads == 12
    samples = await asyncio.to_thread(scrape, running.metrics_url)
    assert samples[("connector_worker_threads", frozenset({("state", "busy")}))] == 12
    RELEASE.set()
    await asyncio.gather(*slow)
