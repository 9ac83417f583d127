"""``grpc.health.v1.Health``: per-service serving status that follows readiness and draining."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


#: The health service's own name: a Check for it asks whether the process answers at all.
HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


class HealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """Check and Watch for a fixed set of service names ("" is the whole server).

    ``services`` (and "") start NOT_SERVING and follow readiness through ``set_all``;
    ``serving_at_once`` names start SERVING (the health service's own name: the process answers,
    whether or not its connectors are loaded yet). ``drain`` turns every name NOT_SERVING for good.

    Unlike grpcio-health-checking's servicer, a Watch stream ends once draining has been announced
    (after sending NOT_SERVING): a graceful stop waits for open streams, and a watcher must not
    hold the process up for the whole drain period.
    """

    def __init__(self, services: Iterable[str], *, serving_at_once: Iterable[str] = ()) -> None:
        self._status = dict.fromkeys(("", *services), NOT_SERVING)
        self._status.update(dict.fromkeys(serving_at_once, SERVING))
        self._changed = asyncio.Condition()
        self._draining = False

    async def set_all(self, status: Any) -> None:
        """Set every service's status (ignored once draining)."""
        if self._draining:
            return
        async with self._changed:
            self._status = dict.fromkeys(self._status, status)
            self._changed.notify_all()

    async def drain(self) -> None:
        """Turn every service NOT_SERVING for good, and end the Watch streams."""
        await self.set_all(NOT_SERVING)
        async with self._changed:
            self._draining = True
            self._changed.notify_all()

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service[:200]!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        sent = None
        while True:
            async with self._changed:
                status = self._status.get(request.service, SERVICE_UNKNOWN)
                draining = self._draining
                if status == sent and not draining:
                    await self._changed.wait()
                    continue
            if status != sent:
                yield health_pb2.HealthCheckResponse(status=status)
                sent = status
            if draining:
                return
