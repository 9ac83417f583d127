"""The bridged acme connectors side by side with Flyte 2's own connector service, over flyteidl2.

The same requests (a template Flyte 2 serialized, inputs Flyte 2 converted, a Connection with a
secret and configs) go to Flyte 2's servicers and to connector-core's service in this process; the
answers are compared field by field. What differs, on purpose, is asserted as it is and listed in
the README.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from connector_flyte import FlyteMeta, FlyteProvider
from flyteidl.admin import agent_pb2 as v1_agent_pb2
from flyteidl.core import tasks_pb2 as v1_tasks_pb2
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import connector_pb2
from flyteidl2.core.execution_pb2 import TaskExecution
from google.protobuf import json_format
from side_by_side import (
    OUTPUT_PREFIX,
    SECRET,
    Answer,
    Services,
    acme_task,
    call,
    category,
    connection,
    create_request,
)

from connector import ProvidedConnector
from connector.registry._signing import unwrap

OK = grpc.StatusCode.OK


@pytest.fixture
async def services(install: Callable[..., None]) -> AsyncIterator[Services]:
    install("acme")
    provider = FlyteProvider()
    connectors = [provider.load(p) for p in provider.provided() if isinstance(p, ProvidedConnector)]
    async with Services(connectors) as started:
        yield started


def flyte_bytes(signed: bytes) -> bytes:
    """The Flyte 2 meta inside a meta our service handed out (signed, then FlyteMeta's document)."""
    key_id, payload = unwrap(signed)
    assert key_id == "k1"
    return FlyteMeta.decode(payload).flyte_meta


def as_v1_links(resource: Any) -> Any:
    """A Resource with only the log-link fields connector.TaskLog carries (uri, name, the two flags)."""
    copy = type(resource)()
    copy.CopyFrom(resource)
    del copy.log_links[:]
    for link in resource.log_links:
        copy.log_links.add(
            uri=link.uri,
            name=link.name,
            ShowWhilePending=link.ShowWhilePending,
            HideOnceFinished=link.HideOnceFinished,
        )
    return copy


async def created(services: Services, state_dir: Path, **inputs: Any) -> tuple[bytes, bytes]:
    """CreateTask to both; each service's own resource meta."""
    template, literals = await acme_task(**inputs)
    flyte, ours = await services.both("CreateTask", create_request(template, literals, state_dir))
    assert (flyte.code, ours.code) == (OK, OK), (flyte.details, ours.details)
    return flyte.response.resource_meta, ours.response.resource_meta


async def get_both(services: Services, metas: tuple[bytes, bytes], state_dir: Path) -> tuple[Answer, Answer]:
    requests = [
        connector_pb2.GetTaskRequest(
            task_category=category(),
            resource_meta=meta,
            output_prefix=OUTPUT_PREFIX,
            connection=connection(state_dir),
        )
        for meta in metas
    ]
    return await call(services.flyte.GetTask, requests[0]), await call(services.mine.GetTask, requests[1])


async def test_create_passes_what_flyte2_passes(services: Services, state_dir: Path) -> None:
    """The same meta bytes: the same template, inputs, execution metadata and Connection arrived."""
    flyte_meta, our_meta = await created(services, state_dir)
    assert flyte_bytes(our_meta) == flyte_meta
    meta = json.loads(flyte_meta)
    assert meta == {
        "job_id": meta["job_id"],
        "warehouse": "wh-1",
        "total": 6,
        "greeting": "hello ada",
        "weight_sum": 1.75,
        "namespace": "acme-development",
        "token_sha": meta["token_sha"],
    }
    assert meta["token_sha"] is not None
    assert SECRET.encode() not in our_meta  # the connector keeps a digest; the secret stays in the request
    # The secret arrived as a keyword argument of its own; the configs in **kwargs.
    assert json.loads((state_dir / f"{meta['job_id']}.created").read_text()) == ["region", "state_dir"]


async def test_get_answers_as_flyte2_field_by_field(services: Services, state_dir: Path) -> None:
    metas = await created(services, state_dir)
    flyte, ours = await get_both(services, metas, state_dir)
    assert (flyte.code, ours.code) == (OK, OK), (flyte.details, ours.details)
    assert flyte.response.resource.phase == TaskExecution.RUNNING
    assert ours.response.resource == as_v1_links(flyte.response.resource)

    job_id = json.loads(metas[0])["job_id"]
    (state_dir / f"{job_id}.done").write_text("")
    flyte, ours = await get_both(services, metas, state_dir)
    assert (flyte.code, ours.code) == (OK, OK), (flyte.details, ours.details)
    resource = flyte.response.resource
    assert resource.phase == TaskExecution.SUCCEEDED
    assert [literal.name for literal in resource.outputs.literals] == [
        "total", "greeting", "weight_sum", "signed", "info"
    ]  # fmt: skip
    assert ours.response.resource.outputs == resource.outputs  # Flyte 2's own conversion, byte for byte
    assert ours.response.resource == as_v1_links(resource)
    assert json_format.MessageToDict(resource.custom_info) == {
        "job_id": job_id,
        "namespace": "acme-development",
        "kwargs": ["acme_token", "region"],  # get names state_dir; the secret comes in **kwargs here
    }


async def test_log_link_fields_connector_tasklog_lacks_are_dropped(
    services: Services, state_dir: Path
) -> None:
    """A difference: link_type, ready and icon_uri of a flyteidl2 TaskLog are not carried."""
    metas = await created(services, state_dir)
    flyte, ours = await get_both(services, metas, state_dir)
    (flyte_link,) = flyte.response.resource.log_links
    (our_link,) = ours.response.resource.log_links
    assert (flyte_link.ready, flyte_link.link_type, flyte_link.icon_uri) == (
        True,
        1,
        "https://acme.example/icon.png",
    )
    assert (our_link.ready, our_link.link_type, our_link.icon_uri) == (False, 0, "")


async def test_delete_as_flyte2(services: Services, state_dir: Path) -> None:
    flyte_meta, our_meta = await created(services, state_dir)
    job_id = json.loads(flyte_meta)["job_id"]
    for stub, meta in ((services.flyte, flyte_meta), (services.mine, our_meta)):
        request = connector_pb2.DeleteTaskRequest(
            task_category=category(), resource_meta=meta, connection=connection(state_dir)
        )
        (state_dir / f"{job_id}.deleted").unlink(missing_ok=True)
        answer = await call(stub.DeleteTask, request)
        assert (answer.code, answer.response) == (OK, connector_pb2.DeleteTaskResponse())
        assert (state_dir / f"{job_id}.deleted").read_text() == "deleted"


async def test_a_connector_error_is_internal_in_both(services: Services, state_dir: Path) -> None:
    """A difference in wording only: both INTERNAL with the connector's own message."""
    template, literals = await acme_task()
    request = create_request(template, literals, state_dir)
    request.connection.configs.pop("state_dir")
    flyte, ours = await services.both("CreateTask", request)
    assert (flyte.code, flyte.details) == (
        grpc.StatusCode.INTERNAL,
        "failed to create acme_job task with error:\n the Connection has no config 'state_dir', and "
        "ACME_STATE_DIR is not set.",
    )
    assert (ours.code, ours.details) == (
        grpc.StatusCode.INTERNAL,
        "create for task type acme_job@0 failed: ValueError: the Connection has no config 'state_dir', "
        "and ACME_STATE_DIR is not set",
    )


async def test_an_unknown_task_type_is_not_found_in_both(services: Services, state_dir: Path) -> None:
    request = connector_pb2.GetTaskRequest(task_category=category("nope"), resource_meta=b"{}")
    flyte, ours = await services.both("GetTask", request)
    assert (flyte.code, flyte.details) == (
        grpc.StatusCode.NOT_FOUND,
        "Cannot find connector for task type: nope.",
    )
    assert (ours.code, ours.details) == (
        grpc.StatusCode.NOT_FOUND,
        "no connector for task type 'nope' version 0 is installed",
    )


async def test_a_meta_flyte2_wrote_needs_the_opt_in(services: Services, state_dir: Path) -> None:
    flyte_meta, _ = await created(services, state_dir)
    request = connector_pb2.GetTaskRequest(task_category=category(), resource_meta=flyte_meta)
    answer = await call(services.mine.GetTask, request)
    assert (answer.code, answer.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the resource meta of task type acme_job@0 is not signed by this service; if another service wrote "
        "it before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it",
    )


async def test_a_switch_over_goes_on_with_flyte2s_meta(install: Callable[..., None], state_dir: Path) -> None:
    """A job Flyte 2's service created, polled and deleted by ours with CONNECTOR_ACCEPT_UNSIGNED_META=1."""
    install("acme")
    provider = FlyteProvider()
    connectors = [provider.load(p) for p in provider.provided() if isinstance(p, ProvidedConnector)]
    async with Services(connectors, {"CONNECTOR_ACCEPT_UNSIGNED_META": "1"}) as services:
        flyte_meta, _ = await created(services, state_dir)
        flyte, ours = await get_both(services, (flyte_meta, flyte_meta), state_dir)
        assert (ours.code, ours.response.resource) == (OK, as_v1_links(flyte.response.resource))
        request = connector_pb2.DeleteTaskRequest(
            task_category=category(), resource_meta=flyte_meta, connection=connection(state_dir)
        )
        assert (await call(services.mine.DeleteTask, request)).code == OK


async def test_garbled_meta(services: Services) -> None:
    """A difference: Flyte 2 runs its decode inside the call (INTERNAL); ours refuses it first."""
    request = connector_pb2.GetTaskRequest(task_category=category(), resource_meta=b"garbled")
    flyte, ours = await services.both("GetTask", request)
    assert (flyte.code, flyte.details) == (
        grpc.StatusCode.INTERNAL,
        "failed to get acme_job task with error:\n Expecting value: line 1 column 1 (char 0).",
    )
    assert ours.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_logs_stream_as_flyte2s_with_lines_as_text(services: Services, state_dir: Path) -> None:
    """Pages and tokens as Flyte 2 streams them; a body's structured lines arrive as text lines."""
    flyte_meta, our_meta = await created(services, state_dir)
    job_id = json.loads(flyte_meta)["job_id"]
    answers = []
    for stub, meta in ((services.flyte, flyte_meta), (services.mine, our_meta)):
        request = connector_pb2.GetTaskLogsRequest(task_category=category(), resource_meta=meta)
        answers.append([item async for item in stub.GetTaskLogs(request, timeout=30)])
    flyte, ours = answers
    header = connector_pb2.GetTaskLogsResponse(header=connector_pb2.GetTaskLogsResponseHeader(token="page-2"))
    assert flyte[0] == ours[0] == header
    assert [line.message for line in flyte[1].body.lines] == [f"job {job_id} started"]
    assert list(ours[1].body.results) == [f"job {job_id} started"]
    assert len(flyte) == len(ours) == 2

    paged = []
    for stub, meta in ((services.flyte, flyte_meta), (services.mine, our_meta)):
        request = connector_pb2.GetTaskLogsRequest(
            task_category=category(), resource_meta=meta, token="page-2"
        )
        paged.append([item async for item in stub.GetTaskLogs(request, timeout=30)])
    assert paged[0] == paged[1]
    assert list(paged[0][0].body.results) == ["page-2: job finished"]


async def test_metrics(services: Services, state_dir: Path) -> None:
    template, literals = await acme_task()
    template.type, template.task_type_version = "acme_report", 1
    flyte_create, our_create = await services.both(
        "CreateTask", create_request(template, literals, state_dir)
    )
    assert (flyte_create.code, our_create.code) == (OK, OK)
    flyte, ours = [
        await call(
            stub.GetTaskMetrics,
            connector_pb2.GetTaskMetricsRequest(
                task_category=category("acme_report", 1), resource_meta=answer.response.resource_meta
            ),
        )
        for stub, answer in ((services.flyte, flyte_create), (services.mine, our_create))
    ]
    assert (flyte.code, ours.code) == (OK, OK)
    assert (
        [r.metric for r in flyte.response.results]
        == [r.metric for r in ours.response.results]
        == ["rows_per_second"]
    )
    assert json_format.MessageToDict(flyte.response.results[0].data) == {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[1700000000.0, "1.5"], [1700000060.0, "2"]]}],
    }
    # A difference: values come back through connector.MetricSeries, as numbers written by the core.
    assert json_format.MessageToDict(ours.response.results[0].data) == {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[1700000000.0, "1.5"], [1700000060.0, "2.0"]]}],
    }


