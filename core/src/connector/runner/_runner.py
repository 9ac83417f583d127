"""Local execution: run a task through its connector (create, poll, delete, or one ``do``), no engine."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._exceptions import ConfigurationError, HookResultError, JobNotFoundError, JobStateError, JournalError
from .._model import Connection, Phase, Resource, TaskCategory, TaskExecutionMetadata, TaskLog, TaskTemplate
from .._resource_meta import ResourceMeta
from .._settings import HOME_VARIABLE
from ..registry._loaded import LoadedConnector
from ..registry._registry import ConnectorRegistry
from ._journal import JobJournal, JobRecord, JobState, connector_home
from ._values import template_from_document, template_to_document

if TYPE_CHECKING:
    import asyncio

# asyncio and concurrent.futures are imported inside functions: they would double the cost of
# `import connector`, and only a run needs them.

#: The first wait between two ``get`` calls, in seconds; it doubles after each one.
DEFAULT_POLL_INTERVAL = 1.0
#: The longest wait between two ``get`` calls, in seconds.
DEFAULT_MAX_POLL_INTERVAL = 30.0

_T = TypeVar("_T")

logger = logging.getLogger("connector")

#: What a journal write raises: the file cannot be used, or the run's row is gone (pruned meanwhile).
_JOURNAL_ERRORS = (JournalError, JobNotFoundError)

#: A callback that receives each ``RunEvent`` of a run, as it happens.
EventHandler = Callable[["RunEvent"], None]


@dataclasses.dataclass(frozen=True)
class RunEvent:
    """Something that happened during a local run, for a progress display.

    ``kind`` is one of ``started`` (before ``create``/``do``), ``created`` (the job exists and is in
    the journal), ``polled`` (``get`` answered: see ``resource``), ``cancelling`` (a cancel was asked
    for; ``delete`` follows), ``deleted``, ``delete_failed``, ``timeout``, ``finished``, and
    ``journal_failed`` (the job's journal row could not be written, or is gone; ``message`` says
    which; the run goes on without updating it).
    """

    kind: str
    elapsed: float
    category: TaskCategory
    job_id: str | None = None
    resource: Resource | None = None
    message: str = ""


@dataclasses.dataclass
class RunResult:
    """How a local run ended.

    ``state`` is a ``JobState`` (succeeded, failed, cancelled, timed_out or error); ``phase`` the
    last phase the connector reported (UNDEFINED when it reported none); ``job_id`` the journal id
    (None for a sync connector, which creates no job).
    """

    category: TaskCategory
    state: JobState
    phase: Phase
    message: str = ""
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    log_links: list[TaskLog] = dataclasses.field(default_factory=list)
    job_id: str | None = None
    resource_meta: bytes | None = None
    output_prefix: str = ""
    elapsed: float = 0.0
    polls: int = 0
    journal: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the job succeeded."""
        return self.state is JobState.SUCCEEDED

    @property
    def exit_code(self) -> int:
        """The exit status ``connector run`` uses: 0 succeeded, 130 cancelled, 1 anything else."""
        if self.ok:
            return 0
        return 130 if self.state is JobState.CANCELLED else 1

    def describe(self) -> str:
        """One line saying how the run ended, for messages and errors."""
        who = f"job {self.job_id}" if self.job_id else f"task {self.category}"
        if self.state is JobState.SUCCEEDED:
            return f"{who} succeeded"
        if self.state is JobState.FAILED:
            return (
                f"{who} ended {self.phase.name}: {self.message}"
                if self.message
                else f"{who} ended {self.phase.name}"
            )
        return f"{who} {self.state.value.replace('_', ' ')}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the result (``connector run --json`` prints it)."""
        return {
            "ok": self.ok,
            "state": self.state.value,
            "phase": self.phase.name,
            "message": self.message,
            "category": str(self.category),
            "job_id": self.job_id,
            "outputs": self.outputs,
            "log_links": [{"name": link.name, "uri": link.uri} for link in self.log_links],
            "output_prefix": self.output_prefix,
            "elapsed": round(self.elapsed, 3),
            "polls": self.polls,
            "journal": self.journal,
        }


