"""IDL adapters: flyteidl v1 and flyteidl2 messages to the core's types, and results back to messages."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from .._exceptions import (
    BadRequestError,
    HookResultError,
    LiteralConversionError,
)
from .._model import (
    Connection,
    LogsChunk,
    MetricSeries,
    Resource,
    TaskCategory,
    TaskExecutionMetadata,
    TaskInterface,
    TaskLog,
    TaskTemplate,
    lazy_task_template,
)
from ..registry._registry import ConnectorMetadata

if TYPE_CHECKING:
    from ..registry._loaded import LoadedConnector

# Struct numbers are doubles; whole ones within this range come back as ints (what Python code expects).
_EXACT_INT = 2**53


def struct_to_python(struct: Any) -> dict[str, Any]:
    """A ``google.protobuf.Struct`` as a dict; whole numbers become ints."""
    return {key: _value_to_python(value) for key, value in struct.fields.items()}


def _value_to_python(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if math.isfinite(number) and number.is_integer() and abs(number) <= _EXACT_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_python(value.struct_value)
    if kind == "list_value":
        return [_value_to_python(item) for item in value.list_value.values]
    return None


def python_to_struct(values: Mapping[str, Any], struct: Any) -> None:
    """Fill ``struct`` from a JSON-like dict; datetimes and other values become strings.

    Raises ``ValueError`` when ``values`` is not a dict.
    """
    if not isinstance(values, Mapping):
        raise ValueError(f"expected a dict, got {type(values).__name__}")
    try:
        struct.update({str(k): _jsonable(v) for k, v in values.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from exc


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


#: How many distinct task interfaces an adapter remembers (the cache starts over when full).
_INTERFACE_CACHE_SIZE = 256
#: How many distinct task templates an adapter keeps converted, and the largest it keeps (bytes).
_TEMPLATE_CACHE_SIZE = 256
_CACHED_TEMPLATE_BYTES = 16 * 1024


def _fresh(value: Any) -> Any:
    """A copy of JSON-like data: new dicts and lists, the same (immutable) leaves."""
    # Exact types: the data is struct_to_python's and message_to_dict's. Leaves are kept without a
    # call each: a template's custom and metadata are mostly strings and numbers.
    kind = type(value)
    if kind is dict:
        return {key: _fresh(item) if type(item) in _CONTAINERS else item for key, item in value.items()}
    if kind is list:
        return [_fresh(item) if type(item) in _CONTAINERS else item for item in value]
    return value


_CONTAINERS = frozenset((dict, list))


def _copies(converted: TaskTemplate) -> dict[str, Any]:
    """The fields of a converted template that a call's view gets copies of (fresh dicts and lists)."""
    return {
        "custom": _fresh(converted.custom),
        "config": dict(converted.config),
        "container_args": list(converted.container_args),
        "metadata": _fresh(converted.metadata),
    }


@dataclasses.dataclass(frozen=True)
class _Interface:
    """A template's interface, described once: the core's view and the declared ``LiteralType``s."""

    view: TaskInterface
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]


class _Unusual(Exception):
    """A field ``message_to_dict`` leaves to ``json_format`` (float32, an unknown enum, an extension)."""


def message_to_dict(message: Any) -> dict[str, Any]:
    """``json_format.MessageToDict(message, preserving_proto_field_name=True)``, built directly.

    json_format costs about 4-9 us on every CreateTask for a small TaskMetadata (issue 3's figures);
    this walks only the set fields, with json_format's rules (64-bit integers as strings, bytes as
    base64, enums by name, maps with string keys), and leaves well-known types (Duration, BoolValue,
    ...) and any field kind it does not handle to json_format itself, so the result is the same.
    Raises ``ValueError`` for a value JSON has no form for (a Duration or Timestamp out of range).
    """
    try:
        return _message_fields(message)
    except _Unusual:
        return dict(_well_known(message))


