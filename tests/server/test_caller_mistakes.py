"""A caller's mistake is INVALID_ARGUMENT naming what is wrong, never INTERNAL (issue 9), in both protocols.

Each case goes through a loopback server and the generated stubs; the property tests at the end send
hostile but well-formed requests to connectors that never raise, so any INTERNAL would be the service's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import tasks_pb2
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import connector_pb2, service_pb2_grpc
from flyteidl2.core import tasks_pb2 as tasks2_pb2
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import connector
from connector.testing import registry_of
from tests.server.conftest import serving_in_thread
from tests.support.metas import signed

PROTOCOLS = ("v1", "v2")
# Codes that would say "the server broke" for what is only a caller's mistake.
SERVER_FAULTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE}


@dataclasses.dataclass
class Reading(connector.ResourceMeta):
    """A meta with a float field: what NaN and Infinity would decode into if decode let them."""

    value: float = 0.0


#: What the connectors were called with, for the cases that check a value arrives unchanged.
calls: list[tuple[str, Any]] = []


class Recorder(connector.AsyncConnector):
    """Accepts anything and never raises: any failure left is the service's own."""

    name = "Recorder"
    task_type_name = "recorder"
    metadata_type = Reading

    async def create(self, task_template, inputs, task_execution_metadata, output_prefix, connection):
        calls.append(("create", inputs))
        return Reading(1.5)

    def get(self, resource_meta):
        calls.append(("get", resource_meta))
        return connector.Resource(phase=connector.Phase.RUNNING, message=f"value={resource_meta.value}")

    def delete(self, resource_meta):
        calls.append(("delete", resource_meta))

    def get_logs(self, resource_meta, token):
        calls.append(("get_logs", token))
        return ["line"]

    def get_metrics(self, resource_meta, queries, start_time, end_time, step):
        calls.append(("get_metrics", (start_time, end_time, step)))
        return []


class SyncRecorder(connector.SyncConnector):
    """A sync connector that accepts anything and returns no outputs."""

    name = "Sync recorder"
    task_type_name = "sync-recorder"

    def do(self, task_template, inputs):
        calls.append(("do", inputs))
        return connector.Resource(phase=connector.Phase.SUCCEEDED)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A service in a thread of its own, for the synchronous stubs hypothesis drives."""
    registry = registry_of(Recorder, SyncRecorder)
    with serving_in_thread(registry, prometheus_port=None, timeout=10) as address:
        yield address


@dataclasses.dataclass
class Client:
    """Stubs of both protocols on one channel, and each protocol's messages."""

    channel: grpc.Channel

    def stub(self, protocol: str) -> Any:
        if protocol == "v1":
            return agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        return service_pb2_grpc.AsyncConnectorServiceStub(self.channel)

    @property
    def sync(self) -> Any:
        return agent_pb2_grpc.SyncAgentServiceStub(self.channel)


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[Client]:
    with grpc.insecure_channel(server) as channel:
        yield Client(channel)


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    calls.clear()


def _messages(protocol: str) -> Any:
    return agent_pb2 if protocol == "v1" else connector_pb2


def _tasks(protocol: str) -> Any:
    return tasks_pb2 if protocol == "v1" else tasks2_pb2


def _category(protocol: str, name: str = "recorder") -> Any:
    return _messages(protocol).TaskCategory(name=name, version=0)


