"""Executor mixins: give a task object ``execute(**inputs)`` that runs it locally through its connector."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from .._exceptions import JobFailedError
from .._model import TaskCategory, TaskInterface, TaskTemplate
from ..registry._loaded import LoadedConnector
from ..registry._registry import ConnectorRegistry, default_registry
from ._api import prepare_run
from ._handle import RunHandle
from ._options import RunOptions, RunResult


class _ConnectorExecutorMixin:
    """What both mixins share: the task's template, its connector, and one run through the runner."""

    #: The task type and version the connector serves (set by the task class or its instances).
    task_type: str
    task_type_version: int = 0
    #: The template's custom fields: the connector's settings for this task.
    custom: Mapping[str, Any] = {}
    #: The registry to find the connector in; None means ``default_registry()``.
    connector_registry: ConnectorRegistry | None = None
    #: How the task is run: the poll loop's pace, a timeout, the journal (see ``RunOptions``).
    connector_options: RunOptions = RunOptions()
    _expects_sync: ClassVar[bool]

    def connector_task_template(self) -> TaskTemplate:
        """The template the connector is given; override to fill in more than ``custom`` and the interface."""
        custom = self.custom() if callable(self.custom) else self.custom
        interface = getattr(self, "interface", None)
        return TaskTemplate(
            type=self.task_type,
            task_type_version=self.task_type_version,
            custom=dict(custom or {}),
            interface=interface if isinstance(interface, TaskInterface) else None,
        )

    def _connector(self) -> LoadedConnector:
        registry = self.connector_registry or default_registry()
        loaded = registry.get(TaskCategory(self.task_type, self.task_type_version))
        if loaded.is_sync != self._expects_sync:
            served = "a sync connector (do)" if loaded.is_sync else "an async connector (create/get/delete)"
            wanted = "SyncConnectorExecutorMixin" if loaded.is_sync else "AsyncConnectorExecutorMixin"
            raise TypeError(
                f"{type(self).__name__}: task type {loaded.category} is served by {served}; "
                f"derive the task from {wanted} instead"
            )
        return loaded

    def _prepare(self, inputs: dict[str, Any]) -> RunHandle:
        loaded = self._connector()
        return prepare_run(
            loaded,
            loaded.category,
            template=self.connector_task_template(),
            inputs=inputs,
            options=self.connector_options,
        )

    async def execute_async(self, **inputs: Any) -> dict[str, Any]:
        """Run the task through its connector and return its outputs by name (for use in a loop).

        Cancelling the awaiting task deletes the job first. Raises ``JobFailedError`` (with the
        ``RunResult`` as ``result``) when the job does not succeed.
        """
        return _outputs(self, await self._prepare(inputs).run())

    def execute(self, **inputs: Any) -> dict[str, Any]:
        """Run the task through its connector, blocking until it ends, and return its outputs by name.

        On Ctrl-C the job is deleted (an ``async def delete`` awaited) and then ``KeyboardInterrupt``
        is raised; a second Ctrl-C interrupts at once. Raises ``JobFailedError`` when the job does
        not succeed. Call ``execute_async`` from code already running an event loop.
        """
        import asyncio

        async def main() -> dict[str, Any]:
            run = self._prepare(inputs)
            with _interrupt_cancels(run):
                result = await run.run()
            if run.cancel_requested:
                raise KeyboardInterrupt
            return _outputs(self, result)

        return asyncio.run(main())


@contextmanager
def _interrupt_cancels(run: RunHandle) -> Iterator[None]:
    """While a run is awaited, the first SIGINT cancels it (deleting its job) instead of raising.

    Without this, Python 3.10 raises ``KeyboardInterrupt`` inside the run's own frames, and no
    cleanup can be relied on. The handler removes itself, so a second SIGINT raises as usual.
    """
    import asyncio
    import signal
    import threading

    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        # The caller ignores or handles SIGINT itself: keep it so (removing the loop's handler
        # would put Python's default back, as asyncio.run does for its own).
        yield
        return

    def on_interrupt() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        run.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    except (NotImplementedError, RuntimeError):  # Windows event loops have no signal handlers
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _outputs(task: object, result: RunResult) -> dict[str, Any]:
    if not result.ok:
        raise JobFailedError(f"{type(task).__name__}: {result.describe()}", result=result)
    return result.outputs


class AsyncConnectorExecutorMixin(_ConnectorExecutorMixin):
    """Run a task locally through an async connector: ``execute(**inputs)`` creates, polls, returns outputs.

    The task class sets ``task_type``, ``task_type_version`` and ``custom`` (a mapping, or a method
    returning one) and may have an ``interface`` (a ``TaskInterface``). The job is written to the
    journal like any ``connector run`` job. ``connector_registry`` (None: the default registry) and
    ``connector_options`` (a ``RunOptions``: poll interval, backoff cap, timeout, journal) change
    where the connector is found and how the task is run.
    """

    _expects_sync = False


class SyncConnectorExecutorMixin(_ConnectorExecutorMixin):
    """Run a task locally through a sync connector: ``execute(**inputs)`` calls ``do`` and returns outputs.

    The task class sets the same attributes as for ``AsyncConnectorExecutorMixin``.
    """

    _expects_sync = True