def _message_fields(message: Any) -> dict[str, Any]:
    result = {}
    for field, value in message.ListFields():
        convert = _FIELD_CONVERTERS.get(field)
        if convert is None:
            convert = _FIELD_CONVERTERS[field] = _field_converter(field)
        result[field.name] = convert(value)
    return result


# A converter per field descriptor (descriptors live as long as their module; the set is bounded).
_FIELD_CONVERTERS: dict[Any, Callable[[Any], Any]] = {}
_INT64_TYPES = frozenset({3, 4, 6, 16, 18})  # int64, uint64, fixed64, sfixed64, sint64
_PLAIN_TYPES = frozenset({5, 7, 8, 9, 13, 15, 17})  # int32, fixed32, bool, string, uint32, sfixed32, sint32
_TYPE_DOUBLE, _TYPE_MESSAGE, _TYPE_BYTES, _TYPE_ENUM = 1, 11, 12, 14


def _field_converter(field: Any) -> Callable[[Any], Any]:
    if field.is_extension:
        return _unusual
    value_of = _value_converter(field)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key = field.message_type.fields_by_name["key"]
        value_of = _value_converter(field.message_type.fields_by_name["value"])
        if key.type == 8:  # bool keys are "true"/"false" in JSON
            return lambda entries: {("true" if k else "false"): value_of(v) for k, v in entries.items()}
        return lambda entries: {str(k): value_of(v) for k, v in entries.items()}
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:  # protobuf < 5.28 has only the label
        repeated = field.label == field.LABEL_REPEATED
    if repeated:
        return lambda items: [value_of(item) for item in items]
    return value_of


def _value_converter(field: Any) -> Callable[[Any], Any]:
    kind = field.type
    if kind in _PLAIN_TYPES:
        return _same
    if kind in _INT64_TYPES:
        return str
    if kind == _TYPE_MESSAGE:
        if field.message_type.full_name.startswith("google.protobuf."):
            name = field.name
            return lambda message: _well_known(message, name)
        return _message_fields
    if kind == _TYPE_ENUM and field.enum_type.full_name != "google.protobuf.NullValue":
        names = {number: value.name for number, value in field.enum_type.values_by_number.items()}
        return lambda number: names[number] if number in names else _unusual(number)
    if kind == _TYPE_BYTES:
        return lambda data: base64.b64encode(data).decode("utf-8")
    if kind == _TYPE_DOUBLE:
        return lambda number: number if math.isfinite(number) else _unusual(number)
    return _unusual


def _same(value: Any) -> Any:
    return value


def _well_known(message: Any, field: str | None = None) -> Any:
    from google.protobuf import json_format

    try:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)
    except (ValueError, json_format.Error) as exc:
        # A Duration or Timestamp out of range is the caller's value: a ValueError, so INVALID_ARGUMENT;
        # json_format's own error is no ValueError and was INTERNAL (issue 9). Worded as json_format
        # words it for a field, whichever path found it (its doubled final period made single).
        text = str(exc) if field is None else f"Failed to serialize {field} field: {exc}"
        raise ValueError(text.rstrip(".") + ".") from exc


def _unusual(value: Any) -> Any:
    raise _Unusual


def _identifier(ident: Any) -> str:
    return "/".join(part for part in (ident.project, ident.domain, ident.name, ident.version) if part)


