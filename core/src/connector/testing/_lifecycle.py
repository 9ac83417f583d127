"""LifecycleDriver: create, get until a terminal phase, delete; from plain or async code."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from .._exceptions import HookResultError
from .._model import Connection, ConnectorOrigin, Resource, TaskExecutionMetadata, TaskTemplate
from .._resource_meta import ResourceMeta
from ..registry._calls import ConnectorCalls, run_blocking
from ..registry._loaded import LoadedConnector
from ..registry._validation import build_connector
from ._clock import FakeClock
from ._exceptions import ContractViolation


@dataclasses.dataclass
class Lifecycle:
    """What one run of a connector produced.

    For an async connector: the ``resource_meta`` ``create`` returned, its ``encoded_meta`` bytes,
    every ``Resource`` ``get`` returned (``resources``, the last one terminal) and whether ``delete``
    was called. For a sync connector: ``resources`` holds the one ``Resource`` of ``do``.
    """

    resources: list[Resource]
    resource_meta: ResourceMeta | None = None
    encoded_meta: bytes | None = None
    deleted: bool = False

    @property
    def final(self) -> Resource:
        """The last ``Resource``: the terminal one."""
        return self.resources[-1]

    @property
    def polls(self) -> int:
        """How many times ``get`` was called (0 for a sync connector)."""
        return len(self.resources) if self.resource_meta is not None else 0


class LifecycleDriver:
    """Drives one connector through its lifecycle the way the service does, without a server.

    ``run`` (plain code) and ``arun`` (async code) call ``create``, then ``get`` until the phase is
    terminal, sleeping ``poll_interval`` on ``clock`` between polls (a ``FakeClock`` by default, so
    nothing really waits), then ``delete`` (also when polling fails, so no real job is left running);
    for a sync connector they call ``do``. Between ``create`` and each ``get`` the meta is encoded
    and decoded again, as it is when the engine stores it and another process answers.

    Every call goes through the core's call layer, with the service's checks: a hook that returns
    the wrong thing raises ``ContractViolation`` with the very message the service and
    ``connector run`` give; so does a job that is not terminal after ``max_polls`` polls. Plain
    ``def`` hooks run in a worker thread, as in the service.

    ``connector`` is a ``LoadedConnector`` (from a registry) or a connector object, which is
    validated here.
    """

    def __init__(
        self,
        connector: LoadedConnector | object,
        *,
        clock: FakeClock | None = None,
        poll_interval: float = 1.0,
        max_polls: int = 100,
    ) -> None:
        if not isinstance(connector, LoadedConnector):
            target = getattr(connector, "__qualname__", None) or type(connector).__qualname__
            connector = build_connector(connector, origin=ConnectorOrigin(target=str(target)))
        self.connector: LoadedConnector = connector
        self.calls = ConnectorCalls(connector)
        self.clock = clock if clock is not None else FakeClock()
        self.poll_interval = poll_interval
        self.max_polls = max_polls

    def __repr__(self) -> str:
        return f"<LifecycleDriver {self.connector!r}>"

    def template(self, custom: Mapping[str, Any] | None = None, **fields: Any) -> TaskTemplate:
        """A ``TaskTemplate`` of the connector's category with these custom fields (and other fields)."""
        category = self.connector.category
        return TaskTemplate(category.name, category.version, custom=dict(custom or {}), **fields)

    def _not_terminal(self, resources: list[Resource]) -> ContractViolation:
        last = resources[-1]
        return ContractViolation(
            f"{self.connector.name} ({self.connector.category}) get did not reach a terminal phase after "
            f"{len(resources)} polls {self.poll_interval:g}s apart (clock at +{self.clock.elapsed:g}s); last "
            f"phase {last.phase.name}, message {last.message!r}. Make the job finish, or raise max_polls"
        )

    # Async code: every other method runs one of these.

    async def acreate(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> ResourceMeta:
        """Call ``create``; return its meta, once it is the right type and survives encode/decode."""
        with _violations():
            meta = await self.calls.create(
                task_template,
                inputs=inputs,
                output_prefix=output_prefix,
                task_execution_metadata=task_execution_metadata,
                connection=connection,
            )
            self.calls.encode_meta(meta)
        return meta

    async def aget(
        self,
        resource_meta: ResourceMeta,
        task_template: TaskTemplate | None = None,
        *,
        connection: Connection | None = None,
    ) -> Resource:
        """Call ``get`` once; return its ``Resource``."""
        with _violations():
            return await self.calls.get(resource_meta, task_template=task_template, connection=connection)

    async def adelete(self, resource_meta: ResourceMeta, *, connection: Connection | None = None) -> None:
        """Call ``delete`` once."""
        await self.calls.delete(resource_meta, connection=connection)

    async def ado(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> Resource:
        """Call ``do`` once; return its ``Resource``, once it is terminal."""
        with _violations():
            return await self.calls.do(
                task_template,
                inputs=inputs,
                output_prefix=output_prefix,
                task_execution_metadata=task_execution_metadata,
                connection=connection,
            )

    async def arun(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
        delete: bool = True,
    ) -> Lifecycle:
        """Run the whole lifecycle from async code (``do`` for a sync connector).

        With ``delete``, the job is deleted also when polling fails (a hook raises, or
        ``max_polls`` is reached), so a real remote job is not left running.
        """
        task: dict[str, Any] = {
            "inputs": inputs,
            "output_prefix": output_prefix,
            "task_execution_metadata": task_execution_metadata,
            "connection": connection,
        }
        if self.connector.is_sync:
            return Lifecycle([await self.ado(task_template, **task)])
        template = task_template if task_template is not None else self.template()
        meta = await self.acreate(template, **task)
        encoded = meta.encode()
        resources: list[Resource] = []
        try:
            while True:
                fresh = type(meta).decode(encoded)  # as another process would see it
                resources.append(await self.aget(fresh, template, connection=connection))
                if resources[-1].phase.is_terminal:
                    break
                if len(resources) >= self.max_polls:
                    raise self._not_terminal(resources)
                await self.clock.asleep(self.poll_interval)
        finally:
            if delete:
                await self.adelete(type(meta).decode(encoded), connection=connection)
        return Lifecycle(resources, meta, encoded, deleted=delete)

    # Plain code: the same calls, each run to the end on an event loop of its own.

    def create(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> ResourceMeta:
        """``acreate`` from plain code."""
        return run_blocking(
            self.acreate(
                task_template,
                inputs=inputs,
                output_prefix=output_prefix,
                task_execution_metadata=task_execution_metadata,
                connection=connection,
            )
        )

    def get(
        self,
        resource_meta: ResourceMeta,
        task_template: TaskTemplate | None = None,
        *,
        connection: Connection | None = None,
    ) -> Resource:
        """``aget`` from plain code."""
        return run_blocking(self.aget(resource_meta, task_template, connection=connection))

    def delete(self, resource_meta: ResourceMeta, *, connection: Connection | None = None) -> None:
        """``adelete`` from plain code."""
        run_blocking(self.adelete(resource_meta, connection=connection))

    def do(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> Resource:
        """``ado`` from plain code."""
        return run_blocking(
            self.ado(
                task_template,
                inputs=inputs,
                output_prefix=output_prefix,
                task_execution_metadata=task_execution_metadata,
                connection=connection,
            )
        )

    def run(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
        delete: bool = True,
    ) -> Lifecycle:
        """``arun`` from plain code (the fake clock's sleeps do not wait)."""
        return run_blocking(
            self.arun(
                task_template,
                inputs=inputs,
                output_prefix=output_prefix,
                task_execution_metadata=task_execution_metadata,
                connection=connection,
                delete=delete,
            )
        )


@contextlib.contextmanager
def _violations() -> Iterator[None]:
    """The call layer's ``HookResultError`` as a ``ContractViolation`` with the same message."""
    try:
        yield
    except HookResultError as exc:
        raise ContractViolation(str(exc)) from exc