def _code(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """The status code and message a call ends with (a stream is read to its end)."""
    try:
        result = call()
        if not hasattr(result, "SerializeToString"):
            list(result)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


def _good_meta() -> bytes:
    # Signed when used: the session's key lives under CONNECTOR_HOME, which a fixture sets.
    return signed("recorder", Reading(2.0))


# GetTaskMetrics: start_time, end_time and step outside their types' ranges.

TIMESTAMP_RANGE = "the datetime is outside the range of a timestamp (years 1 to 9999)"
DURATION_RANGE = "the duration is outside the range of a duration (10000 years)"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("field", "seconds", "nanos", "reason"),
    [
        ("start_time", 2**40, 0, f"{TIMESTAMP_RANGE} (seconds=1099511627776, nanos=0)"),
        ("start_time", -(2**63), 0, f"{TIMESTAMP_RANGE} (seconds=-9223372036854775808, nanos=0)"),
        ("end_time", 0, -1, f"{TIMESTAMP_RANGE} (seconds=0, nanos=-1)"),
        ("end_time", 253402300800, 0, f"{TIMESTAMP_RANGE} (seconds=253402300800, nanos=0)"),
        ("end_time", 0, 10**9, f"{TIMESTAMP_RANGE} (seconds=0, nanos=1000000000)"),
        ("step", 2**62, 0, f"{DURATION_RANGE} (seconds=4611686018427387904, nanos=0)"),
        ("step", -(2**63), 0, f"{DURATION_RANGE} (seconds=-9223372036854775808, nanos=0)"),
        # ToTimedelta read this as 3.147 seconds: nanos past a second are no duration.
        ("step", 1, 2**31 - 1, f"{DURATION_RANGE} (seconds=1, nanos=2147483647)"),
    ],
    ids=[
        "start-late",
        "start-min",
        "end-nanos",
        "end-late",
        "end-nanos-big",
        "step-long",
        "step-min",
        "step-nanos",
    ],
)
def test_metrics_times_out_of_range_are_invalid(
    client: Client, protocol: str, field: str, seconds: int, nanos: int, reason: str
) -> None:
    request = _messages(protocol).GetTaskMetricsRequest(
        task_category=_category(protocol), resource_meta=_good_meta(), queries=["cpu"]
    )
    getattr(request, field).seconds = seconds
    getattr(request, field).nanos = nanos
    assert _code(lambda: client.stub(protocol).GetTaskMetrics(request, timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request's {field} is out of range: {reason}",
    )
    assert calls == []  # refused before the connector runs


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metrics_times_at_the_ends_of_their_ranges_reach_the_connector(client: Client, protocol: str) -> None:
    request = _messages(protocol).GetTaskMetricsRequest(
        task_category=_category(protocol), resource_meta=_good_meta()
    )
    request.start_time.seconds = -62135596800  # 0001-01-01T00:00:00Z
    request.end_time.seconds, request.end_time.nanos = 253402300799, 999_999_999
    request.step.seconds, request.step.nanos = -315576000000, -999_999_999
    client.stub(protocol).GetTaskMetrics(request, timeout=10)
    utc = dt.timezone.utc
    assert calls == [
        (
            "get_metrics",
            (
                dt.datetime(1, 1, 1, tzinfo=utc),
                dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=utc),
                -dt.timedelta(seconds=315576000000, microseconds=999999),
            ),
        )
    ]


