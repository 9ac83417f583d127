"""LifecycleDriver: create, get until a terminal phase, delete; from plain or async code."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._exceptions import ResourceMetaError
from .._model import Connection, ConnectorOrigin, Resource, TaskExecutionMetadata, TaskTemplate
from .._resource_meta import ResourceMeta
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
    for a sync connector they call ``do``. Between ``create``
    and each ``get`` the meta is encoded and decoded again, as it is when the engine stores it and
    another process answers. ``ContractViolation`` is raised when a hook returns the wrong type or
    the job is not terminal after ``max_polls`` polls.

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
        self.clock = clock if clock is not None else FakeClock()
        self.poll_interval = poll_interval
        self.max_polls = max_polls

    def __repr__(self) -> str:
        return f"<LifecycleDriver {self.connector!r}>"

    def template(self, custom: Mapping[str, Any] | None = None, **fields: Any) -> TaskTemplate:
        """A ``TaskTemplate`` of the connector's category with these custom fields (and other fields)."""
        category = self.connector.category
        return TaskTemplate(category.name, category.version, custom=dict(custom or {}), **fields)

    def _arguments(
        self,
        task_template: TaskTemplate | None,
        inputs: Mapping[str, Any] | None,
        output_prefix: str,
        task_execution_metadata: TaskExecutionMetadata | None,
        connection: Connection | None,
    ) -> dict[str, Any]:
        return {
            "task_template": task_template if task_template is not None else self.template(),
            "output_prefix": output_prefix,
            "inputs": dict(inputs or {}),
            "task_execution_metadata": task_execution_metadata or TaskExecutionMetadata(),
            "connection": connection or Connection(),
        }

    # Checks shared by the plain and async paths.

    def _describe(self, hook: str) -> str:
        return f"{self.connector.name} ({self.connector.category}) {hook}"

    def _checked_meta(self, meta: object) -> tuple[ResourceMeta, bytes]:
        """``meta`` and its encoded bytes, once it is known to be the right type and to decode."""
        expected = self.connector.metadata_type
        assert expected is not None  # validation guarantees it for async connectors
        if not isinstance(meta, expected):
            raise ContractViolation(
                f"{self._describe('create')} returned {type(meta).__name__} {meta!r}, not an instance of "
                f"its metadata_type {expected.__qualname__}; return {expected.__qualname__}(...)"
            )
        try:
            encoded = meta.encode()
            expected.decode(encoded)
            return meta, encoded
        except ResourceMetaError as exc:
            raise ContractViolation(
                f"{self._describe('create')} returned {meta!r}, which does not survive encode/decode: {exc}; "
                "keep only values ResourceMeta can encode, with matching field annotations"
            ) from exc

    def _checked_resource(self, hook: str, resource: object, *, terminal: bool = False) -> Resource:
        if not isinstance(resource, Resource):
            raise ContractViolation(
                f"{self._describe(hook)} returned {type(resource).__name__} {resource!r}, not a "
                "connector.Resource; return Resource(phase=..., message=..., outputs=...)"
            )
        if terminal and not resource.phase.is_terminal:
            raise ContractViolation(
                f"{self._describe(hook)} returned phase {resource.phase.name}, which is not terminal; "
                "a sync connector answers with SUCCEEDED, FAILED, ABORTED or RETRYABLE_FAILED"
            )
        return resource

    def _not_terminal(self, resources: list[Resource]) -> ContractViolation:
        last = resources[-1]
        return ContractViolation(
            f"{self._describe('get')} did not reach a terminal phase after {len(resources)} polls "
            f"{self.poll_interval:g}s apart (clock at +{self.clock.elapsed:g}s); last phase "
            f"{last.phase.name}, message {last.message!r}. Make the job finish, or raise max_polls"
        )

    # Plain code.

    def create(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> ResourceMeta:
        """Call ``create`` and return its meta as returned, after checking its type and that it encodes."""
        arguments = self._arguments(task_template, inputs, output_prefix, task_execution_metadata, connection)
        meta, _ = self._checked_meta(self.connector.call_blocking("create", **arguments))
        return meta

    def get(
        self,
        resource_meta: ResourceMeta,
        task_template: TaskTemplate | None = None,
        *,
        connection: Connection | None = None,
    ) -> Resource:
        """Call ``get`` once and check that it returned a ``Resource``."""
        resource = self.connector.call_blocking(
            "get",
            resource_meta=resource_meta,
            task_template=task_template if task_template is not None else self.template(),
            connection=connection or Connection(),
        )
        return self._checked_resource("get", resource)

    def delete(self, resource_meta: ResourceMeta, *, connection: Connection | None = None) -> None:
        """Call ``delete`` once."""
        self.connector.call_blocking(
            "delete", resource_meta=resource_meta, connection=connection or Connection()
        )

    def do(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> Resource:
        """Call ``do`` once and check that it returned a terminal ``Resource``."""
        arguments = self._arguments(task_template, inputs, output_prefix, task_execution_metadata, connection)
        return self._checked_resource("do", self.connector.call_blocking("do", **arguments), terminal=True)

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
        """Run the whole lifecycle from plain code (``do`` for a sync connector).

        With ``delete``, the job is deleted also when polling fails (a hook raises, or ``max_polls``
        is reached), so a real remote job is not left running.
        """
        arguments = self._arguments(task_template, inputs, output_prefix, task_execution_metadata, connection)
        if self.connector.is_sync:
            resource = self.connector.call_blocking("do", **arguments)
            return Lifecycle([self._checked_resource("do", resource, terminal=True)])
        meta, encoded = self._checked_meta(self.connector.call_blocking("create", **arguments))
        resources: list[Resource] = []
        template, conn = arguments["task_template"], arguments["connection"]
        try:
            while True:
                fresh = type(meta).decode(encoded)  # as another process would see it
                resource = self.connector.call_blocking(
                    "get", resource_meta=fresh, task_template=template, connection=conn
                )
                resources.append(self._checked_resource("get", resource))
                if resources[-1].phase.is_terminal:
                    break
                if len(resources) >= self.max_polls:
                    raise self._not_terminal(resources)
                self.clock.sleep(self.poll_interval)
        finally:
            if delete:
                self.connector.call_blocking(
                    "delete", resource_meta=type(meta).decode(encoded), connection=conn
                )
        return Lifecycle(resources, meta, encoded, deleted=delete)

    # Async code.

    async def acreate(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> ResourceMeta:
        """``create`` from async code."""
        arguments = self._arguments(task_template, inputs, output_prefix, task_execution_metadata, connection)
        meta, _ = self._checked_meta(await self.connector.call("create", **arguments))
        return meta

    async def aget(
        self,
        resource_meta: ResourceMeta,
        task_template: TaskTemplate | None = None,
        *,
        connection: Connection | None = None,
    ) -> Resource:
        """``get`` from async code."""
        resource = await self.connector.call(
            "get",
            resource_meta=resource_meta,
            task_template=task_template if task_template is not None else self.template(),
            connection=connection or Connection(),
        )
        return self._checked_resource("get", resource)

    async def adelete(self, resource_meta: ResourceMeta, *, connection: Connection | None = None) -> None:
        """``delete`` from async code."""
        await self.connector.call(
            "delete", resource_meta=resource_meta, connection=connection or Connection()
        )

    async def ado(
        self,
        task_template: TaskTemplate | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        output_prefix: str = "",
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
    ) -> Resource:
        """``do`` from async code."""
        arguments = self._arguments(task_template, inputs, output_prefix, task_execution_metadata, connection)
        return self._checked_resource("do", await self.connector.call("do", **arguments), terminal=True)

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
        """Run the whole lifecycle from async code; plain ``def`` hooks run in the default executor.

        With ``delete``, the job is deleted also when polling fails, as in ``run``.
        """
        arguments = self._arguments(task_template, inputs, output_prefix, task_execution_metadata, connection)
        if self.connector.is_sync:
            resource = await self.connector.call("do", **arguments)
            return Lifecycle([self._checked_resource("do", resource, terminal=True)])
        meta, encoded = self._checked_meta(await self.connector.call("create", **arguments))
        resources: list[Resource] = []
        template, conn = arguments["task_template"], arguments["connection"]
        try:
            while True:
                fresh = type(meta).decode(encoded)
                resource = await self.connector.call(
                    "get", resource_meta=fresh, task_template=template, connection=conn
                )
                resources.append(self._checked_resource("get", resource))
                if resources[-1].phase.is_terminal:
                    break
                if len(resources) >= self.max_polls:
                    raise self._not_terminal(resources)
                await self.clock.asleep(self.poll_interval)
        finally:
            if delete:
                await self.connector.call("delete", resource_meta=type(meta).decode(encoded), connection=conn)
        return Lifecycle(resources, meta, encoded, deleted=delete)
