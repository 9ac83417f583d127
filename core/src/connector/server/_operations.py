"""The service's operations, written once for both protocols: adapter in, connector call, adapter out."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from .._exceptions import BadRequestError, ResourceMetaError
from .._hooks import Hook
from .._model import Resource, TaskCategory
from ..registry._calls import ConnectorCalls, Deferred
from ._adapters import IdlAdapter, V1Adapter, V2Adapter
from ._dispatch import Dispatcher
from ._literal_mismatch import Mismatch
from ._metrics import ServiceMetrics
from ._protobuf_values import decode_duration, decode_timestamp
from ._transient import with_retries
from ._wire import decoded


class CallInfo:
    """What one RPC is about, filled in as the request is read (for metrics and the log).

    A plain class with slots, not a dataclass: one is made for every RPC, and the dataclass's
    generated ``__init__`` with a default factory cost half again as much.
    """

    __slots__ = ("arrived", "category", "deadline", "label", "metrics", "operation", "rpc")

    def __init__(self, rpc: str, operation: str) -> None:
        self.rpc = rpc
        self.operation = operation
        self.category: TaskCategory | None = None
        #: The caller's remaining time in seconds when the call arrived (None: the caller set none).
        self.deadline: float | None = None
        #: The metrics the call was counted in at its start (None while they are off or not started yet).
        self.metrics: ServiceMetrics | None = None
        #: When the call arrived (``time.monotonic()``), which ``deadline`` counts from.
        self.arrived = time.monotonic()
        #: The ``task_type`` label of ``category`` once its connector was found (the registry knows it).
        self.label: str | None = None

    @property
    def target(self) -> str:
        """The task type the call is for, or the RPC name when it has none."""
        return f"task type {self.category}" if self.category else self.rpc

    def __str__(self) -> str:
        return self.target

    def remaining(self) -> float | None:
        """The caller's time left now (a connector's first import may have used some of it)."""
        return None if self.deadline is None else self.deadline - (time.monotonic() - self.arrived)


def _timestamp(message: Any, field: str) -> dt.datetime | None:
    if not message.HasField(field):
        return None
    timestamp = getattr(message, field)
    try:
        return decode_timestamp(timestamp)
    except Mismatch as exc:  # the caller's value: INVALID_ARGUMENT, not ToDatetime's INTERNAL (issue 9)
        raise BadRequestError(
            f"the request's {field} is out of range: {exc.reason} "
            f"(seconds={timestamp.seconds}, nanos={timestamp.nanos})",
            field=field,
        ) from None


class Operations:
    """Create, get, delete, logs, metrics, execute and metadata, for either protocol's adapter."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        #: Where calls are counted; set by the service once ``/metrics`` is up (None: not counted).
        self.metrics: ServiceMetrics | None = None

    def _known(self, call: CallInfo, category: TaskCategory) -> ConnectorCalls | None:
        """The call layer of ``category`` if an earlier call found it: the common case, with no await."""
        call.category = category
        calls = self.dispatcher.known(category)
        if calls is not None:
            call.label = category.name
        return calls

    async def _found(self, call: CallInfo, category: TaskCategory) -> ConnectorCalls:
        """The call layer of ``category``, looked up (the first call for it imports its connector)."""
        calls = await self.dispatcher.calls(category)
        call.label = category.name
        return calls

    async def _meta(
        self, adapter: IdlAdapter, request: Any, call: CallInfo, hook: Hook
    ) -> tuple[ConnectorCalls, Any]:
        """The connector a job request is for, and the request's resource meta decoded for ``hook``."""
        category = adapter.request_category(request)
        calls = self._known(call, category) or await self._found(call, category)
        try:
            return calls, calls.decode_meta(request.resource_meta, hook)
        except ResourceMetaError as exc:
            raise BadRequestError(str(exc), field="resource_meta") from exc

    async def _task(
        self, adapter: IdlAdapter, header: Any, inputs: Any, call: CallInfo
    ) -> tuple[ConnectorCalls, dict[str, Any]]:
        """The connector a task is for and the arguments of its ``create`` or ``do``.

        The views of the request are deferred: each is built only if the connector's hook takes it.
        """
        template = header.template
        category = adapter.template_category(template)
        calls = self._known(call, category) or await self._found(call, category)
        if call.metrics is not None:
            call.metrics.input_size(category.name, inputs.ByteSize())  # a label: the registry knows it
        arguments = calls.task_arguments(
            Deferred(partial(adapter.template, template)),
            header.output_prefix,
            # A raw-literals connector gets the request's own literal map, decoded by nobody here.
            inputs if calls.loaded.raw_literals else Deferred(partial(adapter.inputs, inputs, template)),
            Deferred(partial(adapter.execution_metadata, header.task_execution_metadata)),
            Deferred(partial(adapter.connection, header)),
            None,
        )
        return calls, arguments

    async def create(self, adapter: IdlAdapter, request: Any, call: CallInfo) -> bytes:
        """CreateTask: start a job; returns the encoded resource meta."""
        calls, arguments = await self._task(adapter, request, request.inputs, call)
        meta = await calls.call_task(Hook.CREATE, arguments, deadline=call.deadline)
        return calls.encode_meta(meta)

    async def get(self, adapter: IdlAdapter, request: Any, call: CallInfo) -> Any:
        """GetTask: a job's state as the protocol's ``Resource`` message."""
        calls, meta = await self._meta(adapter, request, call, Hook.GET)
        connection = Deferred(partial(adapter.connection, request))
        # The call layer's get itself, each try with its time left: no coroutine around it (issue 13).
        attempt = partial(calls.get, meta, connection=connection)
        result: Resource = await with_retries(attempt, deadline=call.remaining(), target=call)
        return adapter.resource(result, None, calls.loaded, Hook.GET)

    async def delete(self, adapter: IdlAdapter, request: Any, call: CallInfo) -> None:
        """DeleteTask: cancel a job."""
        calls, meta = await self._meta(adapter, request, call, Hook.DELETE)
        connection = Deferred(partial(adapter.connection, request))
        await calls.delete(meta, connection=connection, deadline=call.deadline)

    async def metrics_of(self, adapter: IdlAdapter, request: Any, call: CallInfo) -> Any:
        """GetTaskMetrics: a job's metrics as a ``GetTaskMetricsResponse``."""
        calls, meta = await self._meta(adapter, request, call, Hook.GET_METRICS)
        start_time, end_time = _timestamp(request, "start_time"), _timestamp(request, "end_time")
        step = None
        if request.HasField("step"):
            try:  # ToTimedelta checks no range: it overflows, or passes nanos past a second (issue 9)
                step = decode_duration(request.step)
            except Mismatch as exc:
                raise BadRequestError(
                    f"the request's step is out of range: {exc.reason} "
                    f"(seconds={request.step.seconds}, nanos={request.step.nanos})",
                    field="step",
                ) from None
        series = await calls.metrics(
            meta,
            queries=tuple(request.queries),
            start_time=start_time,
            end_time=end_time,
            step=step,
            deadline=call.deadline,
        )
        return adapter.metrics_response(series)

    async def logs(self, adapter: IdlAdapter, request: Any, call: CallInfo) -> AsyncIterator[Any]:
        """GetTaskLogs: stream a job's logs, each chunk as soon as the connector gives it."""
        calls, meta = await self._meta(adapter, request, call, Hook.GET_LOGS)
        # GetTaskLogs and GetTaskMetrics carry no Connection in either protocol.
        async for chunk in calls.logs(meta, token=request.token, deadline=call.deadline):
            for response in adapter.log_responses(chunk):
                yield response

    async def execute(self, adapter: V1Adapter, requests: AsyncIterator[Any], call: CallInfo) -> Any:
        """ExecuteTaskSync: read a header then the inputs, run ``do``; returns the ``Resource``."""
        first = decoded(await anext(requests, None))
        if first is None or not first.HasField("header"):
            raise BadRequestError("the first ExecuteTaskSyncRequest must carry the header", field="header")
        header = first.header
        call.category = adapter.template_category(header.template)
        second = decoded(await anext(requests, None))
        if second is not None and second.HasField("header"):
            raise BadRequestError(
                "ExecuteTaskSync got a second header; send the header, then the inputs", field="header"
            )
        inputs = second.inputs if second is not None else adapter.messages.ExecuteTaskSyncRequest().inputs
        calls, arguments = await self._task(adapter, header, inputs, call)
        result = await calls.call_task(Hook.DO, arguments, deadline=call.deadline)
        return adapter.resource(result, adapter.variables(header.template, "outputs"), calls.loaded, Hook.DO)

    async def list_v1(self, adapter: V1Adapter) -> list[Any]:
        """ListAgents: every servable connector as an ``Agent``."""
        return [adapter.agent(m) for m in await self.dispatcher.list_metadata()]

    async def get_v1(self, adapter: V1Adapter, name: str) -> Any:
        """GetAgent: the connector named ``name``."""
        return adapter.agent(await self.dispatcher.get_metadata(_name(name)))

    async def list_v2(self, adapter: V2Adapter) -> list[Any]:
        """ListConnectors: every servable connector as a ``Connector``."""
        return [adapter.connector(m) for m in await self.dispatcher.list_metadata()]

    async def get_v2(self, adapter: V2Adapter, name: str) -> Any:
        """GetConnector: the connector named ``name``."""
        return adapter.connector(await self.dispatcher.get_metadata(_name(name)))


def _name(name: str) -> str:
    if not name:
        raise BadRequestError("the request names no connector", field="name")
    return name
