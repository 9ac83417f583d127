"""The local runner's entry points: prepare or start a run, resume or cancel a journal job."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._exceptions import JobStateError, JournalError
from .._model import Connection, TaskCategory, TaskExecutionMetadata, TaskTemplate
from .._settings import connector_home
from ..hookspecs import Hook
from ..registry._calls import ConnectorCalls, run_blocking
from ..registry._loaded import LoadedConnector
from ..registry._registry import ConnectorRegistry
from ..registry._signing import MetaSigner
from ._documents import template_from_document
from ._handle import JOURNAL_ERRORS, RunHandle, make_output_directory
from ._job_records import JobRecord
from ._job_states import TRANSITIONS, JobState, refusal
from ._journal import JobJournal, hostname
from ._options import EventHandler, RunOptions, RunResult

_DEFAULT_OPTIONS = RunOptions()


def _loaded(registry: ConnectorRegistry | LoadedConnector, category: TaskCategory | str) -> LoadedConnector:
    if isinstance(registry, LoadedConnector):
        return registry
    return registry.get(category)


def default_output_prefix(job_hint: str, *, create: bool = True) -> str:
    """A fresh local directory for a run's outputs: ``$CONNECTOR_HOME/outputs/<id>``.

    ``create=False`` only names it: a sync run's ``do`` creates it if it writes outputs (issue 12).
    """
    path = str(connector_home() / "outputs" / job_hint)
    if create:
        make_output_directory(path)
    return path


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
    options: RunOptions | None = None,
    on_event: EventHandler | None = None,
) -> RunHandle:
    """The run ``run_connector_async`` would do, not started yet: ``await handle.run()`` starts it.

    Takes the arguments of ``run_connector_async``. Finds the connector (raising its lookup errors)
    and, for an async connector with a journal, makes the parent of the default output directory
    (``ConfigurationError`` when it cannot be made; the run makes the directory itself once
    ``create`` returned, just before the job's row). A sync run's, or one without a journal, is
    only named, for the connector to create if it writes outputs. Calls no hook.
    For a raw-literals connector it builds the v1 messages the hooks get (``MissingExtraError``
    without the server extra, ``InputValueError`` for an input with no literal form).
    """
    if isinstance(category, str):
        category = TaskCategory.parse(category)
    loaded = _loaded(registry, category)
    if template is None:
        template = TaskTemplate(loaded.category.name, loaded.category.version)
    if custom:
        template = dataclasses.replace(template, custom={**template.custom, **custom})
    run_hint = JobJournal.new_id()
    # An async run's default directory is made once create returned, just before the job's row
    # (and removed if the row cannot be written): a failed create leaves no empty folder behind,
    # and `jobs prune` removes it with the row. Without a journal there is no row to prune it
    # with: it is only named, as for a sync run (issue 12). Its parent is made now, to fail early.
    make_directory = output_prefix is None and not loaded.is_sync and (options or _DEFAULT_OPTIONS).journal
    if output_prefix is None:
        output_prefix = default_output_prefix(run_hint, create=False)
        if make_directory:
            make_output_directory(output_prefix, parent_only=True)
    return RunHandle(
        loaded,
        template,
        inputs=inputs or {},
        output_prefix=output_prefix,
        make_output_directory=bool(make_directory),
        task_execution_metadata=task_execution_metadata
        or TaskExecutionMetadata(task_execution_id=f"local-{run_hint}", namespace="local"),
        connection=connection or Connection(),
        options=options or _DEFAULT_OPTIONS,
        on_event=on_event,
        job_id=run_hint,
        # A sync connector hands out no meta: its runs never touch the key file.
        signer=None if loaded.is_sync else MetaSigner.from_environ(),
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
    options: RunOptions | None = None,
    on_event: EventHandler | None = None,
) -> RunResult:
    """Run one task locally through the connector for ``category`` and return how it ended.

    A sync connector gets one ``do``. An async one gets ``create``; the job is written to the
    journal; then ``get`` is called until a terminal phase, as ``options`` (a ``RunOptions``; the
    defaults when None) says: its backoff, its timeout (then the job is deleted and the result is
    TIMED_OUT) and its journal. ``custom`` is merged over ``template.custom``; ``output_prefix``
    defaults to a new directory under ``$CONNECTOR_HOME/outputs``. ``on_event`` receives each
    ``RunEvent``. If the awaiting task is cancelled, the job is deleted (``delete`` awaited when
    it is ``async def``) before the cancellation propagates. A connector that raises gives an
    ``error`` result, not an exception; lookup errors (``ConnectorNotFound``,
    ``ConnectorUnavailable``) are raised, and so is a ``JournalError`` for a journal that cannot
    record the job (which is then deleted).
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
        options=options,
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
    options: RunOptions | None = None,
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
            options=options,
            on_event=on_event,
        )
    )


def _journal_of(options: RunOptions) -> JobJournal:
    """The journal a resume reads the job from and goes on writing it to."""
    if options.journal is False:
        raise ValueError("a resumed job is polled from its journal; RunOptions(journal=False) has none")
    return JobJournal() if options.journal is True else options.journal


