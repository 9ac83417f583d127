"""FlyteConnector: a Flyte 2 connector behind connector-core's hooks, called as Flyte 2's service calls it."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from connector import (
    AsyncConnector,
    Connection,
    LogsChunk,
    MetricPoint,
    MetricSeries,
    Phase,
    Resource,
    ResourceMetaError,
    TaskExecutionMetadata,
    TaskLog,
    TaskTemplate,
)

from ._entry_points import FlyteEntryPoint
from ._exceptions import FlyteBridgeError, FlyteRequestError
from ._flyte import FlyteSdk
from ._meta import FlyteMeta
from ._pickles import (
    PICKLED_INPUTS_VARIABLE,
    accepts,
    holds_flyte_pickle,
    pickle_in_literal,
    pickle_in_type,
)

#: The keyword arguments the bridge passes itself (and ``self``): no Connection key may take their place.
RESERVED_CONNECTION_KEYS = frozenset(
    {"inputs", "output_prefix", "resource_meta", "self", "task_execution_metadata", "task_template"}
)


def connection_arguments(connection: Connection) -> dict[str, str]:
    """The keyword arguments Flyte 2's service makes of a request's Connection: its secrets, then its
    configs (a config replaces a secret of the same name).

    A key named as one of the call's own arguments is refused (``FlyteRequestError``): the call
    would raise TypeError, or the caller would replace what the connector is given (issue 11).
    """
    for kind, values in (("secret", connection.secrets), ("config", connection.configs)):
        for key in sorted(values):
            if key in RESERVED_CONNECTION_KEYS:
                reserved = ", ".join(sorted(RESERVED_CONNECTION_KEYS))
                raise FlyteRequestError(
                    f"the Connection's {kind} {key!r} is named as an argument Flyte 2 connectors are "
                    f"called with ({reserved}); rename the {kind}",
                    field=f"connection.{kind}s.{key}",
                )
    arguments = dict(connection.secrets)
    arguments.update(connection.configs)
    return arguments


class FlyteConnector(AsyncConnector):
    """A Flyte 2 connector (``flyte.connectors.AsyncConnector``), served by connector-core.

    Each hook calls ``flyte_connector`` as Flyte 2's ``ConnectorService`` does: ``create`` with the
    request's own flyteidl2 ``TaskTemplate``, its inputs converted to Python values by Flyte 2's
    ``TypeEngine`` (typed by the template's interface), the request's ``TaskExecutionMetadata``
    message and the Connection's secrets and configs as keyword arguments; ``get`` and ``delete``
    with the connector's own meta and the same keyword arguments. A ``get``'s ``Resource`` becomes
    the message Flyte 2's service would send (its outputs converted by Flyte 2), mapped field by
    field. ``FlyteProvider.load`` makes one per task type, with ``get_logs`` and ``get_metrics``
    only where the Flyte 2 connector implements them.
    """

    #: Hand the hooks the request's own messages (connector-core's raw-literals contract).
    raw_literals: ClassVar[bool] = True
    metadata_type = FlyteMeta

    def __init__(self, flyte_connector: Any, sdk: FlyteSdk, entry_point: FlyteEntryPoint) -> None:
        super().__init__(
            task_type_name=flyte_connector.task_type_name, task_type_version=flyte_connector.task_type_version
        )
        self.flyte_connector = flyte_connector
        self.entry_point = entry_point
        #: This connector's ``FlyteMeta`` subclass, which checks bytes with the Flyte 2 meta class.
        self.meta_class = FlyteMeta.for_flyte_meta(flyte_connector.metadata_type)
        self.metadata_type = self.meta_class
        self._sdk = sdk

    def __repr__(self) -> str:
        return f"<FlyteConnector {self.task_category} {type(self.flyte_connector).__qualname__}>"

    def _who(self) -> str:
        owner = type(self.flyte_connector)
        where = self.entry_point.describe()
        return f"the Flyte 2 connector {owner.__module__}.{owner.__qualname__} ({where})"

    async def create(
        self,
        task_template: TaskTemplate,
        output_prefix: str,
        inputs: Any,
        task_execution_metadata: TaskExecutionMetadata,
        connection: Connection,
    ) -> FlyteMeta:
        """Start the job as Flyte 2's CreateTask does; the meta holds the bytes its ``encode`` wrote."""
        template, literals, metadata = self._request(task_template, inputs, task_execution_metadata)
        native_inputs = await self._native_inputs(template, literals)
        meta = await self.flyte_connector.create(
            task_template=template,
            inputs=native_inputs,
            output_prefix=output_prefix,
            task_execution_metadata=metadata,
            **connection_arguments(connection),
        )
        return self.meta_class(meta.encode())

    async def get(
        self, resource_meta: FlyteMeta, task_template: TaskTemplate, connection: Connection
    ) -> Resource:
        """The job's state as Flyte 2's GetTask answers it, as a ``connector.Resource``.

        Its outputs are the flyteidl2 ``Outputs`` Flyte 2 made; in a local run, which speaks
        flyteidl v1 (``task_template.raw`` is a v1 template), the same literals as a v1 ``LiteralMap``.
        """
        result = await self.flyte_connector.get(
            resource_meta=self._flyte_meta(resource_meta), **connection_arguments(connection)
        )
        resource = resource_of(await self._sdk.get_resource_proto(result))
        outputs: Any = resource.outputs
        if outputs is not None and _full_name(task_template.raw) == _V1_TEMPLATE:
            from flyteidl.core import literals_pb2

            # flyteidl2's Outputs (repeated name/literal pairs) is v1's LiteralMap on the wire.
            resource.outputs = literals_pb2.LiteralMap.FromString(outputs.SerializeToString())
        return resource

    async def delete(self, resource_meta: FlyteMeta, connection: Connection) -> None:
        """Cancel the job as Flyte 2's DeleteTask does."""
        await self.flyte_connector.delete(
            resource_meta=self._flyte_meta(resource_meta), **connection_arguments(connection)
        )

    def _request(
        self, task_template: TaskTemplate, inputs: Any, task_execution_metadata: TaskExecutionMetadata
    ) -> tuple[Any, Any, Any]:
        """The flyteidl2 ``TaskTemplate``, ``Inputs`` and ``TaskExecutionMetadata`` to call Flyte 2 with.

        A flyteidl2 request's own messages; a v1 request from a workflow engine is refused. A local
        run (``connector run``: v1 messages the core built from native values, and no metadata
        message) is read as flyteidl2, whose messages are supersets of v1's field for field.
        """
        sdk = self._sdk
        raw = task_template.raw
        metadata = task_execution_metadata.raw
        if isinstance(raw, sdk.TaskTemplateMessage):
            if metadata is None:
                metadata = _metadata_message(sdk, task_execution_metadata)
            return raw, inputs, metadata
        if _full_name(raw) == _V1_TEMPLATE and metadata is None:
            template = sdk.TaskTemplateMessage.FromString(raw.SerializeToString())
            if _full_name(inputs) == _V1_LITERAL_MAP:  # its map entries are Inputs' name/literal pairs
                inputs = sdk.InputsMessage.FromString(inputs.SerializeToString())
            return template, inputs, _metadata_message(sdk, task_execution_metadata)
        if _full_name(raw) == _V1_TEMPLATE:
            raise FlyteRequestError(
                f"task type {self.task_category} is served by {self._who()}, which takes flyteidl2 "
                "requests only, and this one is flyteidl v1; send it to AsyncConnectorService "
                "(flyteidl2), as Flyte 2 does, or serve flytekit's tasks of this type with a flytekit "
                "connector",
                field="template",
            )
        raise FlyteRequestError(
            f"task type {self.task_category} is served by {self._who()}, which needs the request's "
            f"flyteidl2 TaskTemplate; got {type(raw).__name__} in task_template.raw",
            field="template",
        )

    async def _native_inputs(self, template: Any, inputs: Any) -> dict[str, Any]:
        """The inputs as Python values, converted as Flyte 2's CreateTask converts them."""
        sdk = self._sdk
        if not isinstance(inputs, sdk.InputsMessage):
            raise FlyteRequestError(
                f"task type {self.task_category} is served by {self._who()}, which needs the request's "
                f"flyteidl2 Inputs; got {type(inputs).__name__}",
                field="inputs",
            )
        # Before Flyte 2 sees them: its TypeEngine would unpickle what a caller sends (issue 11).
        refuse_pickles = not accepts(PICKLED_INPUTS_VARIABLE)
        if refuse_pickles:
            self._refuse_pickles(template, inputs)
        try:
            # Flyte 2 types each input by the Python type its TypeEngine guesses for the declared one.
            declared = {
                entry.key: (sdk.TypeEngine.guess_python_type(entry.value.type), inspect.Parameter.empty)
                for entry in template.interface.inputs.variables
            }
        except Exception as exc:
            raise self._unconvertible(exc) from exc
        for name, (python_type, _) in declared.items():
            if refuse_pickles and holds_flyte_pickle(python_type):
                raise self._pickled(name, f"Flyte 2 types it as {python_type!r}", "declares")
        try:
            interface = sdk.NativeInterface.from_types(inputs=declared, outputs={})
            converted = await sdk.convert_from_inputs_to_native(interface, sdk.Inputs(proto_inputs=inputs))
        except Exception as exc:
            raise self._unconvertible(exc) from exc
        return dict(converted)

    def _unconvertible(self, exc: Exception) -> FlyteRequestError:
        # Flyte's messages span lines (a literal printed as protobuf text): one line here.
        said = " ".join(str(exc).split())
        return FlyteRequestError(
            f"the inputs of task type {self.task_category} cannot be converted by Flyte 2's "
            f"TypeEngine: {type(exc).__name__}: {said}; send the inputs the template's interface "
            "declares",
            field="inputs",
        )

    def _refuse_pickles(self, template: Any, inputs: Any) -> None:
        """Refuse a declared input type or an input literal that Flyte 2 would unpickle."""
        for entry in template.interface.inputs.variables:
            found = pickle_in_type(entry.value.type, entry.key)
            if found is not None:
                raise self._pickled(entry.key, found, "declares")
        for named in inputs.literals:
            found = pickle_in_literal(named.value, named.name)
            if found is not None:
                raise self._pickled(named.name, found, "holds")

    def _pickled(self, name: str, found: str, verb: str) -> FlyteRequestError:
        return FlyteRequestError(
            f"the input {name!r} of task type {self.task_category} {verb} a pickle ({found}), which "
            "Flyte 2's TypeEngine would unpickle, running whatever code the caller put in it; send "
            "the input in a type Flyte 2 serializes without pickle, or have the operator accept "
            f"pickled inputs from every caller with {PICKLED_INPUTS_VARIABLE}=1",
            field=f"inputs.{name}",
        )

    def _flyte_meta(self, resource_meta: FlyteMeta) -> Any:
        """The Flyte 2 connector's meta, decoded by its own ``metadata_type`` as Flyte 2's service does."""
        try:
            return resource_meta.flyte_decoded()
        except ResourceMetaError as exc:  # checked at decode already; a meta made in code is not
            raise FlyteRequestError(
                f"the resource meta is not one task type {self.task_category} wrote: {exc}",
                field="resource_meta",
            ) from exc


class _WithLogs(FlyteConnector):
    async def get_logs(self, resource_meta: FlyteMeta, token: str) -> AsyncIterator[LogsChunk]:
        """The job's logs as Flyte 2's GetTaskLogs streams them, one chunk per response."""
        result = self.flyte_connector.get_logs(resource_meta=self._flyte_meta(resource_meta), token=token)
        if inspect.isasyncgen(result):
            async for response in result:
                yield logs_chunk_of(response)
            return
        yield logs_chunk_of(await result)


class _WithMetrics(FlyteConnector):
    async def get_metrics(self, resource_meta: FlyteMeta) -> list[MetricSeries]:
        """The job's metrics as Flyte 2's GetTaskMetrics answers them, as time series."""
        response = await self.flyte_connector.get_metrics(resource_meta=self._flyte_meta(resource_meta))
        return [self._series(result) for result in response.results]

    def _series(self, result: Any) -> MetricSeries:
        from google.protobuf import json_format

        data = json_format.MessageToDict(result.data)
        points = []
        try:
            for item in data["result"]:
                for timestamp, value in item["values"]:
                    points.append(MetricPoint(float(timestamp), float(value)))
        except (KeyError, TypeError, ValueError) as exc:
            raise FlyteBridgeError(
                f"{self._who()}: get_metrics returned metric {result.metric!r} whose data is not a "
                "Prometheus range result ({'result': [{'values': [[time, value], ...]}]}), the only "
                "layout connector-core carries"
            ) from exc
        return MetricSeries(result.metric, tuple(points))


def bridge(flyte_connector: Any, sdk: FlyteSdk, entry_point: FlyteEntryPoint) -> FlyteConnector:
    """A ``FlyteConnector`` for ``flyte_connector``, with the optional hooks it implements.

    Its class is made for it, so that ``connector show`` gives the Flyte 2 connector's name and
    docstring.
    """
    bases: tuple[type[FlyteConnector], ...] = tuple(
        base
        for base, hook in ((_WithLogs, "get_logs"), (_WithMetrics, "get_metrics"))
        if sdk.implements(flyte_connector, hook)
    ) or (FlyteConnector,)
    owner = type(flyte_connector)
    doc = inspect.getdoc(owner) if "__doc__" in vars(owner) and owner.__doc__ else None
    namespace = {
        "__doc__": doc or f"The Flyte 2 connector {owner.__module__}.{owner.__qualname__}.",
        "__module__": __name__,
        "name": display_name(flyte_connector),
    }
    cls: type[FlyteConnector] = type(f"Flyte{owner.__name__}", bases, namespace)
    return cls(flyte_connector, sdk, entry_point)


_V1_TEMPLATE = "flyteidl.core.TaskTemplate"
_V1_LITERAL_MAP = "flyteidl.core.LiteralMap"


def _full_name(message: object) -> str | None:
    """A protobuf message's full name (``flyteidl.core.TaskTemplate``); None for anything else."""
    descriptor = getattr(type(message), "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else None


def _metadata_message(sdk: FlyteSdk, view: TaskExecutionMetadata) -> Any:
    """A flyteidl2 ``TaskExecutionMetadata`` of the view's fields (a local run has no message)."""
    return sdk.TaskExecutionMetadataMessage(
        namespace=view.namespace,
        labels=view.labels,
        annotations=view.annotations,
        k8s_service_account=view.k8s_service_account,
        environment_variables=view.environment_variables,
        max_attempts=view.max_attempts,
        interruptible=view.interruptible,
    )


def display_name(connector: object) -> str:
    """A Flyte 2 connector's ``name`` (Flyte's default is 'Async Connector'), else its class name."""
    name = getattr(connector, "name", None)
    return name if isinstance(name, str) and name else type(connector).__qualname__


def resource_of(message: Any) -> Resource:
    """A flyteidl2 ``Resource`` message, field by field, as a ``connector.Resource``.

    The outputs stay the flyteidl2 ``Outputs`` message Flyte 2 made (connector-core sends it as it
    is); log links keep the fields ``connector.TaskLog`` has.
    """
    custom_info = None
    if message.HasField("custom_info"):
        from google.protobuf import json_format

        custom_info = json_format.MessageToDict(message.custom_info)
    return Resource(
        phase=Phase(message.phase),
        message=message.message,
        log_links=[
            TaskLog(
                uri=link.uri,
                name=link.name,
                show_while_pending=link.ShowWhilePending,
                hide_once_finished=link.HideOnceFinished,
            )
            for link in message.log_links
        ],
        outputs=message.outputs if message.HasField("outputs") else None,
        custom_info=custom_info,
    )


def logs_chunk_of(response: Any) -> LogsChunk:
    """A flyteidl2 ``GetTaskLogsResponse`` as a chunk: a header's token, or a body's lines as text."""
    if response.HasField("header"):
        return LogsChunk(token=response.header.token)
    body = response.body
    return LogsChunk(lines=(*body.results, *(line.message for line in body.lines)))
