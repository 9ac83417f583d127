"""Adapters: a flytekit connector behind connector's hooks, called exactly as flytekit's own service calls it.

flytekit's ``connector_service.py`` is the reference: the request's protobufs become flytekit's
models with their ``from_flyte_idl`` (nothing goes through native values), each method gets the
same keyword arguments, and a ``Resource`` becomes the wire form with its own ``to_flyte_idl()``,
whose fields are then handed to the core one to one (outputs as the ``flyteidl.core.LiteralMap``
flytekit made). Unlike flytekit's service (``mirror_async_methods``: a plain method in the event
loop's default executor), a hook is ``async def`` for an ``async def`` method and plain ``def``
for a plain one, so the core runs the latter in its own bounded worker pool.

Each hook first sets flytekit's context where it is unset (the event loop's task context, or the
worker thread), as it is in flytekit's service, whose main thread imported flytekit: without it,
flytekit builds its context again at every ``current_context()`` (``_flytekit.enter_flytekit_context``).

Before flytekit sees a request, inputs it would unpickle are refused (``_pickles``), and flytekit's
sensor is held to an allow-list of sensor classes (``CONNECTOR_SENSORS``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, ClassVar

import connector

from ._exceptions import FlytekitRequestError, FlytekitSensorNotAllowedError
from ._flytekit import enter_flytekit_context, flytekit_context
from ._meta import FlytekitMeta
from ._pickles import refuse_pickled_inputs
from ._settings import DEFAULT_SENSOR, PICKLED_INPUTS_VARIABLE, SENSORS_VARIABLE, allowed_sensors, flag


class FlytekitConnector:
    """What both adapters share: the flytekit connector they call, and raw literals from the service.

    ``raw_literals`` makes the service hand the hooks the request's own messages (a
    ``flyteidl.core.LiteralMap`` as ``inputs``, the ``TaskTemplate`` and ``TaskExecutionMetadata``
    messages as ``task_template.raw`` and ``task_execution_metadata.raw``), and pass a
    ``LiteralMap`` in ``Resource.outputs`` into the response unchanged.
    """

    raw_literals: ClassVar[bool] = True
    flytekit_connector: Any

    def _request(self, task_template: connector.TaskTemplate, inputs: object) -> tuple[Any, Any]:
        """flytekit's template and literal map of a request, once nothing in it would be unpickled.

        Pickle-typed inputs are refused before any flytekit conversion (unless
        ``CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_INPUTS=1``), and a sensor class no one allowed before
        flytekit's sensor sees the template.
        """
        # Imported here, so that importing the bridge imports no IDL; as `import a.b as b`, since
        # `from a import b` of a package runs importlib's Python code on every call.
        import flyteidl.core.literals_pb2 as literals_pb2
        import flyteidl.core.tasks_pb2 as tasks_pb2

        raw = task_template.raw
        try:
            refuse_pickled_inputs(
                raw if isinstance(raw, tasks_pb2.TaskTemplate) else None,
                inputs if isinstance(inputs, literals_pb2.LiteralMap) else None,
                _category(self.flytekit_connector),
            )
        except FlytekitRequestError:
            # The operator's opt-in is read only when there is a pickle to let through.
            if not flag(PICKLED_INPUTS_VARIABLE):
                raise
        template = self._template(task_template)
        if self._is_flytekit_sensor:
            custom = template.custom or {}
            self._check_sensor(
                custom.get("sensor_module"),
                custom.get("sensor_name"),
                "the task template's custom",
                "template",
            )
        return template, self._inputs(inputs)

    def _meta_of(self, meta: Any) -> FlytekitMeta:
        """flytekit's meta's own ``encode()`` bytes, in this adapter's ``FlytekitMeta``."""
        metadata_type: type[FlytekitMeta] = getattr(self, "metadata_type", None) or FlytekitMeta
        return metadata_type(flytekit_meta=meta.encode())

    @functools.cached_property
    def _is_flytekit_sensor(self) -> bool:
        # Asked at every create, get and delete; the bridged connector does not change.
        kind = type(self.flytekit_connector)
        return (kind.__module__, kind.__qualname__) == ("flytekit.sensor.sensor_engine", "SensorEngine")

    def _check_sensor(self, module: object, name: object, where: str, field: str) -> None:
        """Refuse a ``sensor_module:sensor_name`` that is neither flytekit's FileSensor nor listed.

        flytekit's ``SensorEngine.get`` imports ``sensor_module`` and calls ``sensor_name`` of it: a
        module a request names, imported here. Checked at create (the template) and at every
        get and delete (the meta, which a caller may have written while unsigned metas are accepted).
        """
        if (module, name) == DEFAULT_SENSOR:
            return  # always allowed: the setting need not be read
        allowed, bad = allowed_sensors()
        if isinstance(module, str) and isinstance(name, str) and (module, name) in allowed:
            return
        shown = (
            f"{module}:{name}" if isinstance(module, str) and isinstance(name, str) else repr((module, name))
        )
        note = f" ({SENSORS_VARIABLE} entries that are not module:ClassName allow nothing: {', '.join(bad)})"
        raise FlytekitSensorNotAllowedError(
            f"task type {_category(self.flytekit_connector)}: the sensor {shown} (sensor_module:sensor_name "
            f"of {where}) is not allowed, so flytekit's SensorEngine does not import it. Allowed are "
            f"flytekit.sensor.file_sensor:FileSensor and the classes {SENSORS_VARIABLE} lists "
            f"(module:ClassName, separated by ','){note if bad else ''}; connector-sensor serves sensors "
            f"without importing what a request names",
            sensor=shown,
            field=field,
        )

    def _template(self, task_template: connector.TaskTemplate) -> Any:
        """flytekit's ``TaskTemplate.from_flyte_idl`` of the request's template message."""
        import flyteidl.core.tasks_pb2 as tasks_pb2
        from flytekit.models.task import TaskTemplate

        raw = task_template.raw
        if not isinstance(raw, tasks_pb2.TaskTemplate):
            raise FlytekitRequestError(self._not_v1(raw, "task template"), field="template")
        return TaskTemplate.from_flyte_idl(raw)

    def _inputs(self, inputs: object) -> Any:
        """flytekit's ``LiteralMap.from_flyte_idl`` of the request's inputs (an empty map if there are none).

        flytekit's service tests ``if request.inputs``, which a message always passes: a request
        without inputs gives the connector an empty ``LiteralMap``, never None.
        """
        import flyteidl.core.literals_pb2 as literals_pb2
        from flytekit.models.literals import LiteralMap

        if inputs is None or (isinstance(inputs, Mapping) and not inputs):  # the call layer's "no inputs"
            inputs = literals_pb2.LiteralMap()
        if not isinstance(inputs, literals_pb2.LiteralMap):
            raise FlytekitRequestError(self._not_v1(inputs, "inputs"), field="inputs")
        return LiteralMap.from_flyte_idl(inputs)

    def _not_v1(self, got: object, what: str) -> str:
        category = _category(self.flytekit_connector)
        module = type(got).__module__
        if module.startswith("flyteidl2"):
            return (
                f"task type {category} is served by flytekit's connector {self.flytekit_connector.name!r} "
                f"(bridged by connector-flytekit), which speaks flyteidl v1 only, as flytekit's own service "
                f"does: send the task through Flyte 1 (propeller's AsyncAgentService or SyncAgentService), "
                f"or serve it for Flyte 2 with a native or Flyte 2 connector"
            )
        return (
            f"task type {category}: flytekit's connector {self.flytekit_connector.name!r} needs the "
            f"request's flyteidl.core {what} message, and got {type(got).__name__}"
        )

    def _decoded(self, resource_meta: FlytekitMeta) -> Any:
        """flytekit's own ``metadata_type.decode`` of the bytes its ``create`` encoded.

        Whether unsigned bytes may reach here at all is ``FlytekitMeta.decode_unsigned``'s call
        (the core reads a meta no signature vouches for with it); a signed meta is this service's
        own and always decodes. flytekit's sensor is then held to the allow-list again: its meta
        names the module ``get`` imports.
        """
        fk = self.flytekit_connector
        data = resource_meta.flytekit_meta
        metadata_type = fk.metadata_type
        try:
            decoded = metadata_type.decode(data)
        except Exception as exc:
            raise FlytekitRequestError(
                f"flytekit's {getattr(metadata_type, '__qualname__', metadata_type)!s} cannot decode the "
                f"resource meta of task type {fk.task_category.name}@{fk.task_category.version}: "
                f"{type(exc).__name__}: {exc}",
                field="resource_meta",
            ) from exc
        if self._is_flytekit_sensor:
            self._check_sensor(
                getattr(decoded, "sensor_module", None),
                getattr(decoded, "sensor_name", None),
                "the resource meta",
                "resource_meta",
            )
        return decoded


