"""Thin gRPC servicers of flyteidl v1 and flyteidl2, and the wrapper every RPC goes through."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import grpc
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import service_pb2_grpc

from .._hooks import Hook
from ._adapters import IdlAdapter, V1Adapter, V2Adapter
from ._agent_order import order_for_propeller
from ._metrics import NO_TASK_TYPE
from ._operations import CallInfo, Operations
from ._status import log_failure, status_for
from ._wire import decoded

logger = logging.getLogger("connector.server")

_A = TypeVar("_A", bound=IdlAdapter)
_S = TypeVar("_S", bound="_Servicer[Any]")

#: Operations counted in flytekit's per-task-type metrics; metadata RPCs are counted per RPC only.
TASK_OPERATIONS = frozenset(Hook)
#: The status name of a call that succeeded (``StatusCode.name`` is a property: read it once).
_OK = grpc.StatusCode.OK.name
#: The operations of the metadata RPCs (no hook behind them).
GET_METADATA, LIST = "get_metadata", "list"


class _Servicer(Generic[_A]):
    """What every servicer holds: the shared operations (and, through them, the metrics) and its adapter."""

    def __init__(self, operations: Operations, adapter: _A) -> None:
        self.operations = operations
        self.adapter = adapter

    def _begin(self, call: CallInfo, context: grpc.aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        # grpc reports a huge number when the client set no deadline.
        call.deadline = remaining if remaining is not None and remaining < 10**8 else None
        # Read once per call: the metrics start after the port is bound, and a call is counted
        # out where it was counted in.
        call.metrics = metrics = self.operations.metrics
        return metrics.started(call.rpc) if metrics is not None else 0.0

    def _end(self, call: CallInfo, code: str, start: float) -> None:
        """Count the call out under ``code``, its status's name (``unary`` writes out the OK case)."""
        metrics = call.metrics
        if metrics is None:
            return
        operation = call.operation if call.operation in TASK_OPERATIONS else ""
        task_type = (call.label or metrics.task_label(call.category)) if operation else NO_TASK_TYPE
        metrics.finished(call.rpc, operation, task_type, code, start)

    def _fail(self, call: CallInfo, exc: BaseException, start: float) -> tuple[grpc.StatusCode, str]:
        status = status_for(exc, operation=call.operation, target=call.target)
        log_failure(status, exc, rpc=call.rpc, target=call.target)
        self._end(call, status.code.name, start)
        return status.code, status.message


