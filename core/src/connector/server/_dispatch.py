"""Running connector hooks for the service: lazy lookup, the worker pool, time limits and cancellation."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from .._exceptions import CallTimeoutError
from .._model import LogsChunk, TaskCategory
from ..registry._loaded import LoadedConnector
from ..registry._registry import ConnectorMetadata, ConnectorRegistry
from ._pool import WorkerPool

_T = TypeVar("_T")
_END = object()


class Dispatcher:
    """Calls hooks of the registry's connectors from the event loop.

    ``async def`` hooks are awaited on the loop; plain hooks run in ``pool``. ``timeout`` (seconds,
    or None) limits every call on the server side (``CallTimeoutError``); the caller's deadline
    limits it too, enforced by grpc, which cancels the call's task when it passes. When the call's
    task is cancelled (the client cancelled, or its deadline passed) the cancellation reaches an
    ``async`` hook at its current ``await``; a plain hook's thread cannot be interrupted, so the
    service stops waiting for it and its worker stays busy until it returns.
    """

    def __init__(self, registry: ConnectorRegistry, pool: WorkerPool, timeout: float | None = None) -> None:
        self.registry = registry
        self.pool = pool
        self.timeout = timeout
        self._loaded: dict[TaskCategory, LoadedConnector] = {}

    async def connector(self, category: TaskCategory) -> LoadedConnector:
        """The connector for ``category``; its first lookup imports it, off the event loop."""
        loaded = self._loaded.get(category)
        if loaded is None:
            loaded = await asyncio.to_thread(self.registry.get, category)
            self._loaded[category] = loaded
        return loaded

    async def list_metadata(self) -> list[ConnectorMetadata]:
        """Every servable connector (loading those not loaded yet, off the event loop)."""
        return await asyncio.to_thread(self.registry.list_metadata)

    async def get_metadata(self, name: str) -> ConnectorMetadata:
        """The connector named ``name``; ``ConnectorNotFound`` when there is none."""
        return await asyncio.to_thread(self.registry.get_connector_metadata, name)

    async def call(
        self, loaded: LoadedConnector, hook: str, *, deadline: float | None = None, **kwargs: Any
    ) -> Any:
        """Call ``hook`` within the time limit; ``deadline`` is the client's remaining time in seconds.

        The service's own timer is armed only when ``timeout`` ends before the client's deadline.
        A hook the connector does not implement raises ``HookNotImplementedError`` (from ``loaded.call``).
        """
        return await self._limited(loaded.call(hook, executor=self.pool, **kwargs), loaded, hook, deadline)

    async def _limited(
        self, awaitable: Awaitable[_T], loaded: LoadedConnector, hook: str, deadline: float | None
    ) -> _T:
        limit = self.timeout
        if limit is None or (deadline is not None and deadline <= limit):
            # The client's deadline needs no timer here: grpc cancels the RPC's task when it passes
            # (the handler answers DEADLINE_EXCEEDED), and that cancellation reaches the hook.
            # Propeller sends a deadline with every call, so this is the common path.
            return await awaitable
        return await _within(awaitable, limit, lambda: CallTimeoutError(hook, loaded.category, limit))

    async def log_chunks(
        self, loaded: LoadedConnector, *, deadline: float | None = None, **kwargs: Any
    ) -> AsyncIterator[LogsChunk]:
        """Call ``get_logs`` and yield its chunks as they come (a list, an iterator or an async iterator)."""
        result = await self.call(loaded, "get_logs", deadline=deadline, **kwargs)
        if isinstance(result, LogsChunk):
            yield result
            return
        if _is_lines(result):
            yield LogsChunk(lines=tuple(result))
            return
        if hasattr(result, "__aiter__"):
            async for item in result:
                yield _chunk(item)
            return
        if inspect.isgenerator(result) or isinstance(result, Iterator):
            # A plain generator runs connector code on each step: step it in the worker pool.
            loop = asyncio.get_running_loop()
            while True:
                step = loop.run_in_executor(self.pool, next, result, _END)
                item = await self._limited(step, loaded, "get_logs", deadline)
                if item is _END:
                    return
                yield _chunk(item)
        if isinstance(result, (list, tuple)):
            for item in result:
                yield _chunk(item)
            return
        raise TypeError(f"get_logs returned {type(result).__name__}, not a connector.LogsChunk or lines")


if sys.version_info >= (3, 11):

    async def _within(awaitable: Awaitable[_T], seconds: float, timed_out: Callable[[], Exception]) -> _T:
        # The hook runs in the RPC's own task: no new task, no asyncio.wait, no extra trip
        # through the event loop.
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                result = await awaitable
        except TimeoutError:
            if scope.expired():
                raise timed_out() from None
            raise  # the connector's own TimeoutError: INTERNAL, not the service's time limit
        if scope.expired():  # the hook caught its cancellation and returned anyway
            raise timed_out()
        return result

else:

    async def _within(awaitable: Awaitable[_T], seconds: float, timed_out: Callable[[], Exception]) -> _T:
        # Python 3.10 has no asyncio.timeout, and wait_for's asyncio.TimeoutError cannot be told
        # apart from a connector's own: run the hook as a task and wait for it with a timeout.
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            raise timed_out()
        return task.result()


def _is_lines(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


def _chunk(item: object) -> LogsChunk:
    if isinstance(item, LogsChunk):
        return item
    if isinstance(item, str):
        return LogsChunk(lines=(item,))
    if _is_lines(item):
        return LogsChunk(lines=tuple(item))  # type: ignore[arg-type]
    raise TypeError(f"get_logs yielded {type(item).__name__}, not a connector.LogsChunk, a line or lines")