class FlytekitAsyncConnector(FlytekitConnector, connector.AsyncConnector):
    """An async flytekit connector (an ``AsyncConnectorBase``) behind ``create``, ``get`` and ``delete``.

    Build one with ``connector_flytekit.bridge(flytekit_connector)``, which also adds ``get_logs``
    and ``get_metrics`` when the flytekit connector implements them.
    """

    metadata_type = FlytekitMeta

    def __init__(self, flytekit_connector: Any) -> None:
        category = flytekit_connector.task_category
        super().__init__(task_type_name=category.name, task_type_version=int(category.version))
        self.flytekit_connector = flytekit_connector

    async def create(
        self,
        task_template: connector.TaskTemplate,
        output_prefix: str,
        inputs: object,
        task_execution_metadata: connector.TaskExecutionMetadata,
    ) -> FlytekitMeta:
        """``create(task_template=, inputs=, output_prefix=, task_execution_metadata=)``; its meta's bytes."""
        enter_flytekit_context()
        from flytekit.extend.backend.utils import mirror_async_methods

        template, literal_map = self._request(task_template, inputs)
        metadata = _execution_metadata(task_execution_metadata)
        meta = await mirror_async_methods(
            self.flytekit_connector.create,
            task_template=template,
            inputs=literal_map,
            output_prefix=output_prefix,
            task_execution_metadata=metadata,
        )
        return self._meta_of(meta)

    async def get(self, resource_meta: FlytekitMeta) -> connector.Resource:
        """``get(resource_meta=)`` with flytekit's own decoded meta; its ``Resource``, field by field."""
        enter_flytekit_context()
        from flytekit.extend.backend.utils import mirror_async_methods

        resource = await mirror_async_methods(
            self.flytekit_connector.get, resource_meta=self._decoded(resource_meta)
        )
        return await resource_of(resource)

    async def delete(self, resource_meta: FlytekitMeta) -> None:
        """``connector.delete(resource_meta=)`` with flytekit's own decoded meta."""
        enter_flytekit_context()
        from flytekit.extend.backend.utils import mirror_async_methods

        await mirror_async_methods(self.flytekit_connector.delete, resource_meta=self._decoded(resource_meta))