class _Run:
    """One local run. ``cancel()`` (from a signal handler) stops it: the job is deleted, exactly once."""

    def __init__(
        self,
        loaded: LoadedConnector,
        template: TaskTemplate,
        *,
        inputs: Mapping[str, Any],
        output_prefix: str,
        task_execution_metadata: TaskExecutionMetadata,
        connection: Connection,
        poll_interval: float,
        max_poll_interval: float,
        timeout: float | None,
        journal: JobJournal | None,
        on_event: EventHandler | None,
        job_id: str | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll interval must be more than 0 seconds, got {poll_interval}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be more than 0 seconds, got {timeout}")
        self.loaded = loaded
        self.category = loaded.category
        self.template = template
        self.inputs = dict(inputs)
        self.output_prefix = output_prefix
        self.task_execution_metadata = task_execution_metadata
        self.connection = connection
        self.poll_interval = poll_interval
        self.max_poll_interval = max(max_poll_interval, poll_interval)
        self.timeout = timeout
        self.journal = journal
        self.on_event = on_event
        self._planned_id = job_id
        import asyncio
        import concurrent.futures

        self._sleep = sleep or asyncio.sleep
        self._clock = clock
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="connector-run"
        )
        self._start = clock()
        self._task: asyncio.Task[Any] | None = None
        self.cancel_requested = False
        #: Whether a hook was given up on (after a cancel or timeout) and may still run in a thread.
        self.abandoned = False
        self.job_id: str | None = None
        self.meta: ResourceMeta | None = None
        #: Whether the journal has this run's row and the run keeps it up to date.
        self._recorded = False
        self._create_task: asyncio.Future[Any] | None = None
        self._delete_task: asyncio.Future[Any] | None = None
        self.last: Resource | None = None
        self.polls = 0
        #: The sleeps between polls, in seconds (tests check the backoff with it).
        self.waits: list[float] = []

    # Control

    def cancel(self) -> bool:
        """Ask the run to stop and delete its job; False when a cancel was already asked for."""
        if self.cancel_requested:
            return False
        self.cancel_requested = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        return True

    def _abandon(self, future: asyncio.Future[Any]) -> None:
        """Stop waiting for a hook; a plain-def hook keeps running in its worker thread."""
        if not future.done():
            future.cancel()
            self.abandoned = True

    def _elapsed(self) -> float:
        return self._clock() - self._start

    def _remaining(self) -> float | None:
        return None if self.timeout is None else self.timeout - self._elapsed()

    def _emit(self, kind: str, *, resource: Resource | None = None, message: str = "") -> None:
        if self.on_event is not None:
            event = RunEvent(kind, self._elapsed(), self.category, self.job_id, resource, message)
            self.on_event(event)

    def _result(self, state: JobState, message: str, *, phase: Phase | None = None) -> RunResult:
        last = self.last
        outputs = dict(last.outputs or {}) if last is not None and state is JobState.SUCCEEDED else {}
        result = RunResult(
            category=self.category,
            state=state,
            phase=phase if phase is not None else (last.phase if last is not None else Phase.UNDEFINED),
            message=message,
            outputs=outputs,
            log_links=list(last.log_links) if last is not None else [],
            job_id=self.job_id,
            resource_meta=self.meta.encode() if self.meta is not None else None,
            output_prefix=self.output_prefix,
            elapsed=self._elapsed(),
            polls=self.polls,
            journal=str(self.journal.path) if self.journal is not None and self.job_id else None,
        )
        self._emit("finished", resource=last, message=message)
        return result

    def _record(self, **changes: Any) -> None:
        """Update the run's journal row. Every write after the row exists goes through here.

        A failure must not stop the run half way (skipping the ``delete`` of a cancel or timeout,
        or losing a finished job's outputs): it is reported once and the row is left alone after.
        """
        if self.journal is None or self.job_id is None or not self._recorded:
            return
        try:
            self.journal.update(self.job_id, **changes)
        except _JOURNAL_ERRORS as exc:
            self._recorded = False
            self._journal_failed(exc)

    def _journal_failed(self, exc: Exception) -> None:
        assert self.journal is not None
        if isinstance(exc, JobNotFoundError):
            message = (
                f"job {self.job_id} is no longer in the job journal {str(self.journal.path)!r} (pruned?); "
                "this run goes on without recording it"
            )
        else:
            message = f"{exc} (this run goes on without updating job {self.job_id} there)"
        logger.warning("%s", message)
        self._emit("journal_failed", message=message)

    async def _call(self, hook: str, **kwargs: Any) -> Any:
        return await self.loaded.call(hook, executor=self._executor, **kwargs)

    async def _within_deadline(self, future: asyncio.Future[_T]) -> tuple[bool, _T | None]:
        """Wait for ``future`` until the deadline; (False, None) when it passed first.

        ``asyncio.wait`` never cancels what it waits for, so a cancelled run can still collect
        a ``create`` that was in flight (its job must be deleted).
        """
        import asyncio

        remaining = self._remaining()
        done, _ = await asyncio.wait({future}, timeout=None if remaining is None else max(remaining, 0))
        if not done:
            return False, None
        return True, future.result()

    # The run

    async def run(self, *, resume: JobRecord | None = None, meta: ResourceMeta | None = None) -> RunResult:
        """Run to the end; a cancel from ``cancel()`` returns a CANCELLED result, any other re-raises."""
        import asyncio

        self._task = asyncio.current_task()
        try:
            if resume is not None:
                assert meta is not None
                assert self.journal is not None
                self.job_id, self.meta = resume.id, meta
                # Strict, like the check before create: nothing was polled yet, the job is left as it is.
                self.journal.update(resume.id, claim=True, state=JobState.RUNNING)
                self._recorded = True
                self._emit("created", message="resumed")
                return await self._poll()
            if self.loaded.is_sync:
                return await self._do()
            return await self._create_and_poll()
        except asyncio.CancelledError:
            result = await self._on_cancel()
            if not self.cancel_requested:
                raise  # someone else cancelled us (asyncio.run on Ctrl-C): the job is deleted; go on
            uncancel = getattr(self._task, "uncancel", None)
            if uncancel is not None:  # Python 3.11+: this cancellation is handled
                uncancel()
            return result
        except _JOURNAL_ERRORS:
            raise  # the journal failed before create, at a resume's claim, or could not record the job
        except Exception as exc:
            return self._on_error(exc)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _on_error(self, exc: Exception) -> RunResult:
        if self.meta is None:  # create failed: there is no job and nothing in the journal
            self.job_id = None
            return self._result(JobState.ERROR, f"{type(exc).__name__}: {exc}")
        hint = (
            f"; the job may still be running: `connector jobs resume {self.job_id}` polls it again, "
            f"`connector jobs cancel {self.job_id}` deletes it"
        )
        self._record(state=JobState.ERROR, message=f"{type(exc).__name__}: {exc}")
        return self._result(JobState.ERROR, f"{type(exc).__name__}: {exc}{hint}")

    async def _do(self) -> RunResult:
        import asyncio

        self._emit("started")
        task = asyncio.ensure_future(
            self._call(
                "do",
                task_template=self.template,
                output_prefix=self.output_prefix,
                inputs=self.inputs,
                task_execution_metadata=self.task_execution_metadata,
                connection=self.connection,
            )
        )
        try:
            finished, resource = await self._within_deadline(task)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not finished:
            self._abandon(task)
            self._emit("timeout")
            return self._result(
                JobState.TIMED_OUT, f"do did not return within the timeout of {self.timeout:g}s"
            )
        resource = self._check_resource("do", resource)
        if not resource.phase.is_terminal:
            raise HookResultError(
                self.category,
                "do",
                f"returned phase {resource.phase.name}, but a sync connector must end the task",
            )
        self.polls = 1
        self.last = resource
        self._emit("polled", resource=resource)
        return self._result(_state_of(resource.phase), resource.message)

    async def _create_and_poll(self) -> RunResult:
        import asyncio

        if self.journal is not None:
            self.journal.ensure()  # fail before create: a job we cannot record must not start
        self.job_id = self._planned_id or JobJournal.new_id()
        self._emit("started")
        self._create_task = asyncio.ensure_future(
            self._call(
                "create",
                task_template=self.template,
                output_prefix=self.output_prefix,
                inputs=self.inputs,
                task_execution_metadata=self.task_execution_metadata,
                connection=self.connection,
            )
        )
        finished, meta = await self._within_deadline(self._create_task)
        if not finished:
            # The job create starts must not be lost: wait for it, then delete it.
            self._emit(
                "timeout", message="create is still running; waiting for it to delete the job it starts"
            )
            # asyncio.wait: a cancel meanwhile must not cancel create (its job would be lost).
            await asyncio.wait({self._create_task})
            self._accept_meta(self._create_task.result(), must_record=False)
            return await self._time_out()
        try:
            self._accept_meta(meta, must_record=True)
        except _JOURNAL_ERRORS:
            await self._delete()  # a job the journal could not record must not be left running
            raise
        return await self._poll()

    def _accept_meta(self, meta: Any, *, must_record: bool) -> None:
        """Take create's answer and write the job's row; ``must_record``: a journal failure raises.

        Otherwise (the job is about to be deleted after a cancel or timeout) it is only reported.
        """
        expected = self.loaded.metadata_type or ResourceMeta
        if not isinstance(meta, expected):
            raise HookResultError(
                self.category,
                "create",
                f"returned {type(meta).__name__}, expected an instance of {expected.__name__}",
            )
        self.meta = meta
        encoded = meta.encode()
        if self.journal is not None:
            assert self.job_id is not None
            origin = self.loaded.origin
            try:
                self.journal.add(
                    job_id=self.job_id,
                    category=self.category,
                    resource_meta=encoded,
                    template=template_to_document(self.template),
                    inputs=self.inputs,
                    connector=" ".join(filter(None, [origin.distribution, origin.distribution_version])),
                    output_prefix=self.output_prefix,
                )
                self._recorded = True
            except _JOURNAL_ERRORS as exc:
                if must_record:
                    raise
                self._journal_failed(exc)
        self._emit("created")

    async def _poll(self) -> RunResult:
        import asyncio

        delay = self.poll_interval
        while True:
            get = asyncio.ensure_future(
                self._call(
                    "get", resource_meta=self.meta, task_template=self.template, connection=self.connection
                )
            )
            try:
                finished, answer = await self._within_deadline(get)
            except asyncio.CancelledError:
                self._abandon(get)
                raise
            if not finished:
                self._abandon(get)
                return await self._time_out()
            resource = self._check_resource("get", answer)
            self.polls += 1
            self.last = resource
            state = _state_of(resource.phase) if resource.phase.is_terminal else None
            self._record(phase=resource.phase, message=resource.message, state=state, polled=True)
            self._emit("polled", resource=resource)
            if resource.phase.is_terminal:
                return self._result(_state_of(resource.phase), resource.message)
            remaining = self._remaining()
            if remaining is not None and remaining <= delay:
                # The next get would come at the deadline with no time left to answer (and a plain-def
                # one would be left running in its thread): wait out the deadline, then delete the job.
                if remaining > 0:
                    self.waits.append(remaining)
                    await self._sleep(remaining)
                return await self._time_out()
            self.waits.append(delay)
            await self._sleep(delay)
            delay = min(delay * 2, self.max_poll_interval)

    def _check_resource(self, hook: str, answer: Any) -> Resource:
        if not isinstance(answer, Resource):
            raise HookResultError(
                self.category, hook, f"returned {type(answer).__name__}, expected a Resource"
            )
        return answer

    async def _delete(self) -> str | None:
        """Call ``delete`` once for the run's job (awaited if async); the error message, or None."""
        import asyncio

        if self._delete_task is None:
            self._delete_task = asyncio.ensure_future(
                self._call("delete", resource_meta=self.meta, connection=self.connection)
            )
        # asyncio.wait: a second cancel of this task must not cancel the delete in flight.
        await asyncio.wait({self._delete_task})
        exc = self._delete_task.exception()
        return None if exc is None else f"delete raised {type(exc).__name__}: {exc}"

    async def _time_out(self) -> RunResult:
        last = f" (last phase {self.last.phase.name})" if self.last is not None else ""
        self._emit("timeout", message=f"no terminal phase within {self.timeout:g}s{last}; deleting the job")
        error = await self._delete()
        message = f"timed out after {self.timeout:g}s{last}; " + (
            f"the job could not be deleted: {error}" if error else "the job was deleted"
        )
        self._emit("delete_failed" if error else "deleted", message=error or "")
        self._record(state=JobState.TIMED_OUT, message=message)
        return self._result(JobState.TIMED_OUT, message)

    async def _on_cancel(self) -> RunResult:
        import asyncio

        self._emit("cancelling", message="interrupted; deleting the job" if self.job_id else "interrupted")
        if self._create_task is not None and self.meta is None:
            # Interrupted during create: the job it is starting must still be deleted.
            await asyncio.wait({self._create_task})
            if self._create_task.cancelled() or self._create_task.exception() is not None:
                return self._result(JobState.CANCELLED, "interrupted; create did not start a job")
            try:
                self._accept_meta(self._create_task.result(), must_record=False)
            except HookResultError as exc:  # no meta to delete with; raising here would be a traceback
                return self._result(JobState.CANCELLED, f"interrupted; {exc}")
        if self.meta is None:
            what = "the sync connector's do was abandoned" if self.loaded.is_sync else "no job was created"
            return self._result(JobState.CANCELLED, f"interrupted; {what}")
        self._record(state=JobState.CANCELLING, message="interrupted; deleting the job")
        error = await self._delete()
        if error:
            message = f"interrupted; {error}; `connector jobs cancel {self.job_id}` tries again"
            self._emit("delete_failed", message=error)
            self._record(message=message)
            return self._result(JobState.CANCELLED, message)
        self._emit("deleted")
        self._record(state=JobState.CANCELLED, message="interrupted; the job was deleted")
        return self._result(JobState.CANCELLED, "interrupted; the job was deleted")