async def test_a_hook_the_connector_lacks(services: Services, state_dir: Path) -> None:
    """A difference: Flyte 2 lets NotImplementedError escape (UNKNOWN); ours says UNIMPLEMENTED."""
    flyte_meta, our_meta = await created(services, state_dir)
    flyte = await call(
        services.flyte.GetTaskMetrics,
        connector_pb2.GetTaskMetricsRequest(task_category=category(), resource_meta=flyte_meta),
    )
    ours = await call(
        services.mine.GetTaskMetrics,
        connector_pb2.GetTaskMetricsRequest(task_category=category(), resource_meta=our_meta),
    )
    assert flyte.code == grpc.StatusCode.UNKNOWN
    assert (ours.code, ours.details) == (
        grpc.StatusCode.UNIMPLEMENTED,
        "connector for task type acme_job@0 does not implement get_metrics",
    )


async def test_list_connectors(services: Services) -> None:
    flyte = await call(services.flyte_meta.ListConnectors, connector_pb2.ListConnectorsRequest())
    ours = await call(services.mine_meta.ListConnectors, connector_pb2.ListConnectorsRequest())
    assert (flyte.code, ours.code) == (OK, OK)
    assert json_format.MessageToDict(flyte.response) == {
        "connectors": [
            {
                "name": "Acme Connector",
                "supportedTaskCategories": [{"name": "acme_job"}, {"name": "acme_report", "version": 1}],
            }
        ]
    }
    assert ours.response == flyte.response


async def test_flyteidl_v1_is_refused(services: Services) -> None:
    """Flyte 2 connectors speak flyteidl2 only; a v1 CreateTask says so (INVALID_ARGUMENT)."""
    stub = agent_pb2_grpc.AsyncAgentServiceStub(services.channels[1])
    request = v1_agent_pb2.CreateTaskRequest(
        template=v1_tasks_pb2.TaskTemplate(type="acme_job"), output_prefix=OUTPUT_PREFIX
    )
    answer = await call(stub.CreateTask, request)
    assert (answer.code, answer.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "task type acme_job@0 is served by the Flyte 2 connector acme_flyte.connector.AcmeConnector "
        "(acme-flyte 1.0, entry point 'acme' (acme_flyte.connector:AcmeConnector) in group "
        "'flyte.connectors'), which takes flyteidl2 requests only, and this one is flyteidl v1; send it to "
        "AsyncConnectorService "
        "(flyteidl2), as Flyte 2 does, or serve flytekit's tasks of this type with a flytekit connector",
    )