class FlytekitSyncConnector(FlytekitConnector, connector.SyncConnector):
    """A sync flytekit connector (a ``SyncConnectorBase``) behind ``do``."""

    def __init__(self, flytekit_connector: Any) -> None:
        category = flytekit_connector.task_category
        super().__init__(task_type_name=category.name, task_type_version=int(category.version))
        self.flytekit_connector = flytekit_connector

    async def do(
        self, task_template: connector.TaskTemplate, output_prefix: str, inputs: object
    ) -> connector.Resource:
        """``do(task_template=, inputs=, output_prefix=)``, as flytekit's ExecuteTaskSync calls it."""
        enter_flytekit_context()
        from flytekit.extend.backend.utils import mirror_async_methods

        template, literal_map = self._request(task_template, inputs)
        resource = await mirror_async_methods(
            self.flytekit_connector.do,
            task_template=template,
            inputs=literal_map,
            output_prefix=output_prefix,
        )
        return await resource_of(resource)


class _Logs(FlytekitConnector):
    async def get_logs(self, resource_meta: FlytekitMeta) -> connector.LogsChunk:
        """``connector.get_logs(resource_meta=)``: its ``GetTaskLogsResponse`` as one chunk."""
        enter_flytekit_context()
        from flytekit.extend.backend.utils import mirror_async_methods

        response = await mirror_async_methods(
            self.flytekit_connector.get_logs, resource_meta=self._decoded(resource_meta)
        )
        return logs_chunk(response)


class _Metrics(FlytekitConnector):
    async def get_metrics(self, resource_meta: FlytekitMeta) -> list[connector.MetricSeries]:
        """``connector.get_metrics(resource_meta=)``: its ``GetTaskMetricsResponse`` as series."""
        enter_flytekit_context()
        from flytekit.extend.backend.utils import mirror_async_methods

        response = await mirror_async_methods(
            self.flytekit_connector.get_metrics, resource_meta=self._decoded(resource_meta)
        )
        return metric_series(response.results)