def _state_of(phase: Phase) -> JobState:
    return JobState.SUCCEEDED if phase is Phase.SUCCEEDED else JobState.FAILED


def _resolve_journal(journal: JobJournal | bool) -> JobJournal | None:
    if journal is True:
        return JobJournal()
    if journal is False:
        return None
    return journal


def _loaded(registry: ConnectorRegistry | LoadedConnector, category: TaskCategory | str) -> LoadedConnector:
    if isinstance(registry, LoadedConnector):
        return registry
    return registry.get(category)


def default_output_prefix(job_hint: str) -> str:
    """A fresh local directory for a run's outputs: ``$CONNECTOR_HOME/outputs/<id>``."""
    path = connector_home() / "outputs" / job_hint
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the output directory {str(path)!r}: {exc.strerror}; "
            f"pass an output prefix, or point {HOME_VARIABLE} at a writable directory"
        ) from exc
    return str(path)


def prepare_run(
    registry: ConnectorRegistry | LoadedConnector,
    category: TaskCategory | str,
    *,
    template: TaskTemplate | None = None,
    custom: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    output_prefix: str | None = None,
    task_execution_metadata: TaskExecutionMetadata | None = None,
    connection: Connection | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    timeout: float | None = None,
    journal: JobJournal | bool = True,
    on_event: EventHandler | None = None,
) -> _Run:
    """Everything ``run_connector_async`` does before running; the CLI uses it to reach ``cancel()``."""
    if isinstance(category, str):
        category = TaskCategory.parse(category)
    loaded = _loaded(registry, category)
    if template is None:
        template = TaskTemplate(loaded.category.name, loaded.category.version)
    if custom:
        template = dataclasses.replace(template, custom={**template.custom, **custom})
    run_hint = JobJournal.new_id()
    return _Run(
        loaded,
        template,
        inputs=inputs or {},
        output_prefix=output_prefix if output_prefix is not None else default_output_prefix(run_hint),
        task_execution_metadata=task_execution_metadata
        or TaskExecutionMetadata(task_execution_id=f"local-{run_hint}", namespace="local"),
        connection=connection or Connection(),
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        timeout=timeout,
        journal=None if loaded.is_sync else _resolve_journal(journal),
        on_event=on_event,
        job_id=run_hint,
    )


