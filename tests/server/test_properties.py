"""Property test: random and corrupted requests never kill the server and never get INTERNAL or UNKNOWN."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import literals_pb2, tasks_pb2, types_pb2
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import connector_pb2, service_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connector
from connector.testing import registry_of
from tests.server.conftest import serving_in_thread

# Codes that would say "the server broke" for what is only a client's mistake.
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE}


@dataclasses.dataclass
class Tolerant(connector.ResourceMeta):
    """A meta with fields of several types, so decoding has something to refuse."""

    count: int
    tags: list[str] = dataclasses.field(default_factory=list)
    when: dt.datetime | None = None


class TolerantConnector(connector.AsyncConnector):
    """Accepts any template and any inputs: every failure left is the service's own."""

    name = "Tolerant"
    task_type_name = "tolerant"
    metadata_type = Tolerant

    async def create(self, inputs):
        return Tolerant(count=len(inputs), tags=sorted(inputs))

    def get(self, resource_meta):
        return connector.Resource(phase=connector.Phase.SUCCEEDED, outputs={"count": resource_meta.count})

    async def delete(self, resource_meta):
        return None

    def get_logs(self, resource_meta):
        return ["line"]

    async def get_metrics(self, resource_meta):
        return []


class TolerantSync(connector.SyncConnector):
    """A sync connector that accepts anything."""

    name = "Tolerant sync"
    task_type_name = "tolerant-sync"
    task_type_version = 1

    def do(self, inputs):
        return connector.Resource(phase=connector.Phase.SUCCEEDED, outputs={"count": len(inputs)})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A service in a thread of its own, for the synchronous stubs hypothesis drives."""
    with serving_in_thread(
        registry_of(TolerantConnector, TolerantSync), prometheus_port=0, timeout=10
    ) as address:
        yield address


@pytest.fixture(scope="module")
def channel(server: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server) as channel:
        yield channel


def _code(call: Any) -> grpc.StatusCode:
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "SerializeToString"):
            list(result)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _alive(channel: grpc.Channel) -> None:
    agents = agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(
        agent_pb2.ListAgentsRequest(), timeout=10
    )
    assert {a.name for a in agents.agents} == {"Tolerant", "Tolerant sync"}


METHODS = [
    ("/flyteidl.service.AsyncAgentService/CreateTask", "unary"),
    ("/flyteidl.service.AsyncAgentService/GetTask", "unary"),
    ("/flyteidl.service.AsyncAgentService/DeleteTask", "unary"),
    ("/flyteidl.service.AsyncAgentService/GetTaskMetrics", "unary"),
    ("/flyteidl.service.AsyncAgentService/GetTaskLogs", "server_stream"),
    ("/flyteidl.service.SyncAgentService/ExecuteTaskSync", "bidi"),
    ("/flyteidl.service.AgentMetadataService/GetAgent", "unary"),
    ("/flyteidl2.connector.AsyncConnectorService/CreateTask", "unary"),
    ("/flyteidl2.connector.AsyncConnectorService/GetTask", "unary"),
    ("/flyteidl2.connector.AsyncConnectorService/DeleteTask", "unary"),
    ("/flyteidl2.connector.AsyncConnectorService/GetTaskMetrics", "unary"),
    ("/flyteidl2.connector.AsyncConnectorService/GetTaskLogs", "server_stream"),
    ("/flyteidl2.connector.ConnectorMetadataService/GetConnector", "unary"),
]

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(method=st.sampled_from(METHODS), payloads=st.lists(st.binary(max_size=120), min_size=1, max_size=3))
def test_random_request_bytes(channel: grpc.Channel, method: tuple[str, str], payloads: list[bytes]) -> None:
    path, kind = method
    if kind == "unary":
        code = _code(lambda: channel.unary_unary(path)(payloads[0], timeout=10))
    elif kind == "server_stream":
        code = _code(lambda: channel.unary_stream(path)(payloads[0], timeout=10))
    else:
        code = _code(lambda: channel.stream_stream(path)(iter(payloads), timeout=10))
    assert code not in SERVER_FAULTS


CATEGORY_NAMES = st.sampled_from(
    ["tolerant", "tolerant-sync", "", "TOLERANT", "tolerant\x00", "x" * 300]
) | st.text(max_size=20)
VERSIONS = st.sampled_from([0, 1, 2, -1, 2**31 - 1])


def _corruptions(good: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.just(good),
        st.binary(max_size=200),
        st.integers(0, max(len(good) - 1, 0)).map(lambda n: good[:n]),
        st.tuples(st.integers(0, len(good) - 1), st.integers(1, 255)).map(
            lambda t: good[: t[0]] + bytes([good[t[0]] ^ t[1]]) + good[t[0] + 1 :]
        ),
        st.sampled_from(
            [
                b'{"v": 1}',
                b'{"v": 1, "data": []}',
                b'{"v": true, "data": {}}',
                b'{"v": 1, "data": {"count": "3"}}',
                b'{"v": 1, "data": {"count": 1, "when": "yesterday"}}',
                b"null",
                b"[]",
                b'{"v": 1, "data": {"count": 1e999}}',
            ]
        ),
    )


GOOD_META = Tolerant(count=2, tags=["a"], when=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)).encode()


@PROPERTY_SETTINGS
@given(
    name=CATEGORY_NAMES,
    version=VERSIONS,
    meta=_corruptions(GOOD_META),
    legacy=st.booleans(),
    v2=st.booleans(),
    which=st.sampled_from(["get", "delete", "logs", "metrics"]),
)
def test_corrupted_resource_meta_and_categories(
    channel: grpc.Channel, name: str, version: int, meta: bytes, legacy: bool, v2: bool, which: str
) -> None:
    if v2:
        stub: Any = service_pb2_grpc.AsyncConnectorServiceStub(channel)
        messages: Any = connector_pb2
        category = {"task_category": connector_pb2.TaskCategory(name=name, version=version)}
    else:
        stub = agent_pb2_grpc.AsyncAgentServiceStub(channel)
        messages = agent_pb2
        category = (
            {"task_type": name}
            if legacy
            else {"task_category": agent_pb2.TaskCategory(name=name, version=version)}
        )
    calls = {
        "get": lambda: stub.GetTask(messages.GetTaskRequest(resource_meta=meta, **category), timeout=10),
        "delete": lambda: stub.DeleteTask(
            messages.DeleteTaskRequest(resource_meta=meta, **category), timeout=10
        ),
        "logs": lambda: stub.GetTaskLogs(
            messages.GetTaskLogsRequest(resource_meta=meta, **category), timeout=10
        ),
        "metrics": lambda: stub.GetTaskMetrics(
            messages.GetTaskMetricsRequest(resource_meta=meta, **category), timeout=10
        ),
    }
    assert _code(calls[which]) not in SERVER_FAULTS


def _literal(draw: Any, depth: int = 0) -> literals_pb2.Literal:
    literal = literals_pb2.Literal()
    kind = draw(
        st.sampled_from(
            ["int", "float", "str", "bool", "datetime", "duration", "none", "blob", "list", "map", "empty"]
        )
    )
    primitive = literal.scalar.primitive
    if kind == "int":
        primitive.integer = draw(st.integers(-(2**63), 2**63 - 1))
    elif kind == "float":
        primitive.float_value = draw(st.floats(allow_nan=True, allow_infinity=True))
    elif kind == "str":
        primitive.string_value = draw(st.text(max_size=30))
    elif kind == "bool":
        primitive.boolean = draw(st.booleans())
    elif kind == "datetime":
        primitive.datetime.seconds = draw(st.integers(-(2**40), 2**40))
        primitive.datetime.nanos = draw(st.integers(-(2**31), 2**31 - 1))
    elif kind == "duration":
        primitive.duration.seconds = draw(st.integers(-(2**40), 2**40))
        primitive.duration.nanos = draw(st.integers(-(2**31), 2**31 - 1))
    elif kind == "none":
        literal.scalar.none_type.SetInParent()
    elif kind == "blob":
        literal.scalar.blob.uri = draw(st.text(max_size=30))
        literal.scalar.blob.metadata.type.dimensionality = draw(st.sampled_from([0, 1, 7]))
    elif kind == "list" and depth < 3:
        for _ in range(draw(st.integers(0, 3))):
            literal.collection.literals.append(_literal(draw, depth + 1))
    elif kind == "map" and depth < 3:
        for key in draw(st.lists(st.text(max_size=5), max_size=3)):
            literal.map.literals[key].CopyFrom(_literal(draw, depth + 1))
    return literal


SIMPLE_TYPES = list(types_pb2.SimpleType.values())


@st.composite
def literal_types(draw: Any, depth: int = 0) -> types_pb2.LiteralType:
    kind = draw(st.sampled_from(["simple", "simple", "list", "map", "union", "blob", "empty"]))
    literal_type = types_pb2.LiteralType()
    if kind == "simple":
        literal_type.simple = draw(st.sampled_from([*SIMPLE_TYPES, 99]))
    elif kind == "list" and depth < 2:
        literal_type.collection_type.CopyFrom(draw(literal_types(depth + 1)))
    elif kind == "map" and depth < 2:
        literal_type.map_value_type.CopyFrom(draw(literal_types(depth + 1)))
    elif kind == "union" and depth < 2:
        for variant in draw(st.lists(literal_types(depth + 1), max_size=3)):
            literal_type.union_type.variants.append(variant)
    elif kind == "blob":
        literal_type.blob.dimensionality = draw(st.sampled_from([0, 1, 5]))
    return literal_type


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@PROPERTY_SETTINGS
@given(data=st.data(), sync=st.booleans(), with_interface=st.booleans())
def test_random_templates_and_inputs(
    channel: grpc.Channel, data: Any, sync: bool, with_interface: bool
) -> None:
    names = data.draw(st.lists(st.text(max_size=6), max_size=4, unique=True))
    inputs = literals_pb2.LiteralMap()
    for name in names:
        inputs.literals[name].CopyFrom(_literal(data.draw))
    template = tasks_pb2.TaskTemplate(
        type="tolerant-sync" if sync else data.draw(st.sampled_from(["tolerant", "tolerant-sync"])),
        task_type_version=1 if sync else data.draw(VERSIONS),
    )
    template.custom.update(data.draw(st.dictionaries(st.text(max_size=5), JSON, max_size=4)))
    if with_interface:
        for name in names + data.draw(st.lists(st.text(max_size=4), max_size=2)):
            template.interface.inputs.variables[name].type.CopyFrom(data.draw(literal_types()))
        for name in data.draw(st.lists(st.sampled_from(["count", "other"]), max_size=2)):
            template.interface.outputs.variables[name].type.CopyFrom(data.draw(literal_types()))
    declares_count = "count" in template.interface.outputs.variables
    if sync:
        stub = agent_pb2_grpc.SyncAgentServiceStub(channel)
        requests = [
            agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(template=template)),
            agent_pb2.ExecuteTaskSyncRequest(inputs=inputs),
        ]
        code = _code(lambda: stub.ExecuteTaskSync(iter(requests), timeout=10))
        # An output type the connector's int does not fit is the connector's failure, rightly INTERNAL.
        if code is grpc.StatusCode.INTERNAL and declares_count:
            return
    else:
        stub_v1 = agent_pb2_grpc.AsyncAgentServiceStub(channel)
        code = _code(
            lambda: stub_v1.CreateTask(
                agent_pb2.CreateTaskRequest(template=template, inputs=inputs), timeout=10
            )
        )
    assert code not in SERVER_FAULTS


def test_server_is_alive_after_the_properties(channel: grpc.Channel) -> None:
    _alive(channel)