class _PlainCreate(FlytekitConnector):
    def create(
        self,
        task_template: connector.TaskTemplate,
        output_prefix: str,
        inputs: object,
        task_execution_metadata: connector.TaskExecutionMetadata,
    ) -> FlytekitMeta:
        """The plain ``create`` of the flytekit connector, in the core's worker pool; its meta's bytes."""
        enter_flytekit_context()
        template, literal_map = self._request(task_template, inputs)
        meta = self.flytekit_connector.create(
            task_template=template,
            inputs=literal_map,
            output_prefix=output_prefix,
            task_execution_metadata=_execution_metadata(task_execution_metadata),
        )
        return self._meta_of(meta)


class _PlainGet(FlytekitConnector):
    def get(self, resource_meta: FlytekitMeta) -> connector.Resource:
        """The plain ``get`` of the flytekit connector, in the core's worker pool; its ``Resource``."""
        enter_flytekit_context()
        resource = self.flytekit_connector.get(resource_meta=self._decoded(resource_meta))
        return _run(resource_of(resource))


class _PlainDelete(FlytekitConnector):
    def delete(self, resource_meta: FlytekitMeta) -> None:
        """The plain ``delete`` of the flytekit connector, in the core's worker pool."""
        enter_flytekit_context()
        self.flytekit_connector.delete(resource_meta=self._decoded(resource_meta))


class _PlainLogs(FlytekitConnector):
    def get_logs(self, resource_meta: FlytekitMeta) -> connector.LogsChunk:
        """The plain ``get_logs`` of the flytekit connector, in the core's worker pool, as one chunk."""
        enter_flytekit_context()
        return logs_chunk(self.flytekit_connector.get_logs(resource_meta=self._decoded(resource_meta)))


class _PlainMetrics(FlytekitConnector):
    def get_metrics(self, resource_meta: FlytekitMeta) -> list[connector.MetricSeries]:
        """The plain ``get_metrics`` of the flytekit connector, in the core's worker pool, as series."""
        enter_flytekit_context()
        response = self.flytekit_connector.get_metrics(resource_meta=self._decoded(resource_meta))
        return metric_series(response.results)


class _PlainDo(FlytekitConnector):
    def do(
        self, task_template: connector.TaskTemplate, output_prefix: str, inputs: object
    ) -> connector.Resource:
        """The plain ``do`` of the flytekit connector, in the core's worker pool."""
        enter_flytekit_context()
        template, literal_map = self._request(task_template, inputs)
        resource = self.flytekit_connector.do(
            task_template=template, inputs=literal_map, output_prefix=output_prefix
        )
        return _run(resource_of(resource))


def _run(coroutine: Coroutine[Any, Any, connector.Resource]) -> connector.Resource:
    """Run ``resource_of`` (``to_flyte_idl`` is async) in a worker thread, on flytekit's loop."""
    from flytekit.utils.asyn import loop_manager

    async def awaited() -> connector.Resource:
        return await coroutine

    resource: connector.Resource = loop_manager.run_sync(awaited)
    return resource


def _plain(kind: type, method: str) -> bool:
    """Whether the flytekit connector's ``method`` is a plain ``def`` (not ``async def``)."""
    return not inspect.iscoroutinefunction(getattr(kind, method))


def bridge(flytekit_connector: Any) -> FlytekitAsyncConnector | FlytekitSyncConnector:
    """The adapter of one flytekit connector instance (an ``AsyncConnectorBase`` or ``SyncConnectorBase``).

    Its class is made for it: named as the flytekit connector (``name``), with ``get_logs`` and
    ``get_metrics`` only when the flytekit connector overrides them. Raises ``TypeError`` for
    anything else.
    """
    from flytekit.extend.backend.base_connector import AsyncConnectorBase, SyncConnectorBase

    flytekit_context()  # kept in the thread that loads it, which is the one that imported flytekit
    attributes: dict[str, Any] = {
        "name": str(getattr(flytekit_connector, "name", "")),
        "__module__": __name__,
    }
    kind = type(flytekit_connector)
    if isinstance(flytekit_connector, SyncConnectorBase):
        sync_bases: list[type] = [_PlainDo] if _plain(kind, "do") else []
        cls = type("BridgedSyncConnector", (*sync_bases, FlytekitSyncConnector), attributes)
        adapter: FlytekitAsyncConnector | FlytekitSyncConnector = cls(flytekit_connector)
        return adapter
    if isinstance(flytekit_connector, AsyncConnectorBase):
        bases: list[type] = []
        for method, plain in (("create", _PlainCreate), ("get", _PlainGet), ("delete", _PlainDelete)):
            if _plain(kind, method):
                bases.append(plain)
        optional = (("get_logs", _Logs, _PlainLogs), ("get_metrics", _Metrics, _PlainMetrics))
        for method, async_base, plain_base in optional:
            if getattr(kind, method) is not getattr(AsyncConnectorBase, method):
                bases.append(plain_base if _plain(kind, method) else async_base)
        attributes["metadata_type"] = FlytekitMeta.for_connector(flytekit_connector)
        cls = type("BridgedAsyncConnector", (*bases, FlytekitAsyncConnector), attributes)
        adapter = cls(flytekit_connector)
        return adapter
    raise TypeError(
        f"{type(flytekit_connector).__module__}.{type(flytekit_connector).__qualname__} is neither a "
        "flytekit SyncConnectorBase nor an AsyncConnectorBase"
    )