async def run_connector_async(
    registry: ConnectorRegistry | LoadedConnector,
    category: TaskCategory | str,
    *,
    template: TaskTemplate | None = None,
    custom: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    output_prefix: str | None = None,
    task_execution_metadata: TaskExecutionMetadata | None = None,
    connection: Connection | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    timeout: float | None = None,
    journal: JobJournal | bool = True,
    on_event: EventHandler | None = None,
) -> RunResult:
    """Run one task locally through the connector for ``category`` and return how it ended.

    A sync connector gets one ``do``. An async one gets ``create``; the job is written to
    ``journal`` (True: the default journal under ``$CONNECTOR_HOME``; False: none); then ``get``
    is called at once and again after ``poll_interval`` seconds, doubling up to
    ``max_poll_interval``, until a terminal phase. After ``timeout`` seconds the job is deleted and
    the result is TIMED_OUT. ``custom`` is merged over ``template.custom``. If the awaiting task
    is cancelled, the job is deleted (``delete`` awaited when it is ``async def``) before the
    cancellation propagates. A connector that raises gives an ``error`` result, not an exception;
    lookup errors (``ConnectorNotFound``, ``ConnectorUnavailable``) are raised.
    """
    run = prepare_run(
        registry,
        category,
        template=template,
        custom=custom,
        inputs=inputs,
        output_prefix=output_prefix,
        task_execution_metadata=task_execution_metadata,
        connection=connection,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        timeout=timeout,
        journal=journal,
        on_event=on_event,
    )
    return await run.run()


