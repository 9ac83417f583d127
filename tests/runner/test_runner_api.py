"""The runner's Python API and the executor mixins, in process, with connectors registered per test."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from connector import (
    AsyncConnector,
    AsyncConnectorExecutorMixin,
    ConnectorRegistry,
    JobFailedError,
    JobJournal,
    JobState,
    JobStateError,
    JournalError,
    Phase,
    Resource,
    ResourceMeta,
    RunEvent,
    RunEventKind,
    RunHandle,
    RunOptions,
    SyncConnector,
    SyncConnectorExecutorMixin,
    TaskInterface,
    TaskTemplate,
    cancel_job,
    prepare_run,
    resume_job,
    run_connector,
    run_connector_async,
)
from connector.testing import registry_of
from tests.support.metas import unsigned


@dataclasses.dataclass
class Meta(ResourceMeta):
    job: str


class Scripted(AsyncConnector):
    """Answers get with the phases in ``custom["phases"]``, one per call; records every call."""

    name = "scripted"
    task_type_name = "scripted"
    metadata_type = Meta

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.phases: list[Phase] = []
        self.created = threading.Event()
        self.release_create = threading.Event()
        self.release_create.set()
        self.first_get = asyncio.Event()
        self.delete_error: Exception | None = None
        self.bad_create = False
        self.get_error: Exception | None = None

    def create(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> Any:
        self.calls.append("create")
        self.phases = [Phase[p] for p in task_template.custom.get("phases", ["SUCCEEDED"])]
        self.created.set()
        self.release_create.wait(30)
        return "nope" if self.bad_create else Meta(job="j1")

    async def get(self, resource_meta: Meta) -> Resource:
        self.calls.append("get")
        self.first_get.set()
        if self.get_error is not None:
            raise self.get_error
        phase = self.phases.pop(0) if len(self.phases) > 1 else self.phases[0]
        return Resource(phase, f"now {phase.name}", outputs={"job": resource_meta.job})

    async def delete(self, resource_meta: Meta) -> None:
        await asyncio.sleep(0)
        self.calls.append("delete")
        if self.delete_error is not None:
            raise self.delete_error


class Doer(SyncConnector):
    name = "doer"
    task_type_name = "doer"

    def do(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> Resource:
        return Resource(Phase.SUCCEEDED, "done", outputs={"custom": task_template.custom, "inputs": inputs})


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def registry(scripted: Scripted) -> ConnectorRegistry:
    return registry_of(scripted, Doer())


@pytest.fixture
def journal(tmp_path: Path) -> JobJournal:
    return JobJournal(tmp_path / "jobs.sqlite3")


def _phases(*names: str) -> dict[str, Any]:
    return {"phases": list(names)}


def _virtual_time(run: RunHandle) -> None:
    """Give the run a virtual clock: its sleeps return at once and move the clock on."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    run._clock, run._start, run._sleep = (lambda: now[0]), 0.0, sleep


async def test_backoff_doubles_up_to_the_cap_and_never_sleeps_after_the_end(
    registry: ConnectorRegistry, scripted: Scripted, journal: JobJournal, tmp_path: Path
) -> None:
    run = prepare_run(
        registry,
        "scripted",
        custom=_phases(*["RUNNING"] * 6, "SUCCEEDED"),
        options=RunOptions(poll_interval=1, max_poll_interval=5, journal=journal),
        output_prefix=str(tmp_path),
    )
    _virtual_time(run)
    result = await run.run()
    assert result.ok
    assert scripted.calls == ["create"] + ["get"] * 7  # the first get comes at once
    assert run.waits == [1, 2, 4, 5, 5, 5]  # six waits between seven gets, none after the last
    assert result.elapsed == 22
    assert journal.get(result.job_id or "").polls == 7


