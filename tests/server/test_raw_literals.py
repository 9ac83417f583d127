"""Raw literals through a real loopback service: a connector with ``raw_literals = True`` gets the
request's own literal map, and the literal map it returns is sent as it is (flyteidl v1 and flyteidl2).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import literals_pb2
from flyteidl2.connector import connector_pb2
from flyteidl2.core import literals_pb2 as literals2_pb2
from flyteidl2.task import common_pb2

from connector import AsyncConnector, Phase, Resource, ResourceMeta, SyncConnector, TaskTemplate
from connector.testing import registry_of
from tests.server.conftest import (
    v1_category,
    v1_inputs,
    v1_outputs,
    v1_template,
    v2_category,
    v2_inputs,
    v2_template,
)


@dataclasses.dataclass
class RawMeta(ResourceMeta):
    protocol: str
    answer: str = "same"


def v1_map(**values: int) -> literals_pb2.LiteralMap:
    literal_map = literals_pb2.LiteralMap()
    for name, value in values.items():
        literal_map.literals[name].scalar.primitive.integer = value
    return literal_map


def v2_outputs_of(**values: int) -> common_pb2.Outputs:
    outputs = common_pb2.Outputs()
    for name, value in values.items():
        literal = literals2_pb2.Literal()
        literal.scalar.primitive.integer = value
        outputs.literals.add(name=name, value=literal)
    return outputs


class RawJob(AsyncConnector):
    """Records what it gets; answers with the literal map of the protocol its meta names.

    The template's ``answer`` custom field picks the outputs of ``get``: ``same`` (the request's
    protocol), ``other`` (the other protocol's), ``dict`` (native values) or ``literal`` (a message that
    is no literal map).
    """

    task_type_name = "rawjob"
    metadata_type = RawMeta
    raw_literals = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[TaskTemplate, Any]] = []

    def create(self, task_template: TaskTemplate, inputs: Any) -> RawMeta:
        self.received.append((task_template, inputs))
        protocol = "v1" if isinstance(inputs, literals_pb2.LiteralMap) else "v2"
        return RawMeta(protocol, task_template.custom.get("answer", "same"))

    def get(self, resource_meta: RawMeta) -> Resource:
        answer, protocol = resource_meta.answer, resource_meta.protocol
        outputs: Any
        if answer == "dict":
            outputs = {"y": 7}
        elif answer == "literal":
            outputs = literals_pb2.Literal()
        elif (protocol == "v1") == (answer == "same"):
            outputs = v1_map(y=7)
        else:
            outputs = v2_outputs_of(y=7)
        return Resource(Phase.SUCCEEDED, outputs=outputs)

    def delete(self) -> None:
        return None


class RawEcho(SyncConnector):
    """Answers with the literal map it got, plus one literal of its own."""

    task_type_name = "rawecho"
    raw_literals = True

    def do(self, task_template: TaskTemplate, inputs: Any) -> Resource:
        outputs = literals_pb2.LiteralMap()
        outputs.CopyFrom(inputs)
        outputs.literals["template_type"].scalar.primitive.string_value = task_template.raw.type
        return Resource(Phase.SUCCEEDED, outputs=outputs)


class NotRaw(SyncConnector):
    """Returns a literal map without saying it takes raw literals."""

    task_type_name = "notraw"

    def do(self) -> Resource:
        return Resource(Phase.SUCCEEDED, outputs=v1_map(y=1))


@pytest.fixture
def raw_job() -> RawJob:
    return RawJob()


@pytest.fixture
async def running(start_service: Any, raw_job: RawJob) -> Any:
    return await start_service(registry_of(raw_job, RawEcho, NotRaw))


async def test_v1_the_hook_gets_the_requests_own_messages(running: Any, raw_job: RawJob) -> None:
    template = v1_template("rawjob")
    inputs = v1_inputs(x=3, name="flyte")
    # An offloaded literal: the codec cannot decode it, a raw connector gets it all the same.
    inputs.literals["big"].offloaded_metadata.uri = "s3://bucket/big.pb"
    created = await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=template, inputs=inputs))
    ((task_template, received),) = raw_job.received
    assert type(received) is literals_pb2.LiteralMap
    assert received == inputs
    assert task_template.raw == template
    got = await running.v1.GetTask(
        agent_pb2.GetTaskRequest(task_category=v1_category("rawjob"), resource_meta=created.resource_meta)
    )
    assert got.resource.outputs == v1_map(y=7)


async def test_v2_the_hook_gets_the_requests_own_messages(running: Any, raw_job: RawJob) -> None:
    template = v2_template("rawjob")
    inputs = v2_inputs(x=3)
    created = await running.v2.CreateTask(connector_pb2.CreateTaskRequest(template=template, inputs=inputs))
    ((task_template, received),) = raw_job.received
    assert type(received) is common_pb2.Inputs
    assert received == inputs
    assert task_template.raw == template
    got = await running.v2.GetTask(
        connector_pb2.GetTaskRequest(task_category=v2_category("rawjob"), resource_meta=created.resource_meta)
    )
    assert got.resource.outputs == v2_outputs_of(y=7)


async def test_v1_sync_the_literal_map_goes_back_as_it_is(running: Any) -> None:
    header = agent_pb2.CreateRequestHeader(template=v1_template("rawecho"))
    requests = [
        agent_pb2.ExecuteTaskSyncRequest(header=header),
        agent_pb2.ExecuteTaskSyncRequest(inputs=v1_inputs(x=5)),
    ]
    answers = [answer async for answer in running.v1_sync.ExecuteTaskSync(iter(requests))]
    assert v1_outputs(answers[0].header.resource) == {"x": 5, "template_type": "rawecho"}


async def test_native_outputs_of_a_raw_connector_still_go_through_the_codec(running: Any) -> None:
    created = await running.v1.CreateTask(
        agent_pb2.CreateTaskRequest(template=v1_template("rawjob", custom={"answer": "dict"}))
    )
    got = await running.v1.GetTask(
        agent_pb2.GetTaskRequest(task_category=v1_category("rawjob"), resource_meta=created.resource_meta)
    )
    assert v1_outputs(got.resource) == {"y": 7}


async def _get_fails(running: Any, protocol: str, answer: str) -> tuple[grpc.StatusCode, str]:
    if protocol == "v1":
        created = await running.v1.CreateTask(
            agent_pb2.CreateTaskRequest(template=v1_template("rawjob", custom={"answer": answer}))
        )
        request: Any = agent_pb2.GetTaskRequest(
            task_category=v1_category("rawjob"), resource_meta=created.resource_meta
        )
        stub = running.v1
    else:
        created = await running.v2.CreateTask(
            connector_pb2.CreateTaskRequest(template=v2_template("rawjob", custom={"answer": answer}))
        )
        request = connector_pb2.GetTaskRequest(
            task_category=v2_category("rawjob"), resource_meta=created.resource_meta
        )
        stub = running.v2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTask(request)
    return caught.value.code(), caught.value.details()


WHO = "task type rawjob@0 from registered connector RawJob"


@pytest.mark.parametrize(
    ("protocol", "message"),
    [
        (
            "v1",
            f"{WHO}: get returned outputs of type flyteidl2.task.Outputs, but this request speaks flyteidl "
            "v1, whose outputs are a flyteidl.core.LiteralMap; return the literal map of the request's "
            "protocol (the type of the inputs it was given tells which)",
        ),
        (
            "v2",
            f"{WHO}: get returned outputs of type flyteidl.core.LiteralMap, but this request speaks "
            "flyteidl2, whose outputs are a flyteidl2.task.Outputs; return the literal map of the request's "
            "protocol (the type of the inputs it was given tells which)",
        ),
    ],
)
async def test_a_literal_map_of_the_other_protocol_is_refused(
    running: Any, protocol: str, message: str
) -> None:
    assert await _get_fails(running, protocol, "other") == (grpc.StatusCode.INTERNAL, message)


async def test_a_message_that_is_no_literal_map_is_refused(running: Any) -> None:
    assert await _get_fails(running, "v1", "literal") == (
        grpc.StatusCode.INTERNAL,
        f"{WHO}: get returned outputs of type flyteidl.core.Literal; a raw-literals connector returns a "
        "dict, a flyteidl.core.LiteralMap (flyteidl v1) or a flyteidl2.task.Outputs (flyteidl2)",
    )


async def test_a_connector_without_raw_literals_may_not_return_a_literal_map(running: Any) -> None:
    header = agent_pb2.CreateRequestHeader(template=v1_template("notraw"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [
            a
            async for a in running.v1_sync.ExecuteTaskSync(
                iter([agent_pb2.ExecuteTaskSyncRequest(header=header)])
            )
        ]
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INTERNAL,
        "task type notraw@0 from registered connector NotRaw: do returned outputs of type "
        "flyteidl.core.LiteralMap, a protocol message, which only a connector with raw_literals = True may "
        "return; return a dict of output names to values",
    )
