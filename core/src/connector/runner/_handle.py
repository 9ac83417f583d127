"""One local run of one task: create, poll with backoff, delete on a cancel or timeout, or one ``do``."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from .._exceptions import (
    BadRequestError,
    ConfigurationError,
    ConnectorError,
    HookResultError,
    JobNotFoundError,
    JobStateError,
    JournalError,
    TransientError,
)
from .._model import Connection, Phase, Resource, TaskExecutionMetadata, TaskTemplate
from .._resource_meta import ResourceMeta
from .._settings import HOME_VARIABLE
from ..hookspecs import Hook
from ..registry._calls import ConnectorCalls
from ..registry._loaded import LoadedConnector
from ..registry._signing import MetaSigner
from ._documents import template_to_document
from ._job_records import JobRecord
from ._job_states import JobState
from ._journal import JobJournal
from ._options import EventHandler, RunEvent, RunEventKind, RunOptions, RunResult

if TYPE_CHECKING:
    import asyncio
    from pathlib import Path

# asyncio and concurrent.futures are imported inside functions: they would double the cost of
# `import connector`, and only a run needs them.

logger = logging.getLogger("connector")

#: What a journal write raises: the file cannot be used, or the run's row is gone (pruned meanwhile).
JOURNAL_ERRORS = (JournalError, JobNotFoundError)
#: The states in which another process (`connector jobs cancel`) has taken a job over to delete it.
CANCELLED_ELSEWHERE = (JobState.CANCELLING, JobState.CANCELLED)
#: The state a run's row must be in for the run's own moves (a poll, its cancel or timeout): a row
#: that another process moved on is that process's.
_OWN = (JobState.RUNNING,)


class RunHandle:
    """One local run of one task: ``await handle.run()`` runs it, ``handle.cancel()`` stops it.

    ``prepare_run`` and ``prepare_resume`` make it (``run_connector`` is ``prepare_run``, then
    ``run``). Holding the handle is how a caller reaches a run while it runs: a signal handler calls
    ``cancel()``; a display is set as ``on_event`` before ``run()``.

    What the hooks get: ``template``, ``inputs`` (``hook_inputs``: a v1 ``LiteralMap`` of them for
    a raw-literals connector, see ``runner/_raw.py``), ``output_prefix``, ``task_execution_metadata``
    and ``connection``. How it runs: ``options`` (a ``RunOptions``) and ``journal``, the
    ``JobJournal`` the job is written to (None for a sync connector or ``journal=False``). What it
    did so far: ``job_id`` (the journal id, once ``create`` is called), ``meta`` (the job's
    ``ResourceMeta``), ``last`` (the connector's last ``Resource``), ``polls``, ``waits`` (each sleep
    between two polls, in seconds), ``cancel_requested``, and ``abandoned``: whether a hook was
    given up on after a cancel or a timeout and may still run in a worker thread, in which case the
    process should exit without waiting for it (``os._exit``).
    """

    def __init__(
        self,
        loaded: LoadedConnector,
        template: TaskTemplate,
        *,
        inputs: Mapping[str, Any],
        output_prefix: str,
        task_execution_metadata: TaskExecutionMetadata,
        connection: Connection,
        options: RunOptions,
        on_event: EventHandler | None = None,
        job_id: str | None = None,
        resume: tuple[JobRecord, ResourceMeta] | None = None,
        signer: MetaSigner | None = None,
        make_output_directory: bool = False,
    ) -> None:
        self.loaded = loaded
        self.category = loaded.category
        self.template = template
        self.inputs = dict(inputs)
        #: What ``create`` and ``do`` get as ``inputs``: ``inputs``, or their v1 ``LiteralMap`` for a
        #: raw-literals connector (whose ``template.raw`` is then a v1 ``TaskTemplate`` too).
        self.hook_inputs: Any = self.inputs
        if loaded.raw_literals:
            from ._raw import raw_inputs, raw_template

            self.template = raw_template(self.category, template)
            self.hook_inputs = raw_inputs(self.category, self.template, self.inputs) if resume is None else {}
        self.output_prefix = output_prefix
        #: Whether the run makes ``output_prefix`` (the default one) just before the job's row.
        self._make_output_directory = make_output_directory
        self.task_execution_metadata = task_execution_metadata
        self.connection = connection
        self.options = options
        self.journal = None if loaded.is_sync else _resolve_journal(options.journal)
        #: Receives each ``RunEvent`` of the run; may be set (or replaced) until ``run()``.
        self.on_event = on_event
        self._planned_id = job_id
        self._resume = resume
        import asyncio
        import concurrent.futures

        self._sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        self._clock: Callable[[], float] = time.monotonic
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="connector-run"
        )
        #: The connector behind the call layer: every hook call and result check goes through it.
        self.calls = ConnectorCalls(loaded, executor=self._executor, signer=signer)
        #: The job's meta as handed out (signed when there is a signer), once ``create`` returned.
        self.encoded_meta: bytes | None = resume[0].resource_meta if resume is not None else None
        self._start = self._clock()
        self._started = False
        self._task: asyncio.Task[Any] | None = None
        self.cancel_requested = False
        self.abandoned = False
        self.job_id: str | None = None
        self.meta: ResourceMeta | None = None
        #: Whether the journal has this run's row and the run keeps it up to date.
        self._recorded = False
        self._added = resume is not None
        self._create_task: asyncio.Future[Any] | None = None
        self._delete_task: asyncio.Future[Any] | None = None
        self.last: Resource | None = None
        self.polls = 0
        self.waits: list[float] = []

    def __repr__(self) -> str:
        return f"<RunHandle {self.category} job {self.job_id or '-'}>"

    @property
    def in_journal(self) -> bool:
        """Whether the job's row was written to the journal (a later failed update leaves it there)."""
        return self._added

    @property
    def creating(self) -> bool:
        """Whether ``create`` was called and has not returned: the job it starts is not recorded yet."""
        return self._create_task is not None and not self._create_task.done()

    @property
    def deleted(self) -> bool:
        """Whether the run's ``delete`` returned (it raised or not): only recording how it ended is left."""
        return self._delete_task is not None and self._delete_task.done()

    # Control

    def cancel(self) -> bool:
        """Ask the run to stop and delete its job; False when a cancel was already asked for.

        Safe to call from a signal handler on the run's event loop. ``run()`` then returns a
        ``cancelled`` result once ``delete`` returned (the job is deleted once, however often this
        is called); a second call is for the caller to handle (``connector run`` exits at once).
        """
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
        timeout = self.options.timeout
        return None if timeout is None else timeout - self._elapsed()

    def _emit(self, kind: RunEventKind, *, resource: Resource | None = None, message: str = "") -> None:
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
            resource_meta=self.encoded_meta,
            output_prefix=self.output_prefix,
            elapsed=self._elapsed(),
            polls=self.polls,
            journal=str(self.journal.path) if self.journal is not None and self.job_id else None,
        )
        self._emit(RunEventKind.FINISHED, resource=last, message=message)
        return result

    def _record(self, *, state: JobState, **changes: Any) -> JobState | None:
        """Move the run's journal row to ``state``. Every write after the row exists goes through here.

        Returns None, or the state another process moved the job to first (the journal refused
        this move; see ``TRANSITIONS``): then the row is left to that process. A failure must not
        stop the run half way (skipping the ``delete`` of a cancel or timeout, or losing a
        finished job's outputs): it is reported once and the row is left alone after.
        """
        if self.journal is None or self.job_id is None or not self._recorded:
            return None
        try:
            self.journal.update(self.job_id, state=state, **changes)
        except JobStateError as exc:
            self._recorded = False
            found = JobState(exc.state)
            if found not in CANCELLED_ELSEWHERE:  # the caller ends the run; anything else is news
                self._journal_failed(exc)
            return found
        except JOURNAL_ERRORS as exc:
            self._recorded = False
            self._journal_failed(exc)
        return None

    def _cancelled_elsewhere(self, found: JobState, *, interrupted: bool = False) -> RunResult:
        """The result of a run whose job `connector jobs cancel` took over: it deletes the job, not us."""
        done = "deleted the job" if found is JobState.CANCELLED else "is deleting the job"
        message = f"another process cancelled the job (`connector jobs cancel`) and {done}"
        return self._result(JobState.CANCELLED, f"interrupted; {message}" if interrupted else message)

    def _journal_failed(self, exc: Exception) -> None:
        assert self.journal is not None
        if isinstance(exc, JobStateError):
            message = (
                f"job {self.job_id} is {exc.state} in the job journal {str(self.journal.path)!r} (another "
                "process changed it); this run goes on without recording it"
            )
        elif isinstance(exc, JobNotFoundError):
            message = (
                f"job {self.job_id} is no longer in the job journal {str(self.journal.path)!r} (pruned?); "
                "this run goes on without recording it"
            )
        else:
            message = f"{exc} (this run goes on without updating job {self.job_id} there)"
        logger.warning("%s", message)
        self._emit(RunEventKind.JOURNAL_FAILED, message=message)

    async def _within_deadline(self, future: asyncio.Future[Any]) -> bool:
        """Wait for ``future`` until the deadline; False when it passed first (``future`` runs on).

        ``asyncio.wait`` never cancels what it waits for, so a cancelled run can still collect
        a ``create`` that was in flight (its job must be deleted).
        """
        import asyncio

        remaining = self._remaining()
        done, _ = await asyncio.wait({future}, timeout=None if remaining is None else max(remaining, 0))
        return bool(done)

    # The run

    async def run(self) -> RunResult:
        """Run the task to its end and return how it ended; a handle runs once.

        After ``cancel()`` the job is deleted and the result is ``cancelled``. If the awaiting task
        is cancelled by anyone else, the job is deleted before ``CancelledError`` propagates. A
        connector that raises or answers badly gives an ``error`` result. A journal that cannot
        record the job raises ``JournalError`` (or ``JobNotFoundError`` when a resumed job's row
        is gone): it is checked before ``create`` and at a resume's start, and a job whose row
        cannot be added is deleted first.
        """
        import asyncio

        if self._started:
            raise RuntimeError("a RunHandle runs once; prepare another run")
        self._started = True
        self._task = asyncio.current_task()
        try:
            if self._resume is not None:
                return await self._resumed(*self._resume)
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
        except (*JOURNAL_ERRORS, JobStateError, ConfigurationError):
            raise  # the journal failed before create, at a resume's claim, or could not record the job
        except Exception as exc:
            return self._on_error(exc)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _resumed(self, record: JobRecord, meta: ResourceMeta) -> RunResult:
        assert self.journal is not None
        self.job_id, self.meta = record.id, meta
        # Strict, like the check before create: nothing was polled yet, the job is left as it is. A
        # job cancelled, or finished, since it was read is refused here (JobStateError).
        self.journal.update(record.id, claim=True, state=JobState.RUNNING)
        self._recorded = True
        self._emit(RunEventKind.CREATED, message="resumed")
        return await self._poll()

    def _on_error(self, exc: Exception) -> RunResult:
        error = describe_error(exc)
        if self.meta is None:  # create failed: there is no job and nothing in the journal
            self.job_id = None
            result = self._result(JobState.ERROR, error)
            # A template or inputs the connector refused is the caller's mistake: exit 2 (issue 12).
            return dataclasses.replace(result, bad_request=isinstance(exc, BadRequestError))
        hint = (
            f"; the job may still be running: `connector jobs resume {self.job_id}` polls it again, "
            f"`connector jobs cancel {self.job_id}` deletes it"
        )
        found = self._record(state=JobState.ERROR, message=error)
        if found in CANCELLED_ELSEWHERE:  # the job is that process's now: say so, as a late poll does
            return self._cancelled_elsewhere(found)
        return self._result(JobState.ERROR, f"{error}{hint}")

    def _native(self, hook: Hook, resource: Resource) -> Resource:
        """A raw-literals connector's resource with its ``LiteralMap`` outputs decoded (see ``_raw.py``)."""
        if not self.loaded.raw_literals:
            return resource
        from ._raw import native_resource

        return native_resource(self.loaded, hook, self.template, resource)

    def _task_arguments(self) -> dict[str, Any]:
        """What ``create`` and ``do`` are given."""
        return {
            "task_template": self.template,
            "output_prefix": self.output_prefix,
            "inputs": self.hook_inputs,
            "task_execution_metadata": self.task_execution_metadata,
            "connection": self.connection,
        }

    async def _do(self) -> RunResult:
        import asyncio

        self._emit(RunEventKind.STARTED)
        task = asyncio.ensure_future(self.calls.do(**self._task_arguments()))
        try:
            finished = await self._within_deadline(task)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not finished:
            self._abandon(task)
            self._emit(RunEventKind.TIMEOUT)
            return self._result(
                JobState.TIMED_OUT, f"do did not return within the timeout of {self.options.timeout:g}s"
            )
        resource = self._native(Hook.DO, task.result())
        self.polls = 1
        self.last = resource
        self._emit(RunEventKind.POLLED, resource=resource)
        return self._result(_state_of(resource.phase), resource.message)

    async def _create_and_poll(self) -> RunResult:
        import asyncio

        if self.journal is not None:
            self.journal.ensure()  # fail before create: a job we cannot record must not start
        self.job_id = self._planned_id or JobJournal.new_id()
        self._emit(RunEventKind.STARTED)
        self._create_task = asyncio.ensure_future(self.calls.create(**self._task_arguments()))
        finished = await self._within_deadline(self._create_task)
        if not finished:
            # The job create starts must not be lost: wait for it, then delete it.
            self._emit(
                RunEventKind.TIMEOUT,
                message="create is still running; waiting for it to delete the job it starts",
            )
            # asyncio.wait: a cancel meanwhile must not cancel create (its job would be lost).
            await asyncio.wait({self._create_task})
            self._accept_meta(self._create_task.result(), must_record=False)
            return await self._time_out()
        try:
            self._accept_meta(self._create_task.result(), must_record=True)
        except (*JOURNAL_ERRORS, ConfigurationError):
            await self._delete()  # a job the journal could not record must not be left running
            raise
        return await self._poll()

    def _output_directory(self) -> Path | None:
        """The default output directory this run is to make now, unless it exists already."""
        from pathlib import Path

        if not self._make_output_directory:
            return None
        path = Path(self.output_prefix)
        return None if path.exists() else path

    def _accept_meta(self, meta: ResourceMeta, *, must_record: bool) -> None:
        """Take create's meta and write the job's row; ``must_record``: a journal failure raises.

        Otherwise (the job is about to be deleted after a cancel or timeout) it is only reported.
        """
        encoded = self.encoded_meta = self.calls.encode_meta(meta)
        self.meta = meta
        if self.journal is not None:
            assert self.job_id is not None
            origin = self.loaded.origin
            made = self._output_directory()
            try:
                if made is not None:
                    make_output_directory(str(made))
                self.journal.add(
                    job_id=self.job_id,
                    category=self.category,
                    resource_meta=encoded,
                    template=template_to_document(self.template),
                    inputs=self.inputs,
                    connector=" ".join(filter(None, [origin.distribution, origin.distribution_version])),
                    output_prefix=self.output_prefix,
                )
                self._recorded = self._added = True
            except (*JOURNAL_ERRORS, ConfigurationError) as exc:
                if made is not None:
                    with suppress(OSError):  # only while empty: it is made just now, for this row
                        made.rmdir()
                if must_record:
                    raise
                self._journal_failed(exc)
        self._emit(RunEventKind.CREATED)

    async def _poll(self) -> RunResult:
        import asyncio

        delay = self.options.poll_interval
        while True:
            assert self.meta is not None
            get = asyncio.ensure_future(
                self.calls.get(self.meta, task_template=self.template, connection=self.connection)
            )
            try:
                finished = await self._within_deadline(get)
            except asyncio.CancelledError:
                self._abandon(get)
                raise
            if not finished:
                self._abandon(get)
                return await self._time_out()
            try:
                resource: Resource | None = self._native(Hook.GET, get.result())
            except TransientError:
                resource = None  # the job is as it was: poll again after the wait, as the service does
            if resource is not None:
                self.polls += 1
                self.last = resource
                state = _state_of(resource.phase) if resource.phase.is_terminal else JobState.RUNNING
                found = self._record(
                    phase=resource.phase, message=resource.message, state=state, polled=True, only_from=_OWN
                )
                self._emit(RunEventKind.POLLED, resource=resource)
                if found in CANCELLED_ELSEWHERE:  # a cancel wins over a late poll (issue 12)
                    return self._cancelled_elsewhere(found)
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
            delay = min(delay * 2, self.options.backoff_cap)

    async def _delete(self) -> str | None:
        """Call ``delete`` once for the run's job (awaited if async); the error message, or None."""
        import asyncio

        if self._delete_task is None:
            assert self.meta is not None
            self._delete_task = asyncio.ensure_future(
                self.calls.delete(self.meta, connection=self.connection)
            )
        # asyncio.wait: a second cancel of this task must not cancel the delete in flight.
        await asyncio.wait({self._delete_task})
        exc = self._delete_task.exception()
        return None if exc is None else f"delete raised {describe_error(exc)}"

    async def _time_out(self) -> RunResult:
        timeout = self.options.timeout
        last = f" (last phase {self.last.phase.name})" if self.last is not None else ""
        deleting = f"no terminal phase within {timeout:g}s{last}; deleting the job"
        self._emit(RunEventKind.TIMEOUT, message=deleting)
        found = self._record(state=JobState.CANCELLING, message=deleting, only_from=_OWN)
        if found in CANCELLED_ELSEWHERE:
            return self._cancelled_elsewhere(found)
        error = await self._delete()
        message = f"timed out after {timeout:g}s{last}; " + (
            f"the job could not be deleted: {error}" if error else "the job was deleted"
        )
        self._emit(RunEventKind.DELETE_FAILED if error else RunEventKind.DELETED, message=error or "")
        if error:  # still cancelling: `connector jobs cancel` tries the delete again
            self._record(
                state=JobState.CANCELLING,
                message=f"{message}; `connector jobs cancel {self.job_id}` tries again",
            )
        else:
            self._record(state=JobState.TIMED_OUT, message=message)
        return self._result(JobState.TIMED_OUT, message)

    async def _on_cancel(self) -> RunResult:
        import asyncio

        if self.creating:  # no job yet: the one create starts is deleted once create returns
            what = "interrupted; waiting for create, to delete the job it starts"
        else:
            what = "interrupted; deleting the job" if self.meta is not None else "interrupted"
        self._emit(RunEventKind.CANCELLING, message=what)
        if self._create_task is not None and self.meta is None:
            # Interrupted during create: the job it is starting must still be deleted.
            await asyncio.wait({self._create_task})
            failed = None if self._create_task.cancelled() else self._create_task.exception()
            if isinstance(failed, HookResultError):  # no meta to delete with
                return self._result(JobState.CANCELLED, f"interrupted; {failed}")
            if self._create_task.cancelled() or failed is not None:
                return self._result(JobState.CANCELLED, "interrupted; create did not start a job")
            try:
                self._accept_meta(self._create_task.result(), must_record=False)
            except HookResultError as exc:  # a meta that cannot be encoded: nothing to delete with
                return self._result(JobState.CANCELLED, f"interrupted; {exc}")
        if self.meta is None:
            what = "the call to do was abandoned" if self.loaded.is_sync else "no job was created"
            return self._result(JobState.CANCELLED, f"interrupted; {what}")
        found = self._record(
            state=JobState.CANCELLING, message="interrupted; deleting the job", only_from=_OWN
        )
        if found in CANCELLED_ELSEWHERE:
            return self._cancelled_elsewhere(found, interrupted=True)
        error = await self._delete()
        if error:
            message = f"interrupted; {error}; `connector jobs cancel {self.job_id}` tries again"
            self._emit(RunEventKind.DELETE_FAILED, message=error)
            self._record(state=JobState.CANCELLING, message=message)
            return self._result(JobState.CANCELLED, message)
        self._emit(RunEventKind.DELETED)
        self._record(state=JobState.CANCELLED, message="interrupted; the job was deleted")
        return self._result(JobState.CANCELLED, "interrupted; the job was deleted")


def make_output_directory(prefix: str, *, parent_only: bool = False) -> None:
    """Make a run's output directory (or only its parent); ``ConfigurationError`` when it cannot be."""
    from pathlib import Path

    path = Path(prefix)
    try:
        (path.parent if parent_only else path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the output directory {prefix!r}: {exc.strerror}; "
            f"pass an output prefix, or point {HOME_VARIABLE} at a writable directory"
        ) from exc


def describe_error(exc: BaseException) -> str:
    """How a run reports an error: connector's own errors by their message (it says everything),
    any other exception with its type first (``ValueError: ...``), as the service does."""
    if isinstance(exc, ConnectorError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _state_of(phase: Phase) -> JobState:
    return JobState.SUCCEEDED if phase is Phase.SUCCEEDED else JobState.FAILED


def _resolve_journal(journal: JobJournal | bool) -> JobJournal | None:
    if journal is True:
        return JobJournal()
    if journal is False:
        return None
    return journal