def run_connector(
    registry: ConnectorRegistry | LoadedConnector,
    category: TaskCategory | str,
    *,
    template: TaskTemplate | None = None,
    custom: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    output_prefix: str | None = None,
    task_execution_metadata: TaskExecutionMetadata | None = None,
    connection: Connection | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    timeout: float | None = None,
    journal: JobJournal | bool = True,
    on_event: EventHandler | None = None,
) -> RunResult:
    """Run one task locally and block until it ends; see ``run_connector_async``.

    Must not be called from a running event loop (await ``run_connector_async`` there).
    """
    import asyncio

    return asyncio.run(
        run_connector_async(
            registry,
            category,
            template=template,
            custom=custom,
            inputs=inputs,
            output_prefix=output_prefix,
            task_execution_metadata=task_execution_metadata,
            connection=connection,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            journal=journal,
            on_event=on_event,
        )
    )


def prepare_resume(
    registry: ConnectorRegistry,
    record: JobRecord,
    *,
    journal: JobJournal,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    timeout: float | None = None,
    on_event: EventHandler | None = None,
) -> tuple[_Run, ResourceMeta]:
    """The run that polls ``journal``'s job ``record`` again, with its connector and decoded meta."""
    if record.state is JobState.CANCELLED:
        raise JobStateError(
            f"job {record.id} was cancelled; there is nothing to resume",
            job_id=record.id,
            state=record.state.value,
        )
    loaded = registry.get(record.category)
    if loaded.is_sync or loaded.metadata_type is None:
        raise JobStateError(
            f"job {record.id}: task type {record.category} is now served by a sync connector, "
            "which cannot poll it",
            job_id=record.id,
            state=record.state.value,
        )
    meta = loaded.metadata_type.decode(record.resource_meta)
    template = TaskTemplate(**template_from_document(record.template, source=f"journal job {record.id}"))
    run = _Run(
        loaded,
        template,
        inputs={},
        output_prefix=record.output_prefix,
        task_execution_metadata=TaskExecutionMetadata(
            task_execution_id=f"local-{record.id}", namespace="local"
        ),
        connection=Connection(),
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        timeout=timeout,
        journal=journal,
        on_event=on_event,
    )
    return run, meta