async def resource_of(resource: Any) -> connector.Resource:
    """A flytekit ``Resource`` as ``connector.Resource``, through flytekit's own ``to_flyte_idl()``.

    Phase, message, log links and custom info are read from the message flytekit makes; outputs
    are its ``flyteidl.core.LiteralMap`` (a dict of native values converted by flytekit's
    TypeEngine, as its service does), or None when it has none.
    """
    message = await resource.to_flyte_idl()
    return connector.Resource(
        phase=connector.Phase(message.phase),
        message=message.message,
        log_links=[
            connector.TaskLog(
                uri=link.uri,
                name=link.name,
                show_while_pending=link.ShowWhilePending,
                hide_once_finished=link.HideOnceFinished,
            )
            for link in message.log_links
        ],
        # A flyteidl.core.LiteralMap: with raw_literals, the service copies it into the response.
        outputs=message.outputs if message.HasField("outputs") else None,
        custom_info=_struct_dict(message.custom_info) if message.HasField("custom_info") else None,
    )


def _struct_dict(struct: Any) -> dict[str, Any]:
    # Imported only for a Resource that has custom info: `from <package> import` runs importlib's
    # Python code on every call.
    from google.protobuf import json_format

    return json_format.MessageToDict(struct)  # type: ignore[no-any-return]


def logs_chunk(response: Any) -> connector.LogsChunk:
    """A ``GetTaskLogsResponse`` as one ``LogsChunk``: its header's token, or its body's lines."""
    part = response.WhichOneof("part")
    if part == "header":
        return connector.LogsChunk(token=response.header.token)
    if part == "body":
        return connector.LogsChunk(lines=list(response.body.results))
    return connector.LogsChunk()


def metric_series(results: Sequence[Any]) -> list[connector.MetricSeries]:
    """``ExecutionMetricResult``s (Prometheus range-query data in a Struct) as ``MetricSeries``."""
    from google.protobuf import json_format

    series = []
    for result in results:
        data = json_format.MessageToDict(result.data)
        points = []
        for item in data.get("result") or []:
            for timestamp, value in item.get("values") or []:
                points.append(connector.MetricPoint(float(timestamp), float(value)))
        series.append(connector.MetricSeries(metric=result.metric, points=points))
    return series


def _execution_metadata(metadata: connector.TaskExecutionMetadata | None) -> Any:
    """flytekit's ``TaskExecutionMetadata.from_flyte_idl`` of the request's message.

    Without one (``connector run``, or a caller of the call layer), the v1 message is built from
    the view's fields; its ``task_execution_id`` (a structured identifier in v1, a string in the
    view) is left empty.
    """
    import flyteidl.admin.agent_pb2 as agent_pb2
    from flytekit.models.task import TaskExecutionMetadata

    raw = getattr(metadata, "raw", None)
    if not isinstance(raw, agent_pb2.TaskExecutionMetadata):
        raw = agent_pb2.TaskExecutionMetadata()
        if metadata is not None:
            raw.namespace = metadata.namespace
            raw.labels.update(metadata.labels)
            raw.annotations.update(metadata.annotations)
            raw.k8s_service_account = metadata.k8s_service_account
            raw.environment_variables.update(metadata.environment_variables)
            raw.max_attempts = metadata.max_attempts
            raw.interruptible = metadata.interruptible
    return TaskExecutionMetadata.from_flyte_idl(raw)


def _category(flytekit_connector: Any) -> str:
    category = flytekit_connector.task_category
    return f"{category.name}@{category.version}"
