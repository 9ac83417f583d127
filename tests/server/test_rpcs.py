"""Every RPC of flyteidl v1 and flyteidl2 against an in-process service, through the generated stubs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, interface_pb2, types_pb2
from flyteidl2.connector import connector_pb2
from flyteidl2.core import interface_pb2 as interface2_pb2
from flyteidl2.core import security_pb2
from flyteidl2.core import types_pb2 as types2_pb2
from google.protobuf import duration_pb2, json_format, timestamp_pb2

from tests.server.conftest import (
    meta_json,
    v1_category,
    v1_inputs,
    v1_outputs,
    v1_template,
    v2_category,
    v2_inputs,
    v2_outputs,
    v2_template,
)


def _job_file(store: Path, resource_meta: bytes) -> dict[str, Any]:
    return json.loads((store / f"{meta_json(resource_meta)['job_id']}.json").read_text())  # type: ignore[no-any-return]


# flyteidl v1.


async def test_v1_create_get_delete_with_plain_hooks(start_service: Any, tmp_path: Path) -> None:
    running = await start_service()
    template = v1_template("filejob", custom={"store": str(tmp_path), "steps": 2})
    metadata = agent_pb2.TaskExecutionMetadata(namespace="flytesnacks-development")
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(
            template=template,
            inputs=v1_inputs(x=21, name="flyte"),
            output_prefix="s3://bucket/out",
            task_execution_metadata=metadata,
        )
    )
    job = _job_file(tmp_path, created.resource_meta)
    assert job["inputs"] == {"x": 21, "name": "flyte"}
    assert job["output_prefix"] == "s3://bucket/out"
    assert job["namespace"] == "flytesnacks-development"
    assert job["secrets"] == {}  # flyteidl v1 has no Connection

    request = agent_pb2.GetTaskRequest(
        task_category=v1_category("filejob"), resource_meta=created.resource_meta
    )
    first = (await running.v1.GetTask(request)).resource
    assert first.phase == execution_pb2.TaskExecution.RUNNING
    assert first.message == "poll 1"
    assert [(link.name, link.uri) for link in first.log_links] == [
        ("Console", f"https://console.example/jobs/{meta_json(created.resource_meta)['job_id']}")
    ]
    second = (await running.v1.GetTask(request)).resource
    assert second.phase == execution_pb2.TaskExecution.SUCCEEDED
    assert v1_outputs(second) == {"doubled": 42, "greeting": "hello flyte"}
    assert second.custom_info["polls"] == 2

    await running.v1.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=v1_category("filejob"), resource_meta=created.resource_meta)
    )
    assert not (tmp_path / f"{meta_json(created.resource_meta)['job_id']}.json").exists()
    # Delete is idempotent.
    await running.v1.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=v1_category("filejob"), resource_meta=created.resource_meta)
    )


async def test_v1_deprecated_task_type_field_still_routes(start_service: Any) -> None:
    running = await start_service()
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(template=v1_template("asleep"), inputs=v1_inputs(seconds=0))
    )
    response = await running.v1.GetTask(
        agent_pb2.GetTaskRequest(task_type="asleep", resource_meta=created.resource_meta)
    )
    assert response.resource.phase == execution_pb2.TaskExecution.SUCCEEDED


async def test_v1_async_hooks_and_typed_outputs(start_service: Any) -> None:
    running = await start_service()
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(
            template=v1_template("asleep", custom={"label": "nap"}), inputs=v1_inputs(seconds=0)
        )
    )
    assert meta_json(created.resource_meta)["label"] == "nap"
    response = await running.v1.GetTask(
        agent_pb2.GetTaskRequest(task_category=v1_category("asleep"), resource_meta=created.resource_meta)
    )
    assert v1_outputs(response.resource) == {"label": "nap", "ratio": 1}
    await running.v1.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=v1_category("asleep"), resource_meta=created.resource_meta)
    )


async def test_v1_get_task_logs_streams_every_chunk_from_a_plain_generator(
    start_service: Any, tmp_path: Path
) -> None:
    running = await start_service()
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(template=v1_template("filejob", custom={"store": str(tmp_path)}))
    )
    job_id = meta_json(created.resource_meta)["job_id"]
    stream = running.v1.GetTaskLogs(
        agent_pb2.GetTaskLogsRequest(
            task_category=v1_category("filejob"), resource_meta=created.resource_meta, token="5"
        )
    )
    parts = [
        (r.WhichOneof("part"), r.header.token if r.HasField("header") else list(r.body.results))
        async for r in stream
    ]
    assert parts == [
        ("header", "6"),
        ("body", [f"{job_id} line 5"]),
        ("header", "7"),
        ("body", [f"{job_id} line 6"]),
        ("header", "8"),
        ("body", [f"{job_id} line 7"]),
    ]


async def test_v1_get_task_logs_from_an_async_generator(start_service: Any) -> None:
    running = await start_service()
    created = await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("asleep")))
    stream = running.v1.GetTaskLogs(
        agent_pb2.GetTaskLogsRequest(task_category=v1_category("asleep"), resource_meta=created.resource_meta)
    )
    assert [list(r.body.results) async for r in stream] == [["sleep log 0"], ["sleep log 1"]]


async def test_v1_get_task_metrics(start_service: Any, tmp_path: Path) -> None:
    running = await start_service()
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(template=v1_template("filejob", custom={"store": str(tmp_path)}))
    )
    start = timestamp_pb2.Timestamp(seconds=1700000000)
    response = await running.v1.GetTaskMetrics(
        agent_pb2.GetTaskMetricsRequest(
            task_category=v1_category("filejob"),
            resource_meta=created.resource_meta,
            queries=["cpu", "memory"],
            start_time=start,
            end_time=timestamp_pb2.Timestamp(seconds=1700000060),
            step=duration_pb2.Duration(seconds=5),
        )
    )
    assert [r.metric for r in response.results] == ["cpu", "memory"]
    data = response.results[0].data
    assert data["resultType"] == "matrix"
    assert [list(v) for v in data["result"][0]["values"]] == [[1700000000.0, "0.0"], [1700000001.0, "1.0"]]


async def test_v1_execute_task_sync_with_typed_outputs(start_service: Any) -> None:
    running = await start_service()
    interface = interface_pb2.TypedInterface(
        inputs=interface_pb2.VariableMap(
            variables={
                "x": interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.SimpleType.INTEGER))
            }
        ),
        outputs=interface_pb2.VariableMap(
            variables={
                "y": interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.SimpleType.FLOAT))
            }
        ),
    )
    header = agent_pb2.CreateRequestHeader(
        template=v1_template("syncecho", custom={"tag": "t1"}, interface=interface), output_prefix="/tmp/out"
    )

    async def requests() -> Any:
        yield agent_pb2.ExecuteTaskSyncRequest(header=header)
        yield agent_pb2.ExecuteTaskSyncRequest(inputs=v1_inputs(x=4))

    responses = [r async for r in running.v1_sync.ExecuteTaskSync(requests())]
    assert len(responses) == 1
    resource = responses[0].header.resource
    assert resource.phase == execution_pb2.TaskExecution.SUCCEEDED
    assert resource.message == "echoed"
    # The interface declares y as a float: the int 8 is sent as a float literal.
    assert resource.outputs.literals["y"].scalar.primitive.WhichOneof("value") == "float_value"
    assert v1_outputs(resource) == {"y": 8.0, "tag": "t1"}


async def test_v1_execute_task_sync_with_an_async_do_and_no_inputs_message(start_service: Any) -> None:
    running = await start_service()

    async def requests() -> Any:
        yield agent_pb2.ExecuteTaskSyncRequest(
            header=agent_pb2.CreateRequestHeader(template=v1_template("asyncdo", 2))
        )

    responses = [r async for r in running.v1_sync.ExecuteTaskSync(requests())]
    assert v1_outputs(responses[0].header.resource) == {"n": 0}


async def test_v1_list_and_get_agents(start_service: Any) -> None:
    running = await start_service()
    listed = await running.v1_meta.ListAgents(agent_pb2.ListAgentsRequest())
    agents = {a.name: a for a in listed.agents}
    assert set(agents) == {
        "File job connector",
        "Sleep connector",
        "Sync echo",
        "Async do",
        "Blocking",
        "Failing",
    }
    assert agents["Sync echo"].is_sync
    assert not agents["File job connector"].is_sync
    assert [(c.name, c.version) for c in agents["Async do"].supported_task_categories] == [("asyncdo", 2)]
    assert list(agents["Async do"].supported_task_types) == ["asyncdo"]
    got = await running.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="Async do"))
    assert got.agent == agents["Async do"]


# flyteidl2.


async def test_v2_create_get_delete_pass_the_connection(start_service: Any, tmp_path: Path) -> None:
    running = await start_service()
    connection = security_pb2.Connection(secrets={"token": "s3cr3t"}, configs={"region": "eu-west-1"})
    created = await running.v2.CreateTask(
        connector_pb2.CreateTaskRequest(
            template=v2_template("filejob", custom={"store": str(tmp_path)}),
            inputs=v2_inputs(x=5, name="v2"),
            output_prefix="gs://b/o",
            task_execution_metadata=connector_pb2.TaskExecutionMetadata(namespace="ns2"),
            connection=connection,
        )
    )
    job = _job_file(tmp_path, created.resource_meta)
    assert job["secrets"] == {"token": "s3cr3t"}
    assert job["configs"] == {"region": "eu-west-1"}
    assert job["inputs"] == {"x": 5, "name": "v2"}

    got = await running.v2.GetTask(
        connector_pb2.GetTaskRequest(
            task_category=v2_category("filejob"),
            resource_meta=created.resource_meta,
            connection=security_pb2.Connection(secrets={"other": "x"}),
        )
    )
    assert got.resource.phase == execution_pb2.TaskExecution.SUCCEEDED
    assert v2_outputs(got.resource) == {"doubled": 10, "greeting": "hello v2"}
    assert list(got.resource.custom_info["get_secrets"]) == ["other"]
    assert got.resource.log_links[0].name == "Console"

    await running.v2.DeleteTask(
        connector_pb2.DeleteTaskRequest(
            task_category=v2_category("filejob"), resource_meta=created.resource_meta
        )
    )
    assert not list(tmp_path.glob("*.json"))


async def test_v2_typed_inputs_and_outputs(start_service: Any) -> None:
    running = await start_service()
    float_type = types2_pb2.LiteralType(simple=types2_pb2.SimpleType.FLOAT)
    interface = interface2_pb2.TypedInterface(
        inputs=interface2_pb2.VariableMap(
            variables=[
                interface2_pb2.VariableEntry(key="seconds", value=interface2_pb2.Variable(type=float_type))
            ]
        )
    )
    created = await running.v2.CreateTask(
        connector_pb2.CreateTaskRequest(
            template=v2_template("asleep", interface=interface), inputs=v2_inputs(seconds=0.0)
        )
    )
    got = await running.v2.GetTask(
        connector_pb2.GetTaskRequest(task_category=v2_category("asleep"), resource_meta=created.resource_meta)
    )
    assert v2_outputs(got.resource) == {"label": "", "ratio": 1}


async def test_v2_logs_and_metrics(start_service: Any, tmp_path: Path) -> None:
    running = await start_service()
    created = await running.v2.CreateTask(
        connector_pb2.CreateTaskRequest(template=v2_template("filejob", custom={"store": str(tmp_path)}))
    )
    stream = running.v2.GetTaskLogs(
        connector_pb2.GetTaskLogsRequest(
            task_category=v2_category("filejob"), resource_meta=created.resource_meta
        )
    )
    job_id = meta_json(created.resource_meta)["job_id"]
    parts = [
        (r.WhichOneof("part"), r.header.token if r.HasField("header") else list(r.body.results))
        async for r in stream
    ]
    assert parts == [
        ("header", "1"),
        ("body", [f"{job_id} line 0"]),
        ("header", "2"),
        ("body", [f"{job_id} line 1"]),
        ("header", "3"),
        ("body", [f"{job_id} line 2"]),
    ]
    metrics = await running.v2.GetTaskMetrics(
        connector_pb2.GetTaskMetricsRequest(
            task_category=v2_category("filejob"), resource_meta=created.resource_meta, queries=["q"]
        )
    )
    assert [r.metric for r in metrics.results] == ["q"]
    assert json_format.MessageToDict(metrics.results[0].data) == {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[1700000000.0, "0.0"], [1700000001.0, "1.0"]]}],
    }


async def test_v2_list_and_get_connectors(start_service: Any) -> None:
    running = await start_service()
    listed = await running.v2_meta.ListConnectors(connector_pb2.ListConnectorsRequest())
    by_name = {c.name: [(t.name, t.version) for t in c.supported_task_categories] for c in listed.connectors}
    assert by_name["Sleep connector"] == [("asleep", 0)]
    assert by_name["Async do"] == [("asyncdo", 2)]
    got = await running.v2_meta.GetConnector(connector_pb2.GetConnectorRequest(name="Sync echo"))
    assert [(t.name, t.version) for t in got.connector.supported_task_categories] == [("syncecho", 0)]


async def test_a_job_created_over_v1_is_served_over_v2(start_service: Any, tmp_path: Path) -> None:
    running = await start_service()
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(
            template=v1_template("filejob", custom={"store": str(tmp_path)}), inputs=v1_inputs(x=1)
        )
    )
    got = await running.v2.GetTask(
        connector_pb2.GetTaskRequest(
            task_category=v2_category("filejob"), resource_meta=created.resource_meta
        )
    )
    assert v2_outputs(got.resource)["doubled"] == 2


@pytest.mark.parametrize("literal_kind", ["v1", "v2"])
async def test_untyped_outputs_are_inferred(start_service: Any, tmp_path: Path, literal_kind: str) -> None:
    running = await start_service()
    stub, template, category, request_type = (
        (running.v1, v1_template, v1_category, agent_pb2)
        if literal_kind == "v1"
        else (running.v2, v2_template, v2_category, connector_pb2)
    )
    created = await stub.CreateTask(request_type.CreateTaskRequest(template=template("asleep")))
    got = await stub.GetTask(
        request_type.GetTaskRequest(task_category=category("asleep"), resource_meta=created.resource_meta)
    )
    outputs = got.resource.outputs
    literal = (
        outputs.literals["ratio"]
        if literal_kind == "v1"
        else next(n.value for n in outputs.literals if n.name == "ratio")
    )
    # No interface in GetTask: the int 1 is typed from its Python type.
    assert literal.scalar.primitive.WhichOneof("value") == "integer"