class IdlAdapter:
    """Conversions shared by both protocol versions; ``V1Adapter`` and ``V2Adapter`` fill the gaps.

    ``codec`` is a ``LiteralCodec`` for the protocol's ``core`` package (made on first use when not
    given, so the adapters can be built without touching the literal modules).
    """

    #: The protocol's request and response messages (``agent_pb2`` or ``connector_pb2``).
    messages: Any
    #: The protocol's name, for messages.
    protocol: str
    #: The protocol's ``core.execution_pb2`` (for ``TaskLog``).
    _execution: Any

    def __init__(self, codec: Any = None) -> None:
        self._codec = codec
        self._interfaces: dict[bytes, _Interface] = {}
        self._templates: dict[bytes, TaskTemplate] = {}

    @property
    def codec(self) -> Any:
        """The literal codec of this protocol."""
        if self._codec is None:
            self._codec = self._default_codec()
        return self._codec

    def _default_codec(self) -> Any:
        raise NotImplementedError

    # Requests to core types.

    def template_category(self, template: Any) -> TaskCategory:
        """The category a task template asks for; INVALID_ARGUMENT when it has no type."""
        if not template.type:
            raise BadRequestError("the request's task template has no type", field="template.type")
        return _category(template.type, template.task_type_version, "template.task_type_version")

    def request_category(self, request: Any) -> TaskCategory:
        """The category of a get, delete, logs or metrics request."""
        if request.HasField("task_category") and request.task_category.name:
            return _category(
                request.task_category.name, request.task_category.version, "task_category.version"
            )
        raise BadRequestError("the request names no task category", field="task_category")

    def template(self, message: Any) -> TaskTemplate:
        """The core view of a ``TaskTemplate`` message; ``raw`` is the message itself.

        Propeller sends the same template for every execution of a task: it is converted once
        (about 10 us a call otherwise; issue 13), keyed by its bytes, and each call gets a view of
        its own, with fresh dicts and lists, since connector code may change them, made when it
        first reads one (``lazy_task_template``).
        """
        key = message.SerializeToString(deterministic=True)
        converted = self._templates.get(key)
        if converted is None:
            converted = self._convert_template(message)
            if len(key) <= _CACHED_TEMPLATE_BYTES:
                if len(self._templates) >= _TEMPLATE_CACHE_SIZE:
                    self._templates.clear()
                self._templates[key] = converted
        interface = converted.interface
        return lazy_task_template(
            partial(_copies, converted),
            type=converted.type,
            task_type_version=converted.task_type_version,
            container_image=converted.container_image,
            sql=converted.sql,
            id=converted.id,
            raw=message,
            # Not made later: a field with a plain default is found on the class, not looked up.
            interface=None
            if interface is None
            else TaskInterface(dict(interface.inputs), dict(interface.outputs)),
        )

    def _convert_template(self, message: Any) -> TaskTemplate:
        category = self.template_category(message)
        described = self._interface(message)
        return TaskTemplate(
            type=category.name,
            task_type_version=category.version,
            custom=struct_to_python(message.custom),
            config=dict(message.config),
            container_image=message.container.image if message.HasField("container") else None,
            container_args=list(message.container.args) if message.HasField("container") else [],
            sql=message.sql.statement if message.HasField("sql") else None,
            metadata=self._metadata_dict(message),
            interface=described.view if described is not None else None,
            id=_identifier(message.id) if message.HasField("id") else "",
        )

    @staticmethod
    def _metadata_dict(message: Any) -> dict[str, Any]:
        if not message.HasField("metadata"):
            return {}
        try:
            return message_to_dict(message.metadata)
        except (ValueError, TypeError) as exc:
            raise BadRequestError(
                f"the task template's metadata cannot be read: {exc}", field="template.metadata"
            ) from exc

    def variables(self, template: Any, side: str) -> dict[str, Any] | None:
        """``{name: LiteralType}`` of the declared inputs or outputs (None without an interface)."""
        described = self._interface(template) if template is not None else None
        if described is None:
            return None
        return dict(described.inputs if side == "inputs" else described.outputs)

    def _interface(self, template: Any) -> _Interface | None:
        # Propeller sends the same template for every execution of a task: its interface is
        # described once (about 7 us per CreateTask otherwise), keyed by its bytes.
        if not template.HasField("interface"):
            return None
        key = template.interface.SerializeToString(deterministic=True)
        described = self._interfaces.get(key)
        if described is None:
            # Described from a copy, so the cache keeps no request alive.
            typed = type(template.interface).FromString(key)
            codec = self.codec
            described = _Interface(
                codec.task_interface(typed), codec.variables(typed.inputs), codec.variables(typed.outputs)
            )
            if len(self._interfaces) >= _INTERFACE_CACHE_SIZE:
                self._interfaces.clear()
            self._interfaces[key] = described
        return described

    def execution_metadata(self, message: Any) -> TaskExecutionMetadata:
        """The core view of a ``TaskExecutionMetadata`` message."""
        execution_id = ""
        if message.HasField("task_execution_id"):
            ident = message.task_execution_id
            node = ident.node_execution_id
            run = node.execution_id
            parts = (run.project, run.domain, run.name, node.node_id, str(ident.retry_attempt))
            execution_id = "/".join(parts)
        variables = message.environment_variables
        return TaskExecutionMetadata(
            task_execution_id=execution_id,
            namespace=message.namespace,
            # Copying an empty protobuf map costs about a microsecond, and requests often carry empty ones.
            labels=dict(message.labels) if message.labels else {},
            annotations=dict(message.annotations) if message.annotations else {},
            k8s_service_account=message.k8s_service_account,
            environment_variables=dict(variables) if variables else {},
            max_attempts=message.max_attempts,
            interruptible=message.interruptible,
            raw=message,
        )

    def inputs(self, request_inputs: Any, template: Any) -> dict[str, Any]:
        """The request's input literals as native values; INVALID_ARGUMENT naming an input that fails."""
        try:
            return dict(self.codec.to_python(request_inputs, self.variables(template, "inputs")))
        except LiteralConversionError as exc:
            raise BadRequestError(
                f"input {exc.name!r} cannot be converted: {exc.reason}", field=f"inputs.{exc.name}"
            ) from exc

    def connection(self, request: Any) -> Connection:
        """The request's ``Connection`` (flyteidl2); empty for flyteidl v1."""
        return Connection()

    # Core results to responses (the call layer checked them).

    def resource(
        self,
        result: Resource,
        variables: Mapping[str, Any] | None,
        loaded: LoadedConnector | None = None,
        hook: str = "get",
    ) -> Any:
        """A ``Resource`` message from the ``Resource`` ``loaded``'s ``hook`` returned.

        Outputs that are a dict are encoded by the literal codec, typed by ``variables``; a literal
        map message (only a raw-literals connector's, the call layer checked) is copied as it is
        when it is this protocol's, and is a ``HookResultError`` otherwise.
        """
        message = self.messages.Resource(phase=int(result.phase), message=result.message)
        message.log_links.extend(self._task_log(link) for link in result.log_links)
        if result.custom_info:
            python_to_struct(result.custom_info, message.custom_info)
        outputs = result.outputs
        if type(outputs) is dict or isinstance(outputs, Mapping):  # the first test spares an ABC check
            self.codec.encode_into(message.outputs, outputs, variables)
        elif outputs is not None:
            self._copy_outputs(message.outputs, outputs, loaded, hook)
        return message

    def _copy_outputs(self, target: Any, outputs: Any, loaded: LoadedConnector | None, hook: str) -> None:
        wanted = target.DESCRIPTOR.full_name
        given = outputs.DESCRIPTOR.full_name
        if given != wanted:
            problem = (
                f"returned outputs of type {given}, but this request speaks {self.protocol}, whose outputs "
                f"are a {wanted}; return the literal map of the request's protocol (the type of the "
                "inputs it was given tells which)"
            )
            if loaded is None:
                raise TypeError(problem)
            raise HookResultError(problem, category=loaded.category, hook=hook, origin=loaded.origin)
        if isinstance(outputs, type(target)):
            target.CopyFrom(outputs)
        else:  # the same message from another generated module (two copies of the IDL): by its bytes
            target.ParseFromString(outputs.SerializeToString())

    def _task_log(self, link: TaskLog) -> Any:
        return self._execution.TaskLog(
            uri=link.uri,
            name=link.name,
            ShowWhilePending=link.show_while_pending,
            HideOnceFinished=link.hide_once_finished,
        )

    def log_responses(self, chunk: LogsChunk) -> list[Any]:
        """The stream messages of one chunk of logs: its token as a header, then its lines as a body."""
        messages = self.messages
        responses = []
        if chunk.token:
            responses.append(
                messages.GetTaskLogsResponse(header=messages.GetTaskLogsResponseHeader(token=chunk.token))
            )
        if chunk.lines:
            body = messages.GetTaskLogsResponseBody(results=[str(line) for line in chunk.lines])
            responses.append(messages.GetTaskLogsResponse(body=body))
        return responses

    def metrics_response(self, result: Iterable[MetricSeries]) -> Any:
        """A ``GetTaskMetricsResponse`` from ``MetricSeries`` (Prometheus matrix layout)."""
        response = self.messages.GetTaskMetricsResponse()
        for series in result:
            item = response.results.add(metric=series.metric)
            values = [[point.timestamp, str(point.value)] for point in series.points]
            item.data.update({"resultType": "matrix", "result": [{"metric": {}, "values": values}]})
        return response


