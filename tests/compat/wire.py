"""Requests as propeller and Flyte 2 send them, and answers reduced to what the tests compare.

Every call returns an ``Answer``: the gRPC status code and details, and the response when the
code is OK, so a test compares two services' answers field by field, errors included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from flyteidl.admin import agent_pb2
from flyteidl.core import identifier_pb2, literals_pb2, tasks_pb2
from flyteidl2.connector import connector_pb2
from google.protobuf import json_format

OUTPUT_PREFIX = "s3://compat-bucket/metadata/propeller/compat-development-a1/n0/data/0"


@dataclass
class Answer:
    """A gRPC call's outcome: ``code`` and ``details``, and ``response`` when the code is OK."""

    code: grpc.StatusCode
    details: str
    response: Any = None


def call(method: Callable[..., Any], request: Any) -> Answer:
    try:
        return Answer(grpc.StatusCode.OK, "", method(request, timeout=60))
    except grpc.RpcError as exc:
        return Answer(exc.code(), exc.details() or "")


def execution_metadata() -> agent_pb2.TaskExecutionMetadata:
    """The task execution metadata propeller sends with a task (its fields for one attempt)."""
    task_id = identifier_pb2.Identifier(
        resource_type=identifier_pb2.TASK, project="compat", domain="development", name="t", version="v1"
    )
    node = identifier_pb2.NodeExecutionIdentifier(
        node_id="n0",
        execution_id=identifier_pb2.WorkflowExecutionIdentifier(
            project="compat", domain="development", name="a1"
        ),
    )
    return agent_pb2.TaskExecutionMetadata(
        task_execution_id=identifier_pb2.TaskExecutionIdentifier(
            task_id=task_id, node_execution_id=node, retry_attempt=0
        ),
        namespace="compat-development",
        labels={"execution-id": "a1"},
        k8s_service_account="default",
        max_attempts=1,
    )


def template_of(data: bytes) -> tasks_pb2.TaskTemplate:
    return tasks_pb2.TaskTemplate.FromString(data)


def inputs_of(data: bytes) -> literals_pb2.LiteralMap:
    return literals_pb2.LiteralMap.FromString(data)


def execute_sync(stub: Any, template: bytes, inputs: bytes) -> Answer:
    """ExecuteTaskSync as propeller calls it: the header, then the inputs, on one stream."""
    header = agent_pb2.CreateRequestHeader(
        template=template_of(template),
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=execution_metadata(),
    )
    requests = [
        agent_pb2.ExecuteTaskSyncRequest(header=header),
        agent_pb2.ExecuteTaskSyncRequest(inputs=inputs_of(inputs)),
    ]
    try:
        responses = list(stub.ExecuteTaskSync(iter(requests), timeout=60))
    except grpc.RpcError as exc:
        return Answer(exc.code(), exc.details() or "")
    assert len(responses) == 1, responses
    assert responses[0].WhichOneof("res") == "header", responses[0]
    return Answer(grpc.StatusCode.OK, "", responses[0].header.resource)


def create_task(stub: Any, template: bytes, inputs: bytes) -> Answer:
    request = agent_pb2.CreateTaskRequest(
        template=template_of(template),
        inputs=inputs_of(inputs),
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=execution_metadata(),
    )
    return call(stub.CreateTask, request)


def get_task(stub: Any, meta: bytes, task_type: str) -> Answer:
    """GetTask as propeller sends it: the task type twice (the deprecated field and the category)."""
    request = agent_pb2.GetTaskRequest(
        task_type=task_type,
        task_category=agent_pb2.TaskCategory(name=task_type, version=0),
        resource_meta=meta,
        output_prefix=OUTPUT_PREFIX,
    )
    return call(stub.GetTask, request)


def delete_task(stub: Any, meta: bytes, task_type: str) -> Answer:
    request = agent_pb2.DeleteTaskRequest(
        task_type=task_type,
        task_category=agent_pb2.TaskCategory(name=task_type, version=0),
        resource_meta=meta,
    )
    return call(stub.DeleteTask, request)


def get_task_v2(stub: Any, meta: bytes, task_type: str) -> Answer:
    request = connector_pb2.GetTaskRequest(
        task_category=connector_pb2.TaskCategory(name=task_type, version=0),
        resource_meta=meta,
        output_prefix=OUTPUT_PREFIX,
    )
    return call(stub.GetTask, request)


def delete_task_v2(stub: Any, meta: bytes, task_type: str) -> Answer:
    request = connector_pb2.DeleteTaskRequest(
        task_category=connector_pb2.TaskCategory(name=task_type, version=0), resource_meta=meta
    )
    return call(stub.DeleteTask, request)


def resource_fields(resource: Any) -> dict[str, Any]:
    """A Resource's fields but its outputs, as JSON (unset fields left out), for a readable diff."""
    copy = type(resource)()
    copy.CopyFrom(resource)
    copy.ClearField("outputs")
    return json_format.MessageToDict(copy, preserving_proto_field_name=True)


def literal_shapes(literal_map: Any) -> dict[str, Any]:
    """How each output is encoded: the literal's kind down to the scalar's (and a Binary's tag)."""
    shapes: dict[str, Any] = {}
    for name, literal in literal_map.literals.items():
        kind = literal.WhichOneof("value")
        if kind == "scalar":
            scalar = literal.scalar.WhichOneof("value")
            shapes[name] = ("scalar", scalar, literal.scalar.binary.tag if scalar == "binary" else None)
        else:
            shapes[name] = (kind,)
    return shapes
