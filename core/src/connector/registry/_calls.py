"""The call layer: the one typed, checked way to call a loaded connector (service, runner, test kit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from .._exceptions import HookNotImplementedError, ResourceMetaError
from .._hooks import Hook
from .._idempotency import idempotency_key as derive_idempotency_key
from .._model import Connection, LogsChunk, MetricSeries, Resource, TaskExecutionMetadata, TaskTemplate
from .._resource_meta import ResourceMeta
from ._checks import (
    checked_chunk,
    checked_meta,
    checked_resource,
    checked_series,
    encoded_meta,
    logs_source,
)
from ._invoke import awaited, contained, crash, guarded, invoke, within
from ._signing import MetaSigner

if TYPE_CHECKING:
    import concurrent.futures

    from ._loaded import LoadedConnector

# asyncio and concurrent.futures are imported inside the functions: `import connector` never needs them.

_T = TypeVar("_T")
_END = object()
_UNMADE = object()


class Deferred(Generic[_T]):
    """An argument made only if the hook takes it, at most once (the service's request views)."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], _T]) -> None:
        self._make = make
        self._made: Any = _UNMADE

    def value(self) -> _T:
        """The argument, made on first use."""
        if self._made is _UNMADE:
            self._made = self._make()
        return self._made  # type: ignore[no-any-return]


_TASK_HOOKS = frozenset((Hook.CREATE, Hook.DO))


def checked_template(loaded: LoadedConnector, template: TaskTemplate) -> TaskTemplate:
    """``template`` with its custom fields checked against the connector's declaration, defaults filled in.

    The one check of ``create``, ``do`` and ``connector run`` (issue 12): unchanged when the
    connector declares no custom fields or its ``custom_fields_apply`` answers False for the
    template; ``CustomFieldError`` for a template that breaks the declaration. Whatever
    ``custom_fields_apply`` raises becomes ``HookCrashError``: a question, it has no failure to report.
    """
    fields = loaded.custom_fields
    if fields is None:
        return template
    applies = fields.applies
    if applies is not None:
        try:
            answer = applies(template)
        except BaseException as exc:
            raise crash(
                loaded, "custom_fields_apply", exc, rule="which it must not raise (return True or False)"
            ) from exc
        if not answer:
            return template
    return fields.checked(template)


def _value(argument: Any) -> Any:
    return argument.value() if type(argument) is Deferred else argument


class Admission(Protocol):
    """Admits a connector's calls or refuses them (the service's per-connector limits, issue 13).

    ``enter`` runs before a hook is called and raises (``ServiceOverloadedError``) to refuse it;
    ``leave`` runs once for every ``enter`` that returned, when the call is over. Plain hooks are
    also limited by the executor they run in.
    """

    def enter(self, hook: str) -> None: ...

    def leave(self, hook: str) -> None: ...


class ConnectorCalls:
    """Calls the hooks of one loaded connector and checks each result once.

    ``async def`` hooks are awaited in the caller's task; plain ones run in ``executor`` (None: the
    event loop's default executor). ``timeout`` (seconds, or None) limits every call
    (``CallTimeoutError``); each method's ``deadline`` is the caller's own remaining time, which the
    caller enforces by cancelling (see ``within``). A cancelled call reaches an ``async def`` hook
    at its current ``await``; a plain hook's thread cannot be interrupted, so the call stops
    waiting and the thread finishes on its own.

    A result that breaks the contract raises ``HookResultError``; whatever a hook raises that must
    not escape (``KeyboardInterrupt``, ``SystemExit``, ...) raises ``HookCrashError``; an ordinary
    exception of the hook is raised as it is. Arguments left out get empty values.

    With a ``signer``, the meta bytes handed out are signed (``encode_meta``) and only bytes it
    verifies are decoded (``decode_meta``): the service and ``connector run`` pass theirs.
    With an ``admission``, each hook call is admitted by it first (see ``Admission``).
    """

    def __init__(
        self,
        loaded: LoadedConnector,
        *,
        executor: concurrent.futures.Executor | None = None,
        timeout: float | None = None,
        signer: MetaSigner | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.loaded = loaded
        self.executor = executor
        self.timeout = timeout
        self.signer = signer
        self.admission = admission

    def __repr__(self) -> str:
        return f"<ConnectorCalls {self.loaded!r}>"

    async def _call(
        self, hook: Hook, deadline: float | None, arguments: dict[str, Any], check: Callable[[Any], _T]
    ) -> _T:
        loaded = self.loaded
        if hook not in loaded.hooks:
            raise HookNotImplementedError(loaded.category, hook)
        admission = self.admission
        if admission is not None:
            admission.enter(hook)  # before the coroutine exists: a refusal leaves nothing unawaited
        try:
            if hook in _TASK_HOOKS and loaded.custom_fields is not None:
                # After the two refusals above, which say more (a sync connector's CreateTask is
                # UNIMPLEMENTED), and within the admission limits (issue 12).
                arguments["task_template"] = checked_template(loaded, _value(arguments["task_template"]))
            # Only what the hook takes is built: a deferred view it never sees costs nothing (issue 13).
            # Built in the spec's order, so of two bad views the same one is reported every time.
            # A loop, not a comprehension: before Python 3.12 that is a function call of its own.
            given, arguments = arguments, {}
            for name in loaded.wanted[hook]:
                value = given[name]
                arguments[name] = value.value() if type(value) is Deferred else value
            if hook in loaded.async_hooks and not loaded.trace:
                called = awaited(loaded, hook, arguments, check)  # the common path, one coroutine
            else:
                called = invoke(loaded, hook, arguments, executor=self.executor, check=check)
            return await within(called, loaded, hook, self.timeout, deadline)
        finally:
            if admission is not None:
                admission.leave(hook)

    def _template(self, template: TaskTemplate | Deferred[TaskTemplate] | None) -> Any:
        if template is not None:
            return template
        return Deferred(partial(TaskTemplate, self.loaded.category.name, self.loaded.category.version))

    def task_arguments(
        self,
        task_template: TaskTemplate | Deferred[TaskTemplate] | None,
        output_prefix: str,
        inputs: Mapping[str, Any] | Deferred[Any] | None,
        task_execution_metadata: TaskExecutionMetadata | Deferred[TaskExecutionMetadata] | None,
        connection: Connection | Deferred[Connection] | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        """The arguments of ``create`` or ``do``, each a value or a ``Deferred`` (see ``call_task``)."""
        # Empty values are made only when missing and wanted.
        metadata: Any = task_execution_metadata or Deferred(TaskExecutionMetadata)
        key: Any = idempotency_key
        if key is None:
            category = self.loaded.category
            key = Deferred(lambda: derive_idempotency_key(category, _value(metadata).task_execution_id))
        return {
            "task_template": self._template(task_template),
            "output_prefix": output_prefix,
            "inputs": inputs if inputs is not None else {},
            "task_execution_metadata": metadata,
            "connection": connection or Deferred(Connection),
            "idempotency_key": key,
        }

    def call_task(
        self, hook: Hook, arguments: dict[str, Any], *, deadline: float | None = None
    ) -> Coroutine[Any, Any, Any]:
        """``create`` or ``do`` with every argument of ``task_arguments``; for the service (await it).

        A ``Deferred`` argument is built only when the hook takes it, so a connector that never
        reads its template, inputs or execution metadata never pays for their conversion (nor sees
        a mistake in them). A connector that declares ``custom_fields`` has its template checked
        against them first (``CustomFieldError``), and gets it with the defaults filled in.
        """
        # A plain def handing out _call's coroutine: one coroutine fewer on every call (issue 13).
        if hook == Hook.CREATE:
            return self._call(hook, deadline, arguments, partial(checked_meta, self.loaded))
        check = partial(checked_resource, self.loaded, Hook.DO, terminal=True)
        return self._call(Hook.DO, deadline, arguments, check)

    # The hooks.

    async def create(
        self,
        task_template: TaskTemplate | None = None,
        *,
        output_prefix: str = "",
        inputs: Mapping[str, Any] | None = None,
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
        idempotency_key: str | None = None,
        deadline: float | None = None,
    ) -> ResourceMeta:
        """Start a job; returns its meta, an instance of the connector's ``metadata_type``.

        ``idempotency_key`` defaults to ``connector.idempotency_key`` of the task execution id.
        """
        arguments = self.task_arguments(
            task_template, output_prefix, inputs, task_execution_metadata, connection, idempotency_key
        )
        return await self.call_task(Hook.CREATE, arguments, deadline=deadline)  # type: ignore[no-any-return]

    def get(
        self,
        resource_meta: ResourceMeta,
        *,
        task_template: TaskTemplate | None = None,
        connection: Connection | Deferred[Connection] | None = None,
        deadline: float | None = None,
    ) -> Coroutine[Any, Any, Resource]:
        """A job's state, as a ``Resource`` (await it).

        A plain def handing out the call's coroutine, as ``call_task``: the service's GetTask.
        """
        arguments = {
            "resource_meta": resource_meta,
            "task_template": self._template(task_template),
            "connection": connection or Deferred(Connection),
        }
        return self._call(Hook.GET, deadline, arguments, partial(checked_resource, self.loaded, Hook.GET))

    async def delete(
        self,
        resource_meta: ResourceMeta,
        *,
        connection: Connection | Deferred[Connection] | None = None,
        deadline: float | None = None,
    ) -> None:
        """Cancel a job (what the hook returns is ignored)."""
        arguments = {"resource_meta": resource_meta, "connection": connection or Deferred(Connection)}
        await self._call(Hook.DELETE, deadline, arguments, _ignored)

    async def do(
        self,
        task_template: TaskTemplate | None = None,
        *,
        output_prefix: str = "",
        inputs: Mapping[str, Any] | None = None,
        task_execution_metadata: TaskExecutionMetadata | None = None,
        connection: Connection | None = None,
        idempotency_key: str | None = None,
        deadline: float | None = None,
    ) -> Resource:
        """Run a sync connector's task; returns a ``Resource`` in a terminal phase."""
        arguments = self.task_arguments(
            task_template, output_prefix, inputs, task_execution_metadata, connection, idempotency_key
        )
        return await self.call_task(Hook.DO, arguments, deadline=deadline)  # type: ignore[no-any-return]

    async def logs(
        self,
        resource_meta: ResourceMeta,
        *,
        token: str = "",
        connection: Connection | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[LogsChunk]:
        """A job's logs, chunk by chunk as the hook gives them (a list, an iterator or an async iterator)."""
        connection_argument = connection or Deferred(Connection)
        arguments = {"resource_meta": resource_meta, "token": token, "connection": connection_argument}
        check = partial(logs_source, self.loaded)
        chunks, iterator, is_async = await self._call(Hook.GET_LOGS, deadline, arguments, check)
        for chunk in chunks:
            yield chunk
        if iterator is None:
            return
        if is_async:
            while True:
                try:
                    # __anext__ itself is connector code: guarded, then its awaitable contained.
                    step = guarded(self.loaded, Hook.GET_LOGS, iterator.__anext__)
                    item = await self._step(contained(self.loaded, Hook.GET_LOGS, step), deadline)
                except StopAsyncIteration:
                    return
                yield guarded(self.loaded, Hook.GET_LOGS, partial(checked_chunk, self.loaded, item))
        else:
            # A plain iterator runs connector code on each step: step it where plain hooks run.
            import asyncio

            loop = asyncio.get_running_loop()
            while True:
                next_chunk = partial(_next_chunk, self.loaded, iterator)
                step = loop.run_in_executor(self.executor, guarded, self.loaded, Hook.GET_LOGS, next_chunk)
                item = await self._step(step, deadline)
                if item is _END:
                    return
                yield item

    async def _step(self, awaitable: Awaitable[_T], deadline: float | None) -> _T:
        return await within(awaitable, self.loaded, Hook.GET_LOGS, self.timeout, deadline)

    async def metrics(
        self,
        resource_meta: ResourceMeta,
        *,
        queries: Sequence[str] = (),
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        step: dt.timedelta | None = None,
        connection: Connection | None = None,
        deadline: float | None = None,
    ) -> list[MetricSeries]:
        """A job's metrics, as a list of ``MetricSeries``."""
        arguments = {
            "resource_meta": resource_meta,
            "queries": tuple(queries),
            "start_time": start_time,
            "end_time": end_time,
            "step": step,
            "connection": connection or Deferred(Connection),
        }
        return await self._call(Hook.GET_METRICS, deadline, arguments, partial(checked_series, self.loaded))

    # Resource meta: the bytes a job's state travels in.

    def encode_meta(self, meta: ResourceMeta) -> bytes:
        """The bytes of a meta ``create`` returned, signed when there is a signer.

        ``HookResultError`` when the meta's own bytes do not decode back.
        """
        data = encoded_meta(self.loaded, meta)
        return data if self.signer is None else self.signer.sign(self.loaded.category, data)

    def decode_meta(self, data: bytes, hook: Hook = Hook.GET) -> ResourceMeta:
        """Decode the bytes of a job's meta, for ``hook``.

        Raises ``HookNotImplementedError`` when the connector has no such hook (a sync connector
        has no meta), and ``ResourceMetaError`` when the bytes are empty, fail the signer's check
        (forged, altered, another task type's, an unknown key) or are not one this connector's
        ``metadata_type`` wrote: the caller's mistake, and nothing of the connector runs. Bytes
        the signer verified are read with ``decode``; any others (accepted unsigned at a
        switch-over, or with no signer at all) with ``decode_unsigned``.
        """
        metadata_type = self.loaded.metadata_type
        if hook not in self.loaded.hooks or metadata_type is None:
            raise HookNotImplementedError(self.loaded.category, hook)
        if not data:
            raise ResourceMetaError(f"the resource meta is empty (task type {self.loaded.category})")
        signed = self.signer is not None and self.signer.is_signed(data)
        if self.signer is not None:
            data = self.signer.verify(self.loaded.category, data)
        try:
            # Bytes no signer vouched for (a switch-over, or a caller without a signer) get the
            # meta class's stricter reading, if it has one.
            return metadata_type.decode(data) if signed else metadata_type.decode_unsigned(data)
        except ResourceMetaError as exc:
            raise ResourceMetaError(
                f"the resource meta is not one task type {self.loaded.category} wrote: {exc}"
            ) from exc


def _ignored(result: object) -> None:
    return None


def _next_chunk(loaded: LoadedConnector, iterator: Iterator[Any]) -> Any:
    item = next(iterator, _END)
    return item if item is _END else checked_chunk(loaded, item)


def run_blocking(awaitable: Awaitable[_T]) -> _T:
    """Run a call of the call layer from plain code, to the end, and return its result.

    On a new event loop; when this thread already runs one (plain code called from async code),
    on a new loop in a thread of its own, since a loop cannot be re-entered.
    """

    import asyncio
    import concurrent.futures

    async def main() -> _T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="connector-blocking") as pool:
        return pool.submit(asyncio.run, main()).result()