def _category(name: str, version: int, field: str) -> TaskCategory:
    # Two or three per call; a TaskCategory checks its values when made (about 1 us). The cache
    # holds valid categories only and starts over when full, so clients cannot grow it.
    category = _CATEGORIES.get((name, version))
    if category is None:
        try:
            category = TaskCategory(name, version)
        except ValueError as exc:
            raise BadRequestError(f"bad task category: {exc}", field=field) from None
        if len(_CATEGORIES) >= 1024:
            _CATEGORIES.clear()
        _CATEGORIES[(name, version)] = category
    return category


_CATEGORIES: dict[tuple[str, int], TaskCategory] = {}


def categories_of(metadata: ConnectorMetadata) -> Sequence[TaskCategory]:
    """The categories a connector serves, in a stable order."""
    return sorted(metadata.categories)


class V1Adapter(IdlAdapter):
    """flyteidl v1 (``flyteidl.admin.agent_pb2``): LiteralMap inputs, no Connection."""

    protocol = "flyteidl v1"

    def __init__(self, codec: Any = None) -> None:
        super().__init__(codec)
        from flyteidl.admin import agent_pb2
        from flyteidl.core import execution_pb2

        self.messages = agent_pb2
        self._execution = execution_pb2

    def _default_codec(self) -> Any:
        from ._literals import v1_codec

        return v1_codec()

    def request_category(self, request: Any) -> TaskCategory:
        # Older propellers send only the deprecated task_type string (version 0).
        if not (request.HasField("task_category") and request.task_category.name) and request.task_type:
            return _category(request.task_type, 0, "task_type")
        return super().request_category(request)

    def agent(self, metadata: ConnectorMetadata) -> Any:
        """An ``Agent`` message for ``AgentMetadataService``."""
        categories = categories_of(metadata)
        return self.messages.Agent(
            name=metadata.name,
            is_sync=metadata.is_sync,
            supported_task_types=sorted({c.name for c in categories}),
            supported_task_categories=[
                self.messages.TaskCategory(name=c.name, version=c.version) for c in categories
            ],
        )


class V2Adapter(IdlAdapter):
    """flyteidl2 (``flyteidl2.connector.connector_pb2``): named-literal inputs and a Connection."""

    protocol = "flyteidl2"

    def __init__(self, codec: Any = None) -> None:
        super().__init__(codec)
        from flyteidl2.connector import connector_pb2
        from flyteidl2.core import execution_pb2

        self.messages = connector_pb2
        self._execution = execution_pb2

    def _default_codec(self) -> Any:
        from ._literals import v2_codec

        return v2_codec()

    def connection(self, request: Any) -> Connection:
        if not request.HasField("connection"):
            return Connection()
        return Connection(secrets=dict(request.connection.secrets), configs=dict(request.connection.configs))

    def connector(self, metadata: ConnectorMetadata) -> Any:
        """A ``Connector`` message for ``ConnectorMetadataService``."""
        return self.messages.Connector(
            name=metadata.name,
            supported_task_categories=[
                self.messages.TaskCategory(name=c.name, version=c.version) for c in categories_of(metadata)
            ],
        )