@pytest.mark.parametrize(("timeout", "waits", "gets"), [(10, [1, 2, 4, 3], 4), (7, [1, 2, 4], 3)])
async def test_the_timeout_waits_out_the_deadline_then_deletes_without_a_last_get(
    registry: ConnectorRegistry,
    scripted: Scripted,
    journal: JobJournal,
    tmp_path: Path,
    timeout: float,
    waits: list[float],
    gets: int,
) -> None:
    # gets at 0, 1, 3 and 7 seconds; the next would be at 15. A get at the deadline would have no
    # time to answer, so there is none: the last wait ends at the deadline and the job is deleted.
    run = prepare_run(
        registry,
        "scripted",
        custom=_phases("RUNNING"),
        options=RunOptions(poll_interval=1, max_poll_interval=4, timeout=timeout, journal=journal),
        output_prefix=str(tmp_path),
    )
    _virtual_time(run)
    result = await run.run()
    assert run.waits == waits
    assert scripted.calls == ["create"] + ["get"] * gets + ["delete"]
    assert (result.state, result.elapsed, run.abandoned) == (JobState.TIMED_OUT, timeout, False)
    assert result.message == f"timed out after {timeout}s (last phase RUNNING); the job was deleted"
    record = journal.get(result.job_id or "")
    assert (record.state, record.polls, record.message) == (JobState.TIMED_OUT, gets, result.message)


def test_results_and_events(registry: ConnectorRegistry, journal: JobJournal, tmp_path: Path) -> None:
    events: list[RunEvent] = []
    result = run_connector(
        registry,
        "scripted",
        custom=_phases("QUEUED", "RUNNING", "SUCCEEDED"),
        inputs={"x": 1},
        options=RunOptions(poll_interval=0.001, journal=journal),
        on_event=events.append,
        output_prefix=str(tmp_path),
    )
    assert [e.kind for e in events] == ["started", "created", "polled", "polled", "polled", "finished"]
    assert all(type(e.kind) is RunEventKind for e in events)
    assert [e.resource.phase for e in events if e.kind == "polled"] == [
        Phase.QUEUED,
        Phase.RUNNING,
        Phase.SUCCEEDED,
    ]  # type: ignore[union-attr]
    assert {e.job_id for e in events} == {result.job_id}
    assert (result.state, result.exit_code, result.outputs) == (JobState.SUCCEEDED, 0, {"job": "j1"})
    assert result.describe() == f"job {result.job_id} succeeded"
    assert result.resource_meta is not None
    assert unsigned("scripted", result.resource_meta) == Meta(job="j1").encode()
    assert result.journal == str(journal.path)


def test_failed_results(registry: ConnectorRegistry, tmp_path: Path) -> None:
    result = run_connector(
        registry,
        "scripted",
        custom=_phases("ABORTED"),
        options=RunOptions(journal=False),
        output_prefix=str(tmp_path),
    )
    assert (result.state, result.phase, result.exit_code, result.outputs) == (
        JobState.FAILED,
        Phase.ABORTED,
        1,
        {},
    )
    assert result.journal is None
    assert result.describe() == f"job {result.job_id} ended ABORTED: now ABORTED"


def test_a_create_that_returns_the_wrong_type(
    registry: ConnectorRegistry, scripted: Scripted, journal: JobJournal, tmp_path: Path
) -> None:
    scripted.bad_create = True
    result = run_connector(
        registry, "scripted", options=RunOptions(journal=journal), output_prefix=str(tmp_path)
    )
    assert result.state is JobState.ERROR
    assert result.job_id is None
    assert result.message == (
        "task type scripted@0 from registered connector Scripted: create returned str, not an instance "
        "of its metadata_type Meta; return Meta(...)"
    )
    assert journal.list() == []


def test_a_get_that_raises_keeps_the_job(
    registry: ConnectorRegistry, scripted: Scripted, journal: JobJournal, tmp_path: Path
) -> None:
    scripted.get_error = ConnectionError("service unreachable")
    result = run_connector(
        registry, "scripted", options=RunOptions(journal=journal), output_prefix=str(tmp_path)
    )
    assert result.state is JobState.ERROR
    record = journal.get(result.job_id or "")
    assert (record.state, record.message) == (JobState.ERROR, "ConnectionError: service unreachable")
    # resume_job picks it up once the service answers again.
    scripted.get_error = None
    resumed = resume_job(registry, record.id, options=RunOptions(poll_interval=0.001, journal=journal))
    assert resumed.ok
    assert journal.get(record.id).state is JobState.SUCCEEDED


