"""Prometheus metrics scraped over HTTP, health checks that follow readiness and draining, reflection."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl2.connector import connector_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from connector import ConnectorOrigin, ConnectorRecord, ConnectorRegistry, TaskCategory
from connector.server._service import SERVICE_NAMES
from tests.server import sample_plugin
from tests.server.conftest import v1_category, v1_inputs, v1_template, v2_category, v2_template
from tests.support.metas import unsigned
from tests.support.scrape import sample_value, scrape, until

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_metrics_count_rpcs_by_code_with_bounded_labels(start_service: Any, tmp_path: Any) -> None:
    running = await start_service(prometheus_port=0)
    assert running.service.metrics_port
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(
            template=v1_template("filejob", custom={"store": str(tmp_path)}), inputs=v1_inputs(x=1)
        )
    )
    await running.v1.GetTask(
        agent_pb2.GetTaskRequest(task_category=v1_category("filejob"), resource_meta=created.resource_meta)
    )
    for name in ("attacker-1", "attacker-2", "attacker-3"):
        with pytest.raises(grpc.aio.AioRpcError):
            await running.v2.GetTask(
                connector_pb2.GetTaskRequest(task_category=v2_category(name), resource_meta=b"x")
            )
    await running.v1_meta.ListAgents(agent_pb2.ListAgentsRequest())

    samples = scrape(running.metrics_url)
    create_rpc = "flyteidl.service.AsyncAgentService/CreateTask"
    get_rpc = "flyteidl2.connector.AsyncConnectorService/GetTask"
    assert (
        sample_value(
            samples, "flyte_connector_requests_success_total", task_type="filejob", operation="create"
        )
        == 1
    )
    assert (
        sample_value(samples, "flyte_connector_requests_success_total", task_type="filejob", operation="get")
        == 1
    )
    assert (
        sample_value(
            samples,
            "flyte_connector_requests_failure_total",
            task_type="__unknown__",
            operation="get",
            error_code="NOT_FOUND",
        )
        == 3
    )
    assert sample_value(samples, "connector_rpc_requests_total", rpc=create_rpc, code="OK") == 1
    assert sample_value(samples, "connector_rpc_requests_total", rpc=get_rpc, code="NOT_FOUND") == 3
    assert (
        sample_value(
            samples,
            "connector_rpc_requests_total",
            rpc="flyteidl.service.AgentMetadataService/ListAgents",
            code="OK",
        )
        == 1
    )
    assert sample_value(samples, "connector_rpc_latency_seconds_count", rpc=get_rpc) == 3
    assert sample_value(samples, "connector_rpc_latency_seconds_bucket", rpc=get_rpc, le="+Inf") == 3
    assert (
        sample_value(
            samples, "flyte_connector_request_latency_seconds_count", task_type="filejob", operation="create"
        )
        == 1
    )
    assert sample_value(samples, "flyte_connector_input_literal_bytes_count", task_type="filejob") == 1
    assert sample_value(samples, "connector_rpc_in_flight", rpc=create_rpc) == 0
    assert (
        sample_value(
            samples, "connector_load_state", task_type="filejob", task_type_version="0", state="loaded"
        )
        == 1
    )
    assert (
        sample_value(
            samples, "connector_load_state", task_type="filejob", task_type_version="0", state="broken"
        )
        == 0
    )
    # No label value comes from a request string.
    label_values = {value for _, labels in samples for _, value in labels}
    assert not any("attacker" in value for value in label_values)


async def test_in_flight_gauge_follows_a_running_call(start_service: Any) -> None:
    running = await start_service(prometheus_port=0)
    call = running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("blocking")))
    await until(lambda: running.service.pool.pending == 1)
    rpc = "flyteidl.service.AsyncAgentService/CreateTask"
    assert (
        sample_value(await asyncio.to_thread(scrape, running.metrics_url), "connector_rpc_in_flight", rpc=rpc)
        == 1
    )
    sample_plugin.RELEASE.set()
    await call
    assert (
        sample_value(await asyncio.to_thread(scrape, running.metrics_url), "connector_rpc_in_flight", rpc=rpc)
        == 0
    )


async def test_load_state_gauge_shows_a_broken_connector(start_service: Any) -> None:
    def broken() -> object:
        raise ImportError("nope")

    registry = ConnectorRegistry(
        [ConnectorRecord(ConnectorOrigin("bad", "bad:x", "connector-bad", "1"), TaskCategory("bad"), broken)]
    )
    running = await start_service(registry, prometheus_port=0)
    samples = scrape(running.metrics_url)
    assert (
        sample_value(samples, "connector_load_state", task_type="bad", task_type_version="0", state="broken")
        == 1
    )
    assert (
        sample_value(samples, "connector_load_state", task_type="bad", task_type_version="0", state="loaded")
        == 0
    )


async def test_metrics_off(start_service: Any) -> None:
    running = await start_service(prometheus_port=None)
    assert running.service.metrics_port is None
    assert running.service.metrics is None
    await running.v1_meta.ListAgents(agent_pb2.ListAgentsRequest())


async def test_health_is_not_serving_until_every_connector_is_loaded(start_service: Any) -> None:
    gate = threading.Event()

    def slow_import() -> object:
        gate.wait(30)
        return sample_plugin.AsyncSleepConnector

    registry = ConnectorRegistry(
        [
            ConnectorRecord(
                ConnectorOrigin("asleep", "slow:x", "connector-slow", "1"),
                TaskCategory("asleep"),
                slow_import,
            )
        ]
    )
    running = await start_service(registry, wait_ready=False)
    try:
        for name in ("", *SERVICE_NAMES):
            assert (
                await running.health.Check(health_pb2.HealthCheckRequest(service=name))
            ).status == NOT_SERVING
    finally:
        gate.set()
    await running.service.ready.wait()
    for name in ("", *SERVICE_NAMES):
        assert (await running.health.Check(health_pb2.HealthCheckRequest(service=name))).status == SERVING


async def test_draining_turns_health_not_serving_and_lets_the_call_in_flight_finish(
    start_service: Any,
) -> None:
    running = await start_service()
    watch = running.health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await watch.read()).status == SERVING
    call = running.v2.CreateTask(connector_pb2.CreateTaskRequest(template=v2_template("blocking")))
    await until(lambda: running.service.pool.pending == 1)
    stopping = asyncio.create_task(running.service.stop(30))
    assert (await watch.read()).status == NOT_SERVING
    assert not stopping.done()
    sample_plugin.RELEASE.set()
    response = await call
    assert unsigned("blocking", response.resource_meta) == sample_plugin.Plain("released").encode()
    await stopping


async def test_reflection_lists_every_service(start_service: Any) -> None:
    running = await start_service()
    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)

    async def ask() -> Any:
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        yield reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="flyteidl2.connector.AsyncConnectorService"
        )

    answers = [answer async for answer in stub.ServerReflectionInfo(ask())]
    names = {service.name for service in answers[0].list_services_response.service}
    assert names == {
        *SERVICE_NAMES,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert answers[1].file_descriptor_response.file_descriptor_proto