def _cancel_code(call: CallInfo, context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    """The status of a call whose task grpc cancelled; says so in the server log."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        logger.info("%s for %s ended: the client's deadline passed", call.rpc, call.target)
        return grpc.StatusCode.DEADLINE_EXCEEDED
    logger.info("%s for %s ended: the call was cancelled", call.rpc, call.target)
    return grpc.StatusCode.CANCELLED


def unary(rpc: str, operation: str) -> Callable[..., Any]:
    """Wrap a unary handler: metrics, the status of any exception, and the server log."""

    counted = operation if operation in TASK_OPERATIONS else ""

    def decorate(fn: Callable[[_S, Any, CallInfo], Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: _S, request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = CallInfo(rpc, operation)
            start = self._begin(call, context)
            try:
                response = await fn(self, decoded(request), call)
            except asyncio.CancelledError:
                self._end(call, _cancel_code(call, context).name, start)
                raise
            # Everything else, KeyboardInterrupt included: a last wall behind the call layer's
            # containment, so no path it missed can stop the server (signals reach serve's handlers).
            except BaseException as exc:
                code, message = self._fail(call, exc, start)
                await context.abort(code, message)
            # _end, written out for the common case (one Python call fewer on every RPC).
            metrics = call.metrics
            if metrics is not None:
                label = (call.label or metrics.task_label(call.category)) if counted else NO_TASK_TYPE
                metrics.finished(rpc, counted, label, _OK, start)
            return response

        return handler

    return decorate


def streaming(rpc: str, operation: str) -> Callable[..., Any]:
    """Wrap a handler that yields responses (server or bidirectional streaming), as ``unary`` does."""

    def decorate(fn: Callable[[_S, Any, CallInfo], AsyncIterator[Any]]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: _S, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = CallInfo(rpc, operation)
            start = self._begin(call, context)
            # CANCELLED unless the stream ends or fails: the client may go away mid-stream (GeneratorExit).
            code: grpc.StatusCode | None = grpc.StatusCode.CANCELLED
            try:
                if not hasattr(request, "__aiter__"):
                    request = decoded(request)
                async for response in fn(self, request, call):
                    yield response
                code = grpc.StatusCode.OK
            except asyncio.CancelledError:
                code = _cancel_code(call, context)
                raise
            except GeneratorExit:
                raise  # the stream is being closed (the client went away): CANCELLED, counted below
            except BaseException as exc:  # a last wall, as in unary
                code = None  # _fail counts it
                failed, message = self._fail(call, exc, start)
                await context.abort(failed, message)
            finally:
                if code is not None:
                    self._end(call, code.name, start)

        return handler

    return decorate


# flyteidl v1 (flyteidl.service).


class AsyncAgentServicer(_Servicer[V1Adapter], agent_pb2_grpc.AsyncAgentServiceServicer):  # type: ignore[misc]
    """``flyteidl.service.AsyncAgentService``: create, get, delete, metrics and logs of a job."""

    @unary("flyteidl.service.AsyncAgentService/CreateTask", Hook.CREATE)
    async def CreateTask(self, request: Any, call: CallInfo) -> Any:
        meta = await self.operations.create(self.adapter, request, call)
        return self.adapter.messages.CreateTaskResponse(resource_meta=meta)

    @unary("flyteidl.service.AsyncAgentService/GetTask", Hook.GET)
    async def GetTask(self, request: Any, call: CallInfo) -> Any:
        return self.adapter.messages.GetTaskResponse(
            resource=await self.operations.get(self.adapter, request, call)
        )

    @unary("flyteidl.service.AsyncAgentService/DeleteTask", Hook.DELETE)
    async def DeleteTask(self, request: Any, call: CallInfo) -> Any:
        await self.operations.delete(self.adapter, request, call)
        return self.adapter.messages.DeleteTaskResponse()

    @unary("flyteidl.service.AsyncAgentService/GetTaskMetrics", Hook.GET_METRICS)
    async def GetTaskMetrics(self, request: Any, call: CallInfo) -> Any:
        return await self.operations.metrics_of(self.adapter, request, call)

    @streaming("flyteidl.service.AsyncAgentService/GetTaskLogs", Hook.GET_LOGS)
    async def GetTaskLogs(self, request: Any, call: CallInfo) -> AsyncIterator[Any]:
        async for response in self.operations.logs(self.adapter, request, call):
            yield response


class SyncAgentServicer(_Servicer[V1Adapter], agent_pb2_grpc.SyncAgentServiceServicer):  # type: ignore[misc]
    """``flyteidl.service.SyncAgentService``: run a sync connector in one bidirectional call."""

    @streaming("flyteidl.service.SyncAgentService/ExecuteTaskSync", Hook.DO)
    async def ExecuteTaskSync(self, requests: Any, call: CallInfo) -> AsyncIterator[Any]:
        resource = await self.operations.execute(self.adapter, requests, call)
        messages = self.adapter.messages
        yield messages.ExecuteTaskSyncResponse(
            header=messages.ExecuteTaskSyncResponseHeader(resource=resource)
        )


class AgentMetadataServicer(_Servicer[V1Adapter], agent_pb2_grpc.AgentMetadataServiceServicer):  # type: ignore[misc]
    """``flyteidl.service.AgentMetadataService``: which connectors this service runs.

    The agents come in the order propeller needs (``order_for_propeller``); GetAgent lists an
    agent's categories in the same order as ListAgents.
    """

    @unary("flyteidl.service.AgentMetadataService/GetAgent", GET_METADATA)
    async def GetAgent(self, request: Any, call: CallInfo) -> Any:
        agent = await self.operations.get_v1(self.adapter, request.name)
        listed = order_for_propeller(await self.operations.list_v1(self.adapter))
        agent = next((a for a in listed if (a.name, a.is_sync) == (agent.name, agent.is_sync)), agent)
        return self.adapter.messages.GetAgentResponse(agent=agent)

    @unary("flyteidl.service.AgentMetadataService/ListAgents", LIST)
    async def ListAgents(self, request: Any, call: CallInfo) -> Any:
        agents = order_for_propeller(await self.operations.list_v1(self.adapter))
        return self.adapter.messages.ListAgentsResponse(agents=agents)


# flyteidl2 (flyteidl2.connector).


class AsyncConnectorServicer(_Servicer[V2Adapter], service_pb2_grpc.AsyncConnectorServiceServicer):  # type: ignore[misc]
    """``flyteidl2.connector.AsyncConnectorService``: as v1's, with the request's Connection."""

    @unary("flyteidl2.connector.AsyncConnectorService/CreateTask", Hook.CREATE)
    async def CreateTask(self, request: Any, call: CallInfo) -> Any:
        meta = await self.operations.create(self.adapter, request, call)
        return self.adapter.messages.CreateTaskResponse(resource_meta=meta)

    @unary("flyteidl2.connector.AsyncConnectorService/GetTask", Hook.GET)
    async def GetTask(self, request: Any, call: CallInfo) -> Any:
        return self.adapter.messages.GetTaskResponse(
            resource=await self.operations.get(self.adapter, request, call)
        )

    @unary("flyteidl2.connector.AsyncConnectorService/DeleteTask", Hook.DELETE)
    async def DeleteTask(self, request: Any, call: CallInfo) -> Any:
        await self.operations.delete(self.adapter, request, call)
        return self.adapter.messages.DeleteTaskResponse()

    @unary("flyteidl2.connector.AsyncConnectorService/GetTaskMetrics", Hook.GET_METRICS)
    async def GetTaskMetrics(self, request: Any, call: CallInfo) -> Any:
        return await self.operations.metrics_of(self.adapter, request, call)

    @streaming("flyteidl2.connector.AsyncConnectorService/GetTaskLogs", Hook.GET_LOGS)
    async def GetTaskLogs(self, request: Any, call: CallInfo) -> AsyncIterator[Any]:
        async for response in self.operations.logs(self.adapter, request, call):
            yield response


class ConnectorMetadataServicer(_Servicer[V2Adapter], service_pb2_grpc.ConnectorMetadataServiceServicer):  # type: ignore[misc]
    """``flyteidl2.connector.ConnectorMetadataService``: which connectors this service runs."""

    @unary("flyteidl2.connector.ConnectorMetadataService/GetConnector", GET_METADATA)
    async def GetConnector(self, request: Any, call: CallInfo) -> Any:
        connector = await self.operations.get_v2(self.adapter, request.name)
        return self.adapter.messages.GetConnectorResponse(connector=connector)

    @unary("flyteidl2.connector.ConnectorMetadataService/ListConnectors", LIST)
    async def ListConnectors(self, request: Any, call: CallInfo) -> Any:
        return self.adapter.messages.ListConnectorsResponse(
            connectors=await self.operations.list_v2(self.adapter)
        )
