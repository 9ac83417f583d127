"""Operations parity with flytekit's service: health names, both reflection protocols, HTTP error codes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import urllib.request
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl2.connector import connector_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from prometheus_client.parser import text_string_to_metric_families

from connector import ConfigurationError, ConnectorOrigin, ConnectorRecord, ConnectorRegistry, TaskCategory
from connector.server import ConnectorService, ServiceOptions
from connector.server._metrics import HTTP_STATUS, error_codes_from_environ
from connector.server._service import SERVICE_NAMES
from connector.testing import registry_of
from tests.server import sample_plugin
from tests.server.conftest import ALL_SAMPLES, serving_in_thread, v1_category, v1_template, v2_template
from tests.support.venvs import ROOT

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HEALTH = "grpc.health.v1.Health"
EVERY_NAME = ("", *SERVICE_NAMES, HEALTH)


def test_every_served_protocol_service_has_a_health_name() -> None:
    assert set(SERVICE_NAMES) == {
        "flyteidl.service.AsyncAgentService",
        "flyteidl.service.SyncAgentService",
        "flyteidl.service.AgentMetadataService",
        "flyteidl2.connector.AsyncConnectorService",
        "flyteidl2.connector.ConnectorMetadataService",
    }


def _held_registry(gate: threading.Event) -> ConnectorRegistry:
    def slow_import() -> object:
        gate.wait(30)
        return sample_plugin.AsyncSleepConnector

    origin = ConnectorOrigin("asleep", "slow:x", "connector-slow", "1")
    return ConnectorRegistry([ConnectorRecord(origin, TaskCategory("asleep"), slow_import)])


async def _statuses(running: Any) -> dict[str, Any]:
    return {
        name: (await running.health.Check(health_pb2.HealthCheckRequest(service=name))).status
        for name in EVERY_NAME
    }


# Health.


async def test_health_names_while_loading_when_ready_and_unknown(start_service: Any) -> None:
    gate = threading.Event()
    running = await start_service(_held_registry(gate), wait_ready=False)
    try:
        # Readiness names wait for the connectors; the health service's own name answers at once.
        assert await _statuses(running) == {
            **dict.fromkeys(("", *SERVICE_NAMES), NOT_SERVING),
            HEALTH: SERVING,
        }
    finally:
        gate.set()
    await running.service.ready.wait()
    assert await _statuses(running) == dict.fromkeys(EVERY_NAME, SERVING)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.health.Check(health_pb2.HealthCheckRequest(service="grpc.reflection.v1.Nope"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


async def test_draining_turns_every_health_name_not_serving(start_service: Any) -> None:
    running = await start_service()
    watches = {name: running.health.Watch(health_pb2.HealthCheckRequest(service=name)) for name in EVERY_NAME}
    for watch in watches.values():
        assert (await watch.read()).status == SERVING
    # A call in flight keeps the server draining while the watchers read.
    call = running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("blocking")))
    for _ in range(500):
        if running.service.pool.pending == 1:
            break
        await asyncio.sleep(0.02)
    stopping = asyncio.create_task(running.service.stop(30))
    assert {name: (await watch.read()).status for name, watch in watches.items()} == dict.fromkeys(
        EVERY_NAME, NOT_SERVING
    )
    sample_plugin.RELEASE.set()
    await call
    await stopping


# Reflection, through grpcio-reflection's own client.


class _V1Database(ProtoReflectionDescriptorDatabase):  # type: ignore[misc]
    """grpcio-reflection's client, asking ``grpc.reflection.v1`` as grpcurl and Postman do first.

    grpc-proto's v1 messages are v1alpha's field for field (only the package differs), so these
    are the bytes a v1 client sends; only the method path says which protocol is asked.
    """

    def __init__(self, channel: grpc.Channel) -> None:
        super().__init__(channel)
        self._stub = _Stub(
            channel.stream_stream(
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
        )


class _Stub:
    def __init__(self, method: Any) -> None:
        self.ServerReflectionInfo = method


@pytest.mark.parametrize("protocol", ["v1", "v1alpha"])
def test_reflection_lists_services_and_describes_them(protocol: str) -> None:
    registry = registry_of(*ALL_SAMPLES)
    with (
        serving_in_thread(registry, prometheus_port=None) as address,
        grpc.insecure_channel(address) as channel,
    ):
        database = (_V1Database if protocol == "v1" else ProtoReflectionDescriptorDatabase)(channel)
        assert set(database.get_services()) == {
            *SERVICE_NAMES,
            HEALTH,
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        }
        pool = descriptor_pool.DescriptorPool(database)
        # Each service as the client rebuilt it from the answers: what the generated code holds.
        for name in SERVICE_NAMES:
            got, want = descriptor_pb2.ServiceDescriptorProto(), descriptor_pb2.ServiceDescriptorProto()
            pool.FindServiceByName(name).CopyToProto(got)
            descriptor_pool.Default().FindServiceByName(name).CopyToProto(want)
            assert got == want
        execute = pool.FindServiceByName("flyteidl.service.SyncAgentService").methods_by_name[
            "ExecuteTaskSync"
        ]
        assert (execute.client_streaming, execute.server_streaming) == (True, True)
        assert execute.input_type.full_name == "flyteidl.admin.ExecuteTaskSyncRequest"
        # The v1 reflection service describes itself, as the v1 proto says.
        v1 = pool.FindServiceByName("grpc.reflection.v1.ServerReflection")
        assert v1.file.name == "grpc/reflection/v1/reflection.proto"
        assert v1.file.package == "grpc.reflection.v1"
        method = v1.methods_by_name["ServerReflectionInfo"]
        assert method.input_type.full_name == "grpc.reflection.v1.ServerReflectionRequest"
        assert method.output_type.full_name == "grpc.reflection.v1.ServerReflectionResponse"
        v1alpha = reflection_pb2.ServerReflectionRequest.DESCRIPTOR
        assert [(f.name, f.number, f.type) for f in method.input_type.fields] == [
            (f.name, f.number, f.type) for f in v1alpha.fields
        ]
        with pytest.raises(KeyError):
            database.FindFileContainingSymbol("no.such.Service")


# Metrics: error_code as gRPC status names (default) or flytekit's HTTP numbers.


def _failures(url: str) -> dict[tuple[str, str, str], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {
        (s.labels["task_type"], s.labels["operation"], s.labels["error_code"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "flyte_connector_requests_failure_total"
    }


def _rpc_codes(url: str) -> set[str]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {
        s.labels["code"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "connector_rpc_requests_total"
    }


async def _fail_in_four_ways(running: Any) -> None:
    calls = [
        running.v1.GetTask(  # NOT_FOUND
            agent_pb2.GetTaskRequest(task_category=v1_category("ghost"), resource_meta=b"x")
        ),
        running.v2.CreateTask(  # INTERNAL
            connector_pb2.CreateTaskRequest(template=v2_template("failing", custom={"how": "boom"}))
        ),
        running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("syncecho"))),  # UNIMPLEMENTED
        running.v1.GetTask(  # INVALID_ARGUMENT: not a meta this service signed
            agent_pb2.GetTaskRequest(task_category=v1_category("filejob"), resource_meta=b"garbage")
        ),
    ]
    codes = []
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        codes.append(info.value.code())
    assert codes == [
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INVALID_ARGUMENT,
    ]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            None,
            {
                ("__unknown__", "get", "NOT_FOUND"): 1,
                ("failing", "create", "INTERNAL"): 1,
                ("syncecho", "create", "UNIMPLEMENTED"): 1,
                ("filejob", "get", "INVALID_ARGUMENT"): 1,
            },
        ),
        (
            " HTTP ",
            {
                ("__unknown__", "get", "404"): 1,
                ("failing", "create", "500"): 1,
                ("syncecho", "create", "501"): 1,
                ("filejob", "get", "400"): 1,
            },
        ),
    ],
)
async def test_failure_error_code_labels_as_scraped(
    start_service: Any, monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: dict[Any, float]
) -> None:
    if setting is None:
        monkeypatch.delenv("CONNECTOR_METRICS_ERROR_CODES", raising=False)
    else:
        monkeypatch.setenv("CONNECTOR_METRICS_ERROR_CODES", setting)
    running = await start_service(prometheus_port=0)
    await _fail_in_four_ways(running)
    assert await asyncio.to_thread(_failures, running.metrics_url) == expected
    # The service's own per-RPC series keeps gRPC status names either way.
    assert await asyncio.to_thread(_rpc_codes, running.metrics_url) == {
        "NOT_FOUND",
        "INTERNAL",
        "UNIMPLEMENTED",
        "INVALID_ARGUMENT",
    }


async def test_the_option_wins_over_the_variable(start_service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_METRICS_ERROR_CODES", "grpc")
    running = await start_service(prometheus_port=0, metrics_error_codes="http")
    with pytest.raises(grpc.aio.AioRpcError):
        await running.v1.GetTask(
            agent_pb2.GetTaskRequest(task_category=v1_category("ghost"), resource_meta=b"x")
        )
    assert await asyncio.to_thread(_failures, running.metrics_url) == {("__unknown__", "get", "404"): 1}


def test_http_codes_map_every_status_as_grpc_gateway_does() -> None:
    assert dict(HTTP_STATUS) == {
        "OK": "200",
        "CANCELLED": "499",
        "UNKNOWN": "500",
        "INVALID_ARGUMENT": "400",
        "DEADLINE_EXCEEDED": "504",
        "NOT_FOUND": "404",
        "ALREADY_EXISTS": "409",
        "PERMISSION_DENIED": "403",
        "UNAUTHENTICATED": "401",
        "RESOURCE_EXHAUSTED": "429",
        "FAILED_PRECONDITION": "400",
        "ABORTED": "409",
        "OUT_OF_RANGE": "400",
        "UNIMPLEMENTED": "501",
        "INTERNAL": "500",
        "UNAVAILABLE": "503",
        "DATA_LOSS": "500",
    }
    assert set(HTTP_STATUS) == {code.name for code in grpc.StatusCode}


BAD_VALUE_MESSAGE = (
    "CONNECTOR_METRICS_ERROR_CODES: 'numbers' is not grpc or http (grpc writes the status name, such as "
    "NOT_FOUND, in error_code; http writes its HTTP number, such as 404, as flytekit did)"
)


def test_a_bad_setting_is_a_configuration_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert error_codes_from_environ({}) == "grpc"
    assert error_codes_from_environ({"CONNECTOR_METRICS_ERROR_CODES": ""}) == "grpc"
    assert error_codes_from_environ({"CONNECTOR_METRICS_ERROR_CODES": "Http"}) == "http"
    with pytest.raises(ConfigurationError) as info:
        error_codes_from_environ({"CONNECTOR_METRICS_ERROR_CODES": "numbers"})
    assert str(info.value) == BAD_VALUE_MESSAGE
    monkeypatch.setenv("CONNECTOR_METRICS_ERROR_CODES", "numbers")
    with pytest.raises(ConfigurationError) as info:
        ConnectorService(registry_of(), ServiceOptions(port=0))
    assert str(info.value) == BAD_VALUE_MESSAGE
    with pytest.raises(ConfigurationError) as info:
        ServiceOptions(metrics_error_codes="numbers")  # type: ignore[arg-type]
    assert str(info.value) == "metrics error codes must be 'grpc' or 'http', got 'numbers'"


def test_serve_refuses_a_bad_setting_before_listening() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_METRICS")}
    environ["CONNECTOR_METRICS_ERROR_CODES"] = "numbers"
    environ["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "connector", "serve", "--port", "0", "--prometheus-port", "off"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == f"Error: {BAD_VALUE_MESSAGE}"
    assert "Serving gRPC" not in done.stdout