async def test_cancelling_the_awaiting_task_deletes_the_job_then_propagates(
    registry: ConnectorRegistry, scripted: Scripted, journal: JobJournal, tmp_path: Path
) -> None:
    task = asyncio.ensure_future(
        run_connector_async(
            registry,
            "scripted",
            custom=_phases("RUNNING"),
            options=RunOptions(poll_interval=0.01, journal=journal),
            output_prefix=str(tmp_path),
        )
    )
    await asyncio.wait_for(scripted.first_get.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scripted.calls.count("delete") == 1
    (record,) = journal.list()
    assert (record.state, record.message) == (JobState.CANCELLED, "interrupted; the job was deleted")


async def test_a_cancel_during_create_still_deletes_the_job_it_starts(
    registry: ConnectorRegistry, scripted: Scripted, journal: JobJournal, tmp_path: Path
) -> None:
    scripted.release_create.clear()
    run = prepare_run(
        registry,
        "scripted",
        custom=_phases("RUNNING"),
        options=RunOptions(journal=journal),
        output_prefix=str(tmp_path),
    )
    task = asyncio.ensure_future(run.run())
    await asyncio.get_running_loop().run_in_executor(None, scripted.created.wait, 30)
    assert run.cancel() is True
    assert run.cancel() is False  # the second ask is for the caller to handle (the CLI exits)
    await asyncio.sleep(0)
    scripted.release_create.set()
    result = await task
    assert result.state is JobState.CANCELLED
    assert scripted.calls == ["create", "delete"]
    assert journal.get(result.job_id or "").state is JobState.CANCELLED


async def test_a_create_past_the_timeout_is_waited_for_and_deleted(
    registry: ConnectorRegistry, scripted: Scripted, journal: JobJournal, tmp_path: Path
) -> None:
    scripted.release_create.clear()
    events: list[RunEvent] = []

    def on_event(event: RunEvent) -> None:
        events.append(event)
        if event.kind == "timeout":
            scripted.release_create.set()

    result = await run_connector_async(
        registry,
        "scripted",
        options=RunOptions(timeout=0.05, journal=journal),
        on_event=on_event,
        output_prefix=str(tmp_path),
    )
    assert result.state is JobState.TIMED_OUT
    assert result.message == "timed out after 0.05s; the job was deleted"
    assert scripted.calls == ["create", "delete"]
    assert events[1].message == "create is still running; waiting for it to delete the job it starts"


def test_a_failing_delete_on_cancel_leaves_the_row_cancelling(
    registry: ConnectorRegistry, scripted: Scripted, journal: JobJournal, tmp_path: Path
) -> None:
    scripted.delete_error = PermissionError("not allowed")

    async def main() -> Any:
        run = prepare_run(
            registry,
            "scripted",
            custom=_phases("RUNNING"),
            options=RunOptions(poll_interval=0.01, journal=journal),
            output_prefix=str(tmp_path),
        )
        task = asyncio.ensure_future(run.run())
        await asyncio.wait_for(scripted.first_get.wait(), 30)
        run.cancel()
        return await task

    result = asyncio.run(main())
    assert result.state is JobState.CANCELLED
    assert result.message == (
        "interrupted; delete raised PermissionError: not allowed; "
        f"`connector jobs cancel {result.job_id}` tries again"
    )
    assert journal.get(result.job_id).state is JobState.CANCELLING
    scripted.delete_error = None
    assert cancel_job(registry, result.job_id, journal=journal).state is JobState.CANCELLED
    assert scripted.calls.count("delete") == 2
    with pytest.raises(
        JobStateError, match=f"^job {result.job_id} was cancelled; there is nothing to resume$"
    ):
        resume_job(registry, result.job_id, options=RunOptions(journal=journal))


def test_sync_connectors_write_no_journal(
    registry: ConnectorRegistry, journal: JobJournal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HOME", str(tmp_path / "home"))
    result = run_connector(
        registry,
        "doer",
        custom={"k": 1},
        inputs={"a": 2},
        options=RunOptions(journal=journal),
        output_prefix="",
    )
    assert (result.ok, result.job_id, result.outputs) == (
        True,
        None,
        {"custom": {"k": 1}, "inputs": {"a": 2}},
    )
    assert not journal.path.exists()
    assert not (tmp_path / "home").exists()  # nor the resource-meta key: a sync call hands out no meta


def test_event_kinds_and_job_states_are_their_plain_strings() -> None:
    # Displays written against the strings keep working: equal, same hash, same text.
    assert RunEventKind.POLLED == "polled"
    assert {"polled": 1}[RunEventKind.POLLED] == 1
    assert f"{RunEventKind.JOURNAL_FAILED}" == "journal_failed"
    assert [k.value for k in RunEventKind] == [
        "started",
        "created",
        "polled",
        "cancelling",
        "deleted",
        "delete_failed",
        "timeout",
        "finished",
        "journal_failed",
    ]
    assert (JobState("timed_out"), str(JobState.TIMED_OUT)) == (JobState.TIMED_OUT, "timed_out")


def test_options_are_one_frozen_value() -> None:
    options = RunOptions(poll_interval=2, max_poll_interval=1)
    assert (options.timeout, options.journal, options.backoff_cap) == (None, True, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.timeout = 5  # type: ignore[misc]
    assert dataclasses.replace(options, timeout=5).timeout == 5


def test_a_resume_needs_a_journal(registry: ConnectorRegistry) -> None:
    with pytest.raises(ValueError, match=r"^a resumed job is polled from its journal; "):
        resume_job(registry, "abcdef", options=RunOptions(journal=False))


async def test_a_handle_runs_once(registry: ConnectorRegistry, journal: JobJournal, tmp_path: Path) -> None:
    run = prepare_run(registry, "doer", options=RunOptions(journal=journal), output_prefix=str(tmp_path))
    assert (run.job_id, run.journal, run.polls) == (None, None, 0)  # a sync connector has no journal
    assert (await run.run()).ok
    with pytest.raises(RuntimeError, match=r"^a RunHandle runs once; prepare another run$"):
        await run.run()


class Lazy(SyncConnector):
    """A sync connector that answers as if the task were still running."""

    name = "lazy"
    task_type_name = "lazy"

    def do(self) -> Resource:
        return Resource(Phase.RUNNING)


def test_a_do_that_does_not_end_the_task(registry: ConnectorRegistry, tmp_path: Path) -> None:
    registry.register(Lazy())
    result = run_connector(registry, "lazy", output_prefix=str(tmp_path))
    assert (result.state, result.exit_code) == (JobState.ERROR, 1)
    assert result.message == (
        "task type lazy@0 from registered connector Lazy: do returned phase RUNNING, which is not "
        "terminal; a sync connector answers with SUCCEEDED, FAILED, ABORTED or RETRYABLE_FAILED"
    )


def test_bad_options() -> None:
    with pytest.raises(ValueError, match=r"^poll interval must be more than 0 seconds, got 0$"):
        RunOptions(poll_interval=0)
    with pytest.raises(ValueError, match=r"^timeout must be more than 0 seconds, got -1$"):
        RunOptions(timeout=-1)


class Query(AsyncConnectorExecutorMixin):
    task_type = "scripted"

    def __init__(self, registry: ConnectorRegistry, journal: JobJournal, phases: list[str]) -> None:
        self.connector_registry = registry
        self.connector_options = RunOptions(poll_interval=0.001, journal=journal)
        self.custom = {"phases": phases}
        self.interface = TaskInterface(inputs={"x": "integer"})


class Echo(SyncConnectorExecutorMixin):
    task_type = "doer"

    def __init__(self, registry: ConnectorRegistry) -> None:
        self.connector_registry = registry

    def custom(self) -> dict[str, Any]:  # type: ignore[override]
        return {"computed": True}


def test_mixins(registry: ConnectorRegistry, journal: JobJournal) -> None:
    assert Query(registry, journal, ["RUNNING", "SUCCEEDED"]).execute(x=1) == {"job": "j1"}
    assert Echo(registry).execute(a=1) == {"custom": {"computed": True}, "inputs": {"a": 1}}
    template = Query(registry, journal, []).connector_task_template()
    assert template.interface == TaskInterface(inputs={"x": "integer"})
    with pytest.raises(JobFailedError) as info:
        Query(registry, journal, ["FAILED"]).execute()
    result = info.value.result
    assert str(info.value) == f"Query: job {result.job_id} ended FAILED: now FAILED"  # type: ignore[attr-defined]


async def test_mixin_execute_async_inside_a_loop(registry: ConnectorRegistry, journal: JobJournal) -> None:
    assert await Query(registry, journal, ["SUCCEEDED"]).execute_async() == {"job": "j1"}


def test_the_wrong_mixin_says_which_to_use(registry: ConnectorRegistry, journal: JobJournal) -> None:
    class Wrong(SyncConnectorExecutorMixin):
        task_type = "scripted"
        connector_registry = registry

    class AlsoWrong(AsyncConnectorExecutorMixin):
        task_type = "doer"
        connector_registry = registry

    with pytest.raises(TypeError) as info:
        Wrong().execute()
    assert str(info.value) == (
        "Wrong: task type scripted@0 is served by an async connector (create/get/delete); "
        "derive the task from AsyncConnectorExecutorMixin instead"
    )
    with pytest.raises(
        TypeError, match=r"^AlsoWrong: task type doer@0 is served by a sync connector \(do\); "
    ):
        AlsoWrong().execute()


def test_a_transient_get_failure_polls_again() -> None:
    from connector import TransientError

    blinks = [TransientError("the API blinked"), TransientError("the API blinked again")]

    class Blinking(Scripted):
        async def get(self, resource_meta: Meta) -> Resource:
            if blinks:
                self.calls.append("get")
                raise blinks.pop(0)
            return await super().get(resource_meta)

    blinking = Blinking()
    result = run_connector(
        registry_of(blinking),
        "scripted",
        custom=_phases("SUCCEEDED"),
        options=RunOptions(poll_interval=0.001),
    )
    assert (result.state, result.message) == (JobState.SUCCEEDED, "now SUCCEEDED")
    assert blinking.calls == ["create", "get", "get", "get"]


def test_create_and_do_receive_the_attempts_idempotency_key() -> None:
    from connector import TaskCategory, TaskExecutionMetadata, idempotency_key

    keys: list[str] = []

    class Keyed(SyncConnector):
        name = "keyed"
        task_type_name = "keyed"

        def do(self, idempotency_key: str) -> Resource:
            keys.append(idempotency_key)
            return Resource(Phase.SUCCEEDED)

    metadata = TaskExecutionMetadata(task_execution_id="p/d/run/n0/0")
    for _ in range(2):
        run_connector(registry_of(Keyed()), "keyed", task_execution_metadata=metadata)
    run_connector(registry_of(Keyed()), "keyed")
    assert keys[0] == keys[1] == idempotency_key(TaskCategory("keyed", 0), "p/d/run/n0/0")
    assert keys[0].startswith("ck1-")
    assert len(keys[0]) == 36
    assert keys[2] != keys[0]
    assert keys[2].startswith("ck1-")


def test_mixins_keep_a_callers_sigint_handler(registry: ConnectorRegistry, journal: JobJournal) -> None:
    # Removing the loop's handler put Python's default back over an ignored SIGINT (`nohup`, `&`),
    # so a background job could be interrupted after its first execute (found in issue 12).
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert Query(registry, journal, ["SUCCEEDED"]).execute(x=1) == {"job": "j1"}
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


class RowlessJournal(JobJournal):
    """A real journal whose ``add`` fails, as on a failing disk."""

    def add(self, **changes: Any) -> Any:
        raise self._error("write to", sqlite3.OperationalError("disk I/O error"))


@pytest.mark.parametrize("case", ["succeeds", "create-fails", "no-journal", "row-fails"])
async def test_the_default_output_directory_is_made_only_for_a_recorded_job(
    registry: ConnectorRegistry,
    scripted: Scripted,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    # It was made before create, and left behind when create failed or with no journal to prune it
    # (review of issue 12).
    monkeypatch.setenv("CONNECTOR_HOME", str(tmp_path / "home"))
    path = tmp_path / "home" / "jobs.sqlite3"
    journal = RowlessJournal(path) if case == "row-fails" else JobJournal(path)
    scripted.bad_create = case == "create-fails"
    run = prepare_run(
        registry,
        "scripted",
        options=RunOptions(journal=False if case == "no-journal" else journal),
    )
    outputs = tmp_path / "home" / "outputs"
    assert run.output_prefix.startswith(f"{outputs}/")
    assert not Path(run.output_prefix).exists()  # not before create
    if case == "row-fails":
        with pytest.raises(JournalError, match="disk I/O error"):
            await run.run()
        assert scripted.calls == ["create", "delete"]  # a job that cannot be recorded is deleted
    else:
        result = await run.run()
        assert result.ok is (case in ("succeeds", "no-journal"))
    made = sorted(p.name for p in outputs.iterdir()) if outputs.exists() else []
    assert made == ([run.job_id] if case == "succeeds" else [])
