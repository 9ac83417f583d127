"""Adapters: a flytekit connector behind connector's hooks, called exactly as flytekit's own service calls it.

flytekit's ``connector_service.py`` is the reference: the request's protobufs become flytekit's
models with their ``from_flyte_idl`` (nothing goes through native values), each method gets the
same keyword arguments, ``mirror_async_methods`` awaits an ``async def`` method and runs a plain
one in the event loop's default executor, and a ``Resource`` becomes the wire form with its own
``to_flyte_idl()``, whose fields are then handed to the core one to one (outputs as the
``flyteidl.core.LiteralMap`` flytekit made).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import connector

from ._exceptions import FlytekitRequestError
from ._meta import FlytekitMeta

#: Set to 1 to let flytekit's ``decode`` unpickle metas while unsigned metas are accepted (see ``_decoded``).
PICKLED_META_VARIABLE = "CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META"
_UNSIGNED_VARIABLE = "CONNECTOR_ACCEPT_UNSIGNED_META"
# Every pickle of protocol 2 and later (cloudpickle writes 5) starts with the PROTO opcode.
_PICKLE_START = b"\x80"


class FlytekitConnector:
    """What both adapters share: the flytekit connector they call, and raw literals from the service.

    ``raw_literals`` makes the service hand the hooks the request's own messages (a
    ``flyteidl.core.LiteralMap`` as ``inputs``, the ``TaskTemplate`` and ``TaskExecutionMetadata``
    messages as ``task_template.raw`` and ``task_execution_metadata.raw``), and pass a
    ``LiteralMap`` in ``Resource.outputs`` into the response unchanged.
    """

    raw_literals: ClassVar[bool] = True
    flytekit_connector: Any

    def _template(self, task_template: connector.TaskTemplate) -> Any:
        """flytekit's ``TaskTemplate.from_flyte_idl`` of the request's template message."""
        from flyteidl.core import tasks_pb2
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
        from flyteidl.core import literals_pb2
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

        A meta the service did not sign reaches here only when the operator accepts unsigned metas
        (``CONNECTOR_ACCEPT_UNSIGNED_META=1``); then a caller may send any bytes, and a pickle
        (metas of connectors whose ``decode`` is ``cloudpickle.loads``, such as the OpenAI batch
        one) would run the caller's code in this process. A pickle is therefore refused while
        unsigned metas are accepted, unless ``CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META=1`` says the
        operator takes that risk, as flytekit's own service always does.
        """
        fk = self.flytekit_connector
        data = resource_meta.flytekit_meta
        if data.startswith(_PICKLE_START) and _flag(_UNSIGNED_VARIABLE) and not _flag(PICKLED_META_VARIABLE):
            raise FlytekitRequestError(
                f"the resource meta of task type {_category(fk)} is a pickle "
                f"(flytekit's {type(fk).__name__} decodes its metas by unpickling them), and while "
                f"{_UNSIGNED_VARIABLE}=1 any caller may send one, which would run its code here: finish "
                f"the switch-over and unset {_UNSIGNED_VARIABLE}, or set {PICKLED_META_VARIABLE}=1 to "
                f"accept that risk as flytekit's own service does",
                field="resource_meta",
            )
        metadata_type = fk.metadata_type
        try:
            return metadata_type.decode(data)
        except Exception as exc:
            raise FlytekitRequestError(
                f"flytekit's {getattr(metadata_type, '__qualname__', metadata_type)!s} cannot decode the "
                f"resource meta of task type {fk.task_category.name}@{fk.task_category.version}: "
                f"{type(exc).__name__}: {exc}",
                field="resource_meta",
            ) from exc


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
        from flytekit.extend.backend.utils import mirror_async_methods

        template = self._template(task_template)
        literal_map = self._inputs(inputs)
        metadata = _execution_metadata(task_execution_metadata)
        meta = await mirror_async_methods(
            self.flytekit_connector.create,
            task_template=template,
            inputs=literal_map,
            output_prefix=output_prefix,
            task_execution_metadata=metadata,
        )
        return FlytekitMeta(flytekit_meta=meta.encode())

    async def get(self, resource_meta: FlytekitMeta) -> connector.Resource:
        """``get(resource_meta=)`` with flytekit's own decoded meta; its ``Resource``, field by field."""
        from flytekit.extend.backend.utils import mirror_async_methods

        resource = await mirror_async_methods(
            self.flytekit_connector.get, resource_meta=self._decoded(resource_meta)
        )
        return await resource_of(resource)

    async def delete(self, resource_meta: FlytekitMeta) -> None:
        """``connector.delete(resource_meta=)`` with flytekit's own decoded meta."""
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
        from flytekit.extend.backend.utils import mirror_async_methods

        template = self._template(task_template)
        literal_map = self._inputs(inputs)
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
        from flytekit.extend.backend.utils import mirror_async_methods

        response = await mirror_async_methods(
            self.flytekit_connector.get_logs, resource_meta=self._decoded(resource_meta)
        )
        part = response.WhichOneof("part")
        if part == "header":
            return connector.LogsChunk(token=response.header.token)
        if part == "body":
            return connector.LogsChunk(lines=list(response.body.results))
        return connector.LogsChunk()


class _Metrics(FlytekitConnector):
    async def get_metrics(self, resource_meta: FlytekitMeta) -> list[connector.MetricSeries]:
        """``connector.get_metrics(resource_meta=)``: its ``GetTaskMetricsResponse`` as series."""
        from flytekit.extend.backend.utils import mirror_async_methods

        response = await mirror_async_methods(
            self.flytekit_connector.get_metrics, resource_meta=self._decoded(resource_meta)
        )
        return metric_series(response.results)


def bridge(flytekit_connector: Any) -> FlytekitAsyncConnector | FlytekitSyncConnector:
    """The adapter of one flytekit connector instance (an ``AsyncConnectorBase`` or ``SyncConnectorBase``).

    Its class is made for it: named as the flytekit connector (``name``), with ``get_logs`` and
    ``get_metrics`` only when the flytekit connector overrides them. Raises ``TypeError`` for
    anything else.
    """
    from flytekit.extend.backend.base_connector import AsyncConnectorBase, SyncConnectorBase

    attributes = {"name": str(getattr(flytekit_connector, "name", "")), "__module__": __name__}
    if isinstance(flytekit_connector, SyncConnectorBase):
        cls = type("BridgedSyncConnector", (FlytekitSyncConnector,), attributes)
        adapter: FlytekitAsyncConnector | FlytekitSyncConnector = cls(flytekit_connector)
        return adapter
    if isinstance(flytekit_connector, AsyncConnectorBase):
        bases: list[type] = []
        kind = type(flytekit_connector)
        if kind.get_logs is not AsyncConnectorBase.get_logs:
            bases.append(_Logs)
        if kind.get_metrics is not AsyncConnectorBase.get_metrics:
            bases.append(_Metrics)
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
    from google.protobuf import json_format

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
        custom_info=json_format.MessageToDict(message.custom_info)
        if message.HasField("custom_info")
        else None,
    )


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
    """flytekit's ``TaskExecutionMetadata.from_flyte_idl`` of the request's message (empty when absent)."""
    from flyteidl.admin import agent_pb2
    from flytekit.models.task import TaskExecutionMetadata

    raw = getattr(metadata, "raw", None)
    if not isinstance(raw, agent_pb2.TaskExecutionMetadata):
        raw = agent_pb2.TaskExecutionMetadata()
    return TaskExecutionMetadata.from_flyte_idl(raw)


def _category(flytekit_connector: Any) -> str:
    category = flytekit_connector.task_category
    return f"{category.name}@{category.version}"


def _flag(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")