def prepare_resume(
    registry: ConnectorRegistry,
    record: JobRecord,
    *,
    options: RunOptions | None = None,
    on_event: EventHandler | None = None,
) -> RunHandle:
    """The run that polls the journal job ``record`` again: ``await handle.run()`` starts it.

    ``record`` must come from ``options.journal`` (the default journal when ``options`` is None),
    which the run goes on updating. Raises ``JobStateError`` for a job that is not ``running`` or
    ``error`` (finished, deleted, or being cancelled) or whose task type is now served by a sync
    connector, the registry's lookup errors, and what decoding the job's ``ResourceMeta`` raises.
    The run checks the state again when it claims the job, in the same transaction as the claim.
    """
    options = options or _DEFAULT_OPTIONS
    journal = _journal_of(options)
    if record.state not in TRANSITIONS[JobState.RUNNING]:
        raise JobStateError(
            refusal(record.id, record.state, JobState.RUNNING), job_id=record.id, state=record.state.value
        )
    pid = _live_run(record)
    if pid is not None:
        raise JobStateError(
            f"job {record.id} is being polled by process {pid} on this machine (`ps -p {pid}` shows "
            f"it); resume it once that process has ended (Ctrl-C there, or `kill {pid}`)",
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
    signer = MetaSigner.from_environ()
    meta = ConnectorCalls(loaded, signer=signer).decode_meta(record.resource_meta, Hook.GET)
    template = TaskTemplate(**template_from_document(record.template, source=f"journal job {record.id}"))
    return RunHandle(
        loaded,
        template,
        inputs={},
        output_prefix=record.output_prefix,
        task_execution_metadata=TaskExecutionMetadata(
            task_execution_id=f"local-{record.id}", namespace="local"
        ),
        connection=Connection(),
        options=dataclasses.replace(options, journal=journal),
        on_event=on_event,
        resume=(record, meta),
        signer=signer,
    )


def _live_run(record: JobRecord) -> int | None:
    """The process on this machine whose run still holds the job, as the row names it, if alive.

    Another `jobs resume` would poll the job twice, another cancel would call a second ``delete``
    while the run's is in flight (issue 12). A process id reused since is taken for the run: the
    message says how to check it.
    """
    import os

    if os.name != "posix" or record.pid is None or record.pid == os.getpid() or record.host != hostname():
        return None
    try:
        os.kill(record.pid, 0)  # signal 0: only whether the process exists
    except PermissionError:
        pass  # it exists, as another user's process
    except OSError:
        return None
    return None if _zombie(record.pid) else record.pid


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has ended but its parent has not reaped it yet (Linux's /proc; else False).

    A run killed with SIGKILL from a shell that has not waited for it still answers signal 0.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "PID (COMMAND) STATE ...": the command may hold spaces and parentheses.
            return stat.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def resume_job(
    registry: ConnectorRegistry,
    job_id: str,
    *,
    options: RunOptions | None = None,
    on_event: EventHandler | None = None,
) -> RunResult:
    """Poll a journal job again (after its run died) until it ends; see ``run_connector_async``.

    The job is read from ``options.journal`` (the default journal when ``options`` is None);
    ``job_id`` may be a unique prefix of at least 4 characters. Raises ``JobNotFoundError`` for an
    unknown id and ``JobStateError`` for a job that cannot be resumed (see ``prepare_resume``).
    """
    options = options or _DEFAULT_OPTIONS
    journal = _journal_of(options)
    record = journal.get(job_id)
    run = prepare_resume(
        registry, record, options=dataclasses.replace(options, journal=journal), on_event=on_event
    )
    import asyncio

    return asyncio.run(run.run())


def cancel_job(registry: ConnectorRegistry, job_id: str, *, journal: JobJournal | None = None) -> JobRecord:
    """Delete a journal job's remote job (``delete`` awaited when async) and mark it cancelled.

    A finished job (succeeded, failed, cancelled, timed out) is left alone (``delete`` is not
    called), and so is one whose run finishes it before the cancel takes it: the journal decides
    which came first. The returned record's ``state`` is ``cancelled`` only when the job was
    deleted. A job already ``cancelling`` is deleted again. Raises ``JobNotFoundError`` for an
    unknown id, and whatever ``delete`` raises (the row then stays ``cancelling``). A journal that
    fails once the job is found does not stop the ``delete``: ``JournalError`` is raised after it,
    saying that the job was deleted.
    """
    journal = journal or JobJournal()
    record = journal.get(job_id)
    if record.state.is_finished:
        return record
    pid = _live_run(record) if record.state is JobState.CANCELLING else None
    if pid is not None:  # a running job's run is alive too: the cancel takes it over (docs/running.md)
        raise JobStateError(
            f"job {record.id} is being cancelled by process {pid} on this machine (`ps -p {pid}` "
            "shows it), which is deleting it; wait for that process to end, then cancel again if the "
            "job is still cancelling",
            job_id=record.id,
            state=record.state.value,
        )
    loaded = registry.get(record.category)
    if loaded.metadata_type is None:
        raise JobStateError(
            f"job {record.id}: task type {record.category} is now served by a sync connector, "
            "which cannot delete it",
            job_id=record.id,
            state=record.state.value,
        )
    calls = ConnectorCalls(loaded, signer=MetaSigner.from_environ())
    meta = calls.decode_meta(record.resource_meta, Hook.DELETE)
    failed: Exception | None = None
    try:
        journal.update(record.id, state=JobState.CANCELLING, message="cancelling; deleting the job")
    except JobStateError:
        return journal.get(record.id)  # its run finished it first: there is nothing to delete
    except JOURNAL_ERRORS as exc:
        failed = exc  # the job is still deleted: that is what was asked for
    run_blocking(calls.delete(meta))
    if failed is None:
        try:
            journal.update(
                record.id, state=JobState.CANCELLED, message="cancelled with `connector jobs cancel`"
            )
            return journal.get(record.id)
        except JobStateError:
            return journal.get(record.id)  # another `jobs cancel` recorded the delete first
        except JOURNAL_ERRORS as exc:
            failed = exc
    raise JournalError(
        f"job {record.id} was deleted, but the journal could not record it: {failed}", path=str(journal.path)
    ) from failed