def resume_job(
    registry: ConnectorRegistry,
    job_id: str,
    *,
    journal: JobJournal | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    timeout: float | None = None,
    on_event: EventHandler | None = None,
) -> RunResult:
    """Poll a journal job again (after its run died) until it ends; see ``run_connector_async``.

    ``job_id`` may be a unique prefix of at least 4 characters. Raises ``JobNotFoundError`` for an
    unknown id and ``JobStateError`` for a cancelled job.
    """
    journal = journal or JobJournal()
    record = journal.get(job_id)
    run, meta = prepare_resume(
        registry,
        record,
        journal=journal,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
        timeout=timeout,
        on_event=on_event,
    )
    import asyncio

    return asyncio.run(run.run(resume=record, meta=meta))


def cancel_job(registry: ConnectorRegistry, job_id: str, *, journal: JobJournal | None = None) -> JobRecord:
    """Delete a journal job's remote job (``delete`` awaited when async) and mark it cancelled.

    A job already succeeded, failed or cancelled is left alone (``delete`` is not called); compare
    the returned record's ``state`` with the one before to tell. Raises ``JobNotFoundError`` for an
    unknown id, and whatever ``delete`` raises (the row then stays ``cancelling``). A journal that
    fails once the job is found does not stop the ``delete``: ``JournalError`` is raised after it,
    saying that the job was deleted.
    """
    journal = journal or JobJournal()
    record = journal.get(job_id)
    if record.state.is_finished:
        return record
    loaded = registry.get(record.category)
    if loaded.metadata_type is None:
        raise JobStateError(
            f"job {record.id}: task type {record.category} is now served by a sync connector, "
            "which cannot delete it",
            job_id=record.id,
            state=record.state.value,
        )
    meta = loaded.metadata_type.decode(record.resource_meta)
    failed: Exception | None = None
    try:
        journal.update(record.id, state=JobState.CANCELLING, message="cancelling; deleting the job")
    except _JOURNAL_ERRORS as exc:
        failed = exc  # the job is still deleted: that is what was asked for
    loaded.call_blocking("delete", resource_meta=meta)
    if failed is None:
        try:
            journal.update(
                record.id, state=JobState.CANCELLED, message="cancelled with `connector jobs cancel`"
            )
            return journal.get(record.id)
        except _JOURNAL_ERRORS as exc:
            failed = exc
    raise JournalError(
        f"job {record.id} was deleted, but the journal could not record it: {failed}", path=str(journal.path)
    ) from failed