# Resource metas that hold NaN or an infinity: encode never writes them, so decode refuses them.


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e999", "the number 1e999 is out of a float's range"),
    ],
)
def test_a_meta_with_nan_or_infinity_is_invalid(
    client: Client, protocol: str, number: str, reason: str
) -> None:
    meta = signed("recorder", b'{"data":{"value":%s},"v":1}' % number.encode())
    request = _messages(protocol).GetTaskRequest(task_category=_category(protocol), resource_meta=meta)
    assert _code(lambda: client.stub(protocol).GetTask(request, timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the resource meta is not one task type recorder@0 wrote: cannot decode Reading: {reason}; "
        "encode never writes NaN or infinite numbers",
    )
    assert calls == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_meta_with_finite_numbers_still_decodes(client: Client, protocol: str) -> None:
    meta = signed("recorder", b'{"data":{"value":-1.5e308},"v":1}')
    request = _messages(protocol).GetTaskRequest(task_category=_category(protocol), resource_meta=meta)
    assert client.stub(protocol).GetTask(request, timeout=10).resource.message == "value=-1.5e+308"


# Template metadata with a Duration out of range. An unusual field (here an enum value no name has)
# sends the whole metadata through json_format, whose error is no ValueError: that was INTERNAL.

NANOS_RANGE = "Duration is not valid: Nanos -2147483648 must be in range [-999999999, 999999999]."
METADATA_CASES = [
    pytest.param(
        {"runtime": {"type": 7}, "timeout": {"nanos": -(2**31)}},
        f"Failed to serialize timeout field: {NANOS_RANGE}",
        id="json_format-nanos",
    ),
    pytest.param(
        {"runtime": {"type": 7}, "timeout": {"seconds": 1, "nanos": -1}},
        "Failed to serialize timeout field: Duration is not valid: Sign mismatch.",
        id="json_format-sign",
    ),
    # Without one the fields are read directly: the same message, naming the field too.
    pytest.param(
        {"timeout": {"nanos": -(2**31)}}, f"Failed to serialize timeout field: {NANOS_RANGE}", id="nanos"
    ),
    pytest.param(
        {"timeout": {"seconds": 2**62}},
        "Failed to serialize timeout field: Duration is not valid: Seconds 4611686018427387904 must be "
        "in range [-315576000000, 315576000000].",
        id="seconds",
    ),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("metadata", "reason"), METADATA_CASES)
def test_template_metadata_with_a_duration_out_of_range_is_invalid(
    client: Client, protocol: str, metadata: dict[str, Any], reason: str
) -> None:
    tasks = _tasks(protocol)
    template = tasks.TaskTemplate(type="recorder", metadata=tasks.TaskMetadata(**metadata))
    request = _messages(protocol).CreateTaskRequest(template=template)
    assert _code(lambda: client.stub(protocol).CreateTask(request, timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the task template's metadata cannot be read: {reason}",
    )
    assert calls == []


@pytest.mark.parametrize(("metadata", "reason"), METADATA_CASES)
def test_execute_task_sync_template_metadata_with_a_duration_out_of_range_is_invalid(
    client: Client, metadata: dict[str, Any], reason: str
) -> None:
    template = tasks_pb2.TaskTemplate(type="sync-recorder", metadata=tasks_pb2.TaskMetadata(**metadata))
    requests = [agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(template=template))]
    assert _code(lambda: client.sync.ExecuteTaskSync(iter(requests), timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the task template's metadata cannot be read: {reason}",
    )
    assert calls == []


def test_v2_cache_max_age_out_of_range_is_invalid(client: Client) -> None:
    metadata = tasks2_pb2.TaskMetadata(runtime={"type": 7}, cache_max_age={"nanos": -(2**31)})
    request = connector_pb2.CreateTaskRequest(
        template=tasks2_pb2.TaskTemplate(type="recorder", metadata=metadata)
    )
    assert _code(lambda: client.stub("v2").CreateTask(request, timeout=10)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the task template's metadata cannot be read: "
        f"Failed to serialize cache_max_age field: {NANOS_RANGE}",
    )


# Properties: hostile but well-formed requests never get INTERNAL from connectors that never raise.

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_INT_RANGES = {
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
}
TEXTS = st.text(max_size=8) | st.sampled_from(["", "\x00", "NaN", "{{.input}}", "a/b", "x" * 300])
# Deep enough to reach a template's metadata durations, literal collections and struct values.
MAX_FILL_DEPTH = 7


def _scalar(draw: Callable[..., Any], field: Any) -> Any:
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return draw(st.sampled_from([low, high, 0, max(low, -1)]) | st.integers(low, high))
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return draw(st.floats())
    if kind == FieldDescriptor.TYPE_FLOAT:
        return draw(st.floats(width=32))
    if kind == FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    if kind == FieldDescriptor.TYPE_STRING:
        return draw(TEXTS)
    if kind == FieldDescriptor.TYPE_BYTES:
        return draw(st.binary(max_size=8))
    assert kind == FieldDescriptor.TYPE_ENUM, kind
    # The IDLs' enums are open (proto3): a number no value names is well-formed.
    return draw(st.sampled_from([value.number for value in field.enum_type.values] + [99]))


def _fill(draw: Callable[..., Any], message: Any, depth: int = 0) -> Any:
    """Set a random choice of ``message``'s fields, recursively, to hostile values of their types."""
    if depth > MAX_FILL_DEPTH:
        return message
    for field in message.DESCRIPTOR.fields:
        if not draw(st.booleans()):
            continue
        value = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = (
                field.message_type.fields_by_name["key"],
                field.message_type.fields_by_name["value"],
            )
            for _ in range(draw(st.integers(0, 2))):
                key = _scalar(draw, key_field)
                if value_field.message_type is not None:
                    _fill(draw, value[key], depth + 1)
                else:
                    value[key] = _scalar(draw, value_field)
        elif field.message_type is not None and _repeated(field):
            for _ in range(draw(st.integers(0, 2))):
                _fill(draw, value.add(), depth + 1)
        elif field.message_type is not None:
            value.SetInParent()
            _fill(draw, value, depth + 1)
        elif _repeated(field):
            value.extend(_scalar(draw, field) for _ in range(draw(st.integers(0, 2))))
        else:
            setattr(message, field.name, _scalar(draw, field))
    return message


def _repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)
    return bool(field.label == field.LABEL_REPEATED if repeated is None else repeated)


@st.composite
def typed_literal(draw: st.DrawFn, protocol: str, depth: int = 0) -> tuple[Any, Any]:
    """A (LiteralType, Literal) pair that match in kind, with values at and past their types' ends."""
    package = "flyteidl" if protocol == "v1" else "flyteidl2"
    literals = importlib.import_module(f"{package}.core.literals_pb2")
    types = importlib.import_module(f"{package}.core.types_pb2")
    simple = types.SimpleType
    literal_type, literal = types.LiteralType(), literals.Literal()
    primitive = literal.scalar.primitive
    kind = draw(
        st.sampled_from(["int", "float", "datetime", "duration", "struct", "enum", "list", "map", "union"])
    )
    if kind == "int":
        literal_type.simple = simple.Value("INTEGER")
        primitive.integer = draw(st.sampled_from([-(2**63), 2**63 - 1]) | st.integers(-(2**63), 2**63 - 1))
    elif kind == "float":
        literal_type.simple = simple.Value("FLOAT")
        primitive.float_value = draw(st.floats())
    elif kind == "datetime":
        literal_type.simple = simple.Value("DATETIME")
        primitive.datetime.seconds = draw(
            st.integers(-(2**63), 2**63 - 1) | st.integers(-62135596800, 253402300799)
        )
        primitive.datetime.nanos = draw(st.integers(-(2**31), 2**31 - 1) | st.integers(0, 999_999_999))
    elif kind == "duration":
        literal_type.simple = simple.Value("DURATION")
        primitive.duration.seconds = draw(st.integers(-(2**63), 2**63 - 1) | st.integers(-(10**11), 10**11))
        primitive.duration.nanos = draw(st.integers(-(2**31), 2**31 - 1))
    elif kind == "struct":
        literal_type.simple = simple.Value("STRUCT")
        literal.scalar.generic.SetInParent()
        _fill(draw, literal.scalar.generic, MAX_FILL_DEPTH - 4)
    elif kind == "enum":
        values = draw(st.lists(st.text(max_size=3), max_size=3))
        literal_type.enum_type.values.extend(values)
        primitive.string_value = draw(st.sampled_from(values) if values else st.text(max_size=3))
    elif kind in ("list", "map", "union") and depth < 3:
        item_type, _ = draw(typed_literal(protocol, depth + 1))
        if kind == "list":
            literal_type.collection_type.CopyFrom(item_type)
            for _ in range(draw(st.integers(0, 2))):
                literal.collection.literals.append(draw(typed_literal(protocol, depth + 1))[1])
        elif kind == "map":
            literal_type.map_value_type.CopyFrom(item_type)
            for key in draw(st.lists(st.text(max_size=3), max_size=2)):
                literal.map.literals[key].CopyFrom(draw(typed_literal(protocol, depth + 1))[1])
        else:
            variant_type, variant = draw(typed_literal(protocol, depth + 1))
            literal_type.union_type.variants.extend([item_type, variant_type])
            literal.scalar.union.value.CopyFrom(variant)
            literal.scalar.union.type.CopyFrom(variant_type)
    else:
        literal_type.simple = simple.Value("NONE")
        literal.scalar.none_type.SetInParent()
    return literal_type, literal


def _assert_not_a_server_fault(code: grpc.StatusCode, details: str) -> None:
    event(code.name)  # --hypothesis-show-statistics: how many requests reached a connector
    assert code not in SERVER_FAULTS, f"{code.name}: {details}"


CATEGORY_NAMES = st.sampled_from(
    ["recorder", "recorder", "sync-recorder", "", " ", "x" * 300, "a@1"]
) | st.text(max_size=8)


@PROPERTY_SETTINGS
@given(data=st.data(), protocol=st.sampled_from(["v1", "v2", "v1-sync"]), odd_category=st.booleans())
def test_random_create_requests_are_never_a_server_fault(
    client: Client, data: st.DataObject, protocol: str, odd_category: bool
) -> None:
    idl = "v2" if protocol == "v2" else "v1"
    request = _fill(data.draw, _messages(idl).CreateTaskRequest())
    template = request.template
    template.type = (
        data.draw(CATEGORY_NAMES)
        if odd_category
        else "sync-recorder"
        if protocol == "v1-sync"
        else "recorder"
    )
    template.task_type_version = data.draw(st.sampled_from([0, 1, -1])) if odd_category else 0
    if protocol == "v1-sync":
        header = agent_pb2.CreateRequestHeader(
            template=template,
            output_prefix=request.output_prefix,
            task_execution_metadata=request.task_execution_metadata,
        )
        requests = [
            agent_pb2.ExecuteTaskSyncRequest(header=header),
            agent_pb2.ExecuteTaskSyncRequest(inputs=request.inputs),
        ]
        _assert_not_a_server_fault(*_code(lambda: client.sync.ExecuteTaskSync(iter(requests), timeout=10)))
    else:
        _assert_not_a_server_fault(*_code(lambda: client.stub(idl).CreateTask(request, timeout=10)))


@PROPERTY_SETTINGS
@given(data=st.data(), protocol=st.sampled_from(PROTOCOLS), declared=st.booleans())
def test_typed_inputs_with_extreme_values_are_never_a_server_fault(
    client: Client, data: st.DataObject, protocol: str, declared: bool
) -> None:
    template = _tasks(protocol).TaskTemplate(type="recorder")
    request = _messages(protocol).CreateTaskRequest(template=template)
    for name in data.draw(st.lists(st.text(max_size=3), max_size=3, unique=True)):
        literal_type, literal = data.draw(typed_literal(protocol))
        variables = request.template.interface.inputs.variables
        if protocol == "v1":
            if declared:
                variables[name].type.CopyFrom(literal_type)
            request.inputs.literals[name].CopyFrom(literal)
        else:
            if declared:
                variables.add(key=name).value.type.CopyFrom(literal_type)
            request.inputs.literals.add(name=name, value=literal)
    _assert_not_a_server_fault(*_code(lambda: client.stub(protocol).CreateTask(request, timeout=10)))


TIMES = (
    st.none()
    | st.tuples(st.integers(0, 2 * 10**9), st.integers(0, 999_999_999))
    | st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**31), 2**31 - 1))
)


@PROPERTY_SETTINGS
@given(
    data=st.data(),
    protocol=st.sampled_from(PROTOCOLS),
    rpc=st.sampled_from(["GetTask", "DeleteTask", "GetTaskLogs", "GetTaskMetrics"]),
    times=st.tuples(TIMES, TIMES, TIMES),
)
def test_random_job_requests_are_never_a_server_fault(
    client: Client, data: st.DataObject, protocol: str, rpc: str, times: tuple[Any, Any, Any]
) -> None:
    request = _fill(data.draw, getattr(_messages(protocol), f"{rpc}Request")())
    request.task_category.CopyFrom(_category(protocol, data.draw(st.just("recorder") | CATEGORY_NAMES)))
    if data.draw(st.booleans()):
        request.resource_meta = _good_meta()
    if rpc == "GetTaskMetrics":
        for field, value in zip(("start_time", "end_time", "step"), times, strict=True):
            if value is not None:
                getattr(request, field).seconds, getattr(request, field).nanos = value
    _assert_not_a_server_fault(*_code(lambda: getattr(client.stub(protocol), rpc)(request, timeout=10)))
