"""Bridged flytekit connectors through a real loopback ``ConnectorService``, beside flytekit's own service.

flytekit's ``AsyncConnectorService`` and ``SyncConnectorService`` (from flytekit, unchanged) serve
the sample connectors from flytekit's registry on one loopback port; the core's service serves the
same connectors through ``connector_flytekit.bridge`` on another. Each test sends both the same
requests with the generated stubs and compares the answers field by field, outputs included, and
the keyword arguments the connector got (flytekit's model types, the same thread kind).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import flytekit_samples as samples
import grpc
import pytest
from connector_flytekit import bridge
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import connector_pb2 as v2_connector_pb2
from flyteidl2.connector import service_pb2_grpc as v2_service_pb2_grpc
from flyteidl2.core import tasks_pb2 as v2_tasks_pb2
from flytekit import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.extend.backend.connector_service import AsyncConnectorService, SyncConnectorService
from flytekit.models.literals import LiteralMap
from google.protobuf import json_format, struct_pb2

from connector.registry._signing import MetaSigner
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of

KEYS = {"CONNECTOR_META_KEYS": "k1=" + "s" * 32}
OUTPUT_PREFIX = "s3://bucket/metadata/n0/data/0"


@dataclass
class Stubs:
    """The v1 stubs of one service (and v2 for ours)."""

    tasks: Any
    sync: Any
    v2: Any = None


@dataclass
class Services:
    theirs: Stubs
    ours: Stubs


def connectors() -> list[Any]:
    return [
        samples.EchoConnector(),
        samples.JobConnector(),
        samples.PlainJobConnector(),
        samples.PickleConnector(),
    ]


@pytest.fixture
async def services(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Services]:
    """flytekit's own service and ours, each on a loopback port, serving the sample connectors."""
    monkeypatch.delenv("CONNECTOR_ACCEPT_UNSIGNED_META", raising=False)
    theirs_connectors, our_connectors = connectors(), connectors()
    samples.CALLS.clear()
    samples.JOBS.clear()
    with samples.registered(*theirs_connectors):
        server = grpc.aio.server()
        agent_pb2_grpc.add_AsyncAgentServiceServicer_to_server(AsyncConnectorService(), server)
        agent_pb2_grpc.add_SyncAgentServiceServicer_to_server(SyncConnectorService(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        service = ConnectorService(
            registry_of(*(bridge(c) for c in our_connectors)),
            ServiceOptions(port=0, prometheus_port=None),
            signer=MetaSigner.from_environ(KEYS),
        )
        await service.start()
        await service.ready.wait()
        their_channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        our_channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
        try:
            yield Services(
                Stubs(
                    agent_pb2_grpc.AsyncAgentServiceStub(their_channel),
                    agent_pb2_grpc.SyncAgentServiceStub(their_channel),
                ),
                Stubs(
                    agent_pb2_grpc.AsyncAgentServiceStub(our_channel),
                    agent_pb2_grpc.SyncAgentServiceStub(our_channel),
                    v2_service_pb2_grpc.AsyncConnectorServiceStub(our_channel),
                ),
            )
        finally:
            await their_channel.close()
            await our_channel.close()
            await service.stop(0)
            await server.stop(0)


def template(
    task_type: str, inputs: dict[str, int], custom: dict[str, Any] | None = None
) -> tasks_pb2.TaskTemplate:
    """A TaskTemplate of ``task_type`` with those inputs (``types_pb2.SimpleType`` numbers) and outputs."""
    struct = struct_pb2.Struct()
    struct.update(custom or {})
    variables = {
        name: interface_pb2.Variable(type=types_pb2.LiteralType(simple=simple))
        for name, simple in inputs.items()
    }
    interface = interface_pb2.TypedInterface(inputs=interface_pb2.VariableMap(variables=variables))
    return tasks_pb2.TaskTemplate(type=task_type, task_type_version=0, custom=struct, interface=interface)


def literals(**values: Any) -> literals_pb2.LiteralMap:
    """The inputs as flytekit's TypeEngine makes them."""
    ctx = FlyteContextManager.current_context()
    hints = {name: type(value) for name, value in values.items()}
    return TypeEngine.dict_to_literal_map(ctx, values, hints).to_flyte_idl()  # type: ignore[no-any-return]


def metadata() -> agent_pb2.TaskExecutionMetadata:
    return agent_pb2.TaskExecutionMetadata(namespace="ns", labels={"team": "a"}, max_attempts=2)


def create_request(
    task_type: str, custom: dict[str, Any] | None = None, **inputs: Any
) -> agent_pb2.CreateTaskRequest:
    simple = dict.fromkeys(inputs, types_pb2.INTEGER)
    return agent_pb2.CreateTaskRequest(
        template=template(task_type, simple, custom),
        inputs=literals(**inputs),
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=metadata(),
    )


def category(task_type: str) -> agent_pb2.TaskCategory:
    return agent_pb2.TaskCategory(name=task_type, version=0)


def get_request(task_type: str, meta: bytes) -> agent_pb2.GetTaskRequest:
    return agent_pb2.GetTaskRequest(
        task_type=task_type, task_category=category(task_type), resource_meta=meta
    )


def fields(resource: Any) -> dict[str, Any]:
    return json_format.MessageToDict(resource, preserving_proto_field_name=True)


def decoded(outputs: literals_pb2.LiteralMap, types: dict[str, type]) -> dict[str, Any]:
    ctx = FlyteContextManager.current_context()
    return TypeEngine.literal_map_to_kwargs(ctx, LiteralMap.from_flyte_idl(outputs), types)  # type: ignore[no-any-return]


async def failure(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details()


async def execute(stub: Any, task_type: str, **inputs: Any) -> Any:
    """ExecuteTaskSync as propeller calls it: the header, then the inputs."""
    simple = dict.fromkeys(inputs, types_pb2.STRING)
    header = agent_pb2.CreateRequestHeader(
        template=template(task_type, simple, {"tag": "t1"}),
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=metadata(),
    )
    requests = [
        agent_pb2.ExecuteTaskSyncRequest(header=header),
        agent_pb2.ExecuteTaskSyncRequest(inputs=literals(**inputs)),
    ]
    responses = [response async for response in stub.ExecuteTaskSync(iter(requests))]
    assert [response.WhichOneof("res") for response in responses] == ["header"]
    return responses[0].header.resource


async def test_sync_do_answers_as_flytekits_service(services: Services) -> None:
    theirs = await execute(services.theirs.sync, samples.ECHO_TYPE, name="ada")
    ours = await execute(services.ours.sync, samples.ECHO_TYPE, name="ada")
    assert fields(ours) == fields(theirs)
    assert ours.outputs == theirs.outputs  # the literal map flytekit made, byte for byte
    assert theirs.phase == execution_pb2.TaskExecution.SUCCEEDED
    assert decoded(ours.outputs, {"greeting": str, "count": int, "custom": str}) == {
        "greeting": "hello ada",
        "count": 3,
        "custom": "t1",
    }
    their_call, our_call = samples.CALLS
    assert our_call == their_call
    assert our_call[2] == {
        "task_template": "flytekit.models.task.TaskTemplate",
        "inputs": "flytekit.models.literals.LiteralMap",
        "output_prefix": "builtins.str",
        "thread": "main",
    }


async def test_sync_failed_phase_is_the_same(services: Services) -> None:
    theirs = await execute(services.theirs.sync, samples.ECHO_TYPE, name="fail")
    ours = await execute(services.ours.sync, samples.ECHO_TYPE, name="fail")
    assert fields(ours) == fields(theirs) == {"phase": "FAILED", "message": "asked to fail"}
    assert not ours.HasField("outputs")


async def test_sync_exception_is_internal_with_one_line(services: Services) -> None:
    code, details = await failure(execute(services.ours.sync, samples.ECHO_TYPE, name="raise"))
    assert (code, details) == (
        grpc.StatusCode.INTERNAL,
        "do for task type fk_echo@0 failed: RuntimeError: the echo service is down",
    )
    their_code, their_details = await failure(execute(services.theirs.sync, samples.ECHO_TYPE, name="raise"))
    assert their_code == grpc.StatusCode.INTERNAL
    # flytekit's message carries the server's traceback, file paths included.
    assert their_details.startswith(
        "failed to do fk_echo task with error:\n Trace:\n\n    Traceback (most recent"
    )
    assert their_details.endswith("Message:\n\n    RuntimeError: the echo service is down.")


@pytest.mark.parametrize("task_type", [samples.JOB_TYPE, samples.PLAIN_JOB_TYPE])
async def test_async_create_get_delete_answer_as_flytekits_service(
    services: Services, task_type: str
) -> None:
    """The same job on each service in turn (the sample store numbers jobs from 1 for each)."""
    answers = {}
    for side, stubs in (("theirs", services.theirs), ("ours", services.ours)):
        samples.JOBS.clear()
        created = await stubs.tasks.CreateTask(create_request(task_type, {"polls": 2}, x=21))
        running = (await stubs.tasks.GetTask(get_request(task_type, created.resource_meta))).resource
        done = (await stubs.tasks.GetTask(get_request(task_type, created.resource_meta))).resource
        await stubs.tasks.DeleteTask(
            agent_pb2.DeleteTaskRequest(
                task_type=task_type, task_category=category(task_type), resource_meta=created.resource_meta
            )
        )
        aborted = (await stubs.tasks.GetTask(get_request(task_type, created.resource_meta))).resource
        answers[side] = (created.resource_meta, running, done, aborted)
    their_meta, *theirs = answers["theirs"]
    our_meta, *ours = answers["ours"]
    assert [fields(r) for r in ours] == [fields(r) for r in theirs]
    assert [r.outputs for r in ours] == [r.outputs for r in theirs]
    assert fields(theirs[0]) == {
        "phase": "RUNNING",
        "message": "poll 1",
        "log_links": [
            {"uri": f"https://jobs.example/{task_type}-1", "name": "Console", "ShowWhilePending": True}
        ],
    }
    assert fields(theirs[1])["custom_info"] == {
        "job_id": f"{task_type}-1",
        "polls": 2.0,
        "nested": {"ok": True},
    }
    assert decoded(ours[1].outputs, {"doubled": int}) == {"doubled": 42}
    assert fields(theirs[2]) == {"phase": "ABORTED", "message": "deleted"}
    # flytekit's meta is plain JSON; ours carries the same bytes, signed.
    assert their_meta == b'{"job_id": "' + task_type.encode() + b'-1", "polls_to_finish": 2}'
    assert our_meta.startswith(b"cm1\nk1\n" + task_type.encode() + b"@0\n")
    assert our_meta.endswith(
        b'{"data":{"flytekit_meta":"' + __import__("base64").b64encode(their_meta) + b'"},"v":1}'
    )
    # The same calls with the same argument types, in the same kind of thread.
    calls = samples.CALLS
    assert calls[: len(calls) // 2] == calls[len(calls) // 2 :]
    thread = "main" if task_type == samples.JOB_TYPE else "worker"
    assert [(method, kwargs) for _, method, kwargs in calls[:4]] == [
        (
            "create",
            {
                "task_template": "flytekit.models.task.TaskTemplate",
                "inputs": "flytekit.models.literals.LiteralMap",
                "output_prefix": "builtins.str",
                "task_execution_metadata": "flytekit.models.task.TaskExecutionMetadata",
                "thread": thread,
            },
        ),
        ("get", {"resource_meta": "flytekit_samples.JobMeta", "thread": thread}),
        ("get", {"resource_meta": "flytekit_samples.JobMeta", "thread": thread}),
        ("delete", {"resource_meta": "flytekit_samples.JobMeta", "thread": thread}),
    ]


async def test_task_execution_metadata_reaches_the_connector(services: Services) -> None:
    created = await services.ours.tasks.CreateTask(create_request(samples.JOB_TYPE, x=1))
    assert created.resource_meta
    assert samples.JOBS[f"{samples.JOB_TYPE}-1"]["labels"] == {"team": "a"}


async def test_a_job_flytekits_service_created_continues_here_with_the_opt_in(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await services.theirs.tasks.CreateTask(create_request(samples.JOB_TYPE, {"polls": 1}, x=5))
    request = get_request(samples.JOB_TYPE, created.resource_meta)
    assert await failure(services.ours.tasks.GetTask(request)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the resource meta of task type fk_job@0 is not signed by this service; if another service wrote it "
        "before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it",
    )
    monkeypatch.setenv("CONNECTOR_ACCEPT_UNSIGNED_META", "1")
    accepting = ConnectorService(
        registry_of(bridge(samples.JobConnector())),
        ServiceOptions(port=0, prometheus_port=None),
        signer=MetaSigner.from_environ({**KEYS, "CONNECTOR_ACCEPT_UNSIGNED_META": "1"}),
    )
    await accepting.start()
    await accepting.ready.wait()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{accepting.port}") as channel:
            done = (await agent_pb2_grpc.AsyncAgentServiceStub(channel).GetTask(request)).resource
    finally:
        await accepting.stop(0)
    assert fields(done)["phase"] == "SUCCEEDED"
    assert decoded(done.outputs, {"doubled": int}) == {"doubled": 10}


async def test_logs_stream_where_flytekits_service_streams_nothing(services: Services) -> None:
    task_type = samples.JOB_TYPE
    logs = []
    for stubs in (services.theirs, services.ours):
        created = await stubs.tasks.CreateTask(create_request(task_type, x=1))
        request = agent_pb2.GetTaskLogsRequest(
            task_type=task_type, task_category=category(task_type), resource_meta=created.resource_meta
        )
        logs.append([fields(response) async for response in stubs.tasks.GetTaskLogs(request)])
    theirs, ours = logs
    assert theirs == []  # flytekit answers a streaming RPC with one message it never streams
    assert ours == [{"body": {"results": [f"{task_type}-2: line 1", "line 2"]}}]


async def test_metrics_answer_as_flytekits_service(services: Services) -> None:
    task_type = samples.PLAIN_JOB_TYPE
    answers = []
    for stubs in (services.theirs, services.ours):
        created = await stubs.tasks.CreateTask(create_request(task_type, x=1))
        request = agent_pb2.GetTaskMetricsRequest(
            task_type=task_type,
            task_category=category(task_type),
            resource_meta=created.resource_meta,
            queries=["cpu"],
        )
        answers.append(fields(await stubs.tasks.GetTaskMetrics(request)))
    theirs, ours = answers
    assert (
        ours
        == theirs
        == {
            "results": [
                {
                    "metric": "cpu",
                    "data": {
                        "resultType": "matrix",
                        "result": [{"metric": {}, "values": [[1700000000.0, "0.5"], [1700000060.0, "0.75"]]}],
                    },
                }
            ]
        }
    )


async def test_without_logs_and_metrics_they_are_unimplemented(services: Services) -> None:
    task_type = samples.PICKLE_TYPE
    created = await services.ours.tasks.CreateTask(create_request(task_type))
    request = agent_pb2.GetTaskLogsRequest(
        task_type=task_type, task_category=category(task_type), resource_meta=created.resource_meta
    )
    code, _ = await failure(_drain(services.ours.tasks.GetTaskLogs(request)))
    assert code == grpc.StatusCode.UNIMPLEMENTED


async def _drain(stream: Any) -> list[Any]:
    return [item async for item in stream]


async def test_a_flyteidl2_create_is_invalid_argument(services: Services) -> None:
    request = v2_connector_pb2.CreateTaskRequest(
        template=v2_tasks_pb2.TaskTemplate(type=samples.JOB_TYPE, task_type_version=0),
        output_prefix=OUTPUT_PREFIX,
    )
    assert await failure(services.ours.v2.CreateTask(request)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "task type fk_job@0 is served by flytekit's connector 'Job Connector' (bridged by "
        "connector-flytekit), which speaks flyteidl v1 only, as flytekit's own service does: send the task "
        "through Flyte 1 (propeller's AsyncAgentService or SyncAgentService), or serve it for Flyte 2 with a "
        "native or Flyte 2 connector",
    )
    assert samples.CALLS == []


async def test_a_pickled_meta_runs_as_flytekits_when_signed(services: Services) -> None:
    task_type = samples.PICKLE_TYPE
    created = await services.ours.tasks.CreateTask(create_request(task_type))
    done = (await services.ours.tasks.GetTask(get_request(task_type, created.resource_meta))).resource
    assert fields(done) == {"phase": "SUCCEEDED", "message": "batch batch_1 of org"}
