"""A journal that fails, or loses the run's row, once the job exists: the run still ends as it should.

In process, with connectors registered per test. Root ignores file permissions, so a journal whose
writes fail is a ``JobJournal`` raising the error it raises for a failed write; a row that disappears
is really removed from the SQLite file by a second ``JobJournal`` (as ``jobs prune`` in another
process would).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector import (
    ConnectorRegistry,
    JobJournal,
    JobState,
    JournalError,
    Phase,
    RunEvent,
    RunEventKind,
    RunHandle,
    RunOptions,
    cancel_job,
    prepare_run,
)
from connector.testing import registry_of
from tests.support.metas import signed

from .test_runner_api import Meta, Scripted, _phases, _virtual_time

READONLY = "disk I/O error"  # SQLITE_IOERR: a failing disk


class FailingJournal(JobJournal):
    """A real journal whose ``update`` fails (as on a failing disk) when ``fails(changes)``."""

    def __init__(self, path: Path, fails: Callable[[dict[str, Any]], bool]) -> None:
        super().__init__(path)
        self.fails = fails
        self.failed = 0

    def update(self, job_id: str, **changes: Any) -> None:
        if self.fails(changes):
            self.failed += 1
            raise self._error("write to", sqlite3.OperationalError(READONLY))
        super().update(job_id, **changes)


def _failure(journal: JobJournal, job_id: str | None) -> str:
    return (
        f"cannot write to the job journal '{journal.path}' (SQLite: {READONLY}); check that the file and "
        "its directory are readable and writable by this user, or point CONNECTOR_HOME at a directory "
        f"of your own (this run goes on without updating job {job_id} there)"
    )


def _gone(journal: JobJournal, job_id: str | None) -> str:
    return (
        f"job {job_id} is no longer in the job journal '{journal.path}' (pruned?); "
        "this run goes on without recording it"
    )


@pytest.fixture
def registry(scripted: Scripted) -> ConnectorRegistry:
    return registry_of(scripted)


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


def _prepare(
    registry: ConnectorRegistry,
    journal: JobJournal,
    tmp_path: Path,
    events: list[RunEvent],
    custom: dict[str, Any] | None = None,
    **options: Any,
) -> RunHandle:
    return prepare_run(
        registry,
        "scripted",
        custom=custom,
        output_prefix=str(tmp_path),
        options=RunOptions(**{"poll_interval": 0.01, "journal": journal, **options}),
        on_event=events.append,
    )


def _warnings(events: list[RunEvent]) -> list[str]:
    return [e.message for e in events if e.kind is RunEventKind.JOURNAL_FAILED]


# Which update fails: the one marking the job cancelling (before delete), or every one from the
# first poll's (so the run is no longer recording when the cancel comes).
CANCEL_FAILURES = {
    "the cancelling mark": lambda changes: changes.get("state") is JobState.CANCELLING,
    "every update": lambda changes: True,
}


@pytest.mark.parametrize("fails", CANCEL_FAILURES.values(), ids=CANCEL_FAILURES.keys())
async def test_a_journal_error_on_cancel_still_deletes_the_job_once(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path, fails: Callable[[dict[str, Any]], bool]
) -> None:
    journal = FailingJournal(tmp_path / "jobs.sqlite3", fails)
    events: list[RunEvent] = []
    run = _prepare(registry, journal, tmp_path, events, custom=_phases("RUNNING"))
    task = asyncio.ensure_future(run.run())
    await asyncio.wait_for(scripted.first_get.wait(), 30)
    run.cancel()
    result = await task
    assert (result.state, result.exit_code) == (JobState.CANCELLED, 130)
    assert result.message == "interrupted; the job was deleted"
    assert scripted.calls.count("delete") == 1  # an async def delete: counted only once awaited
    assert _warnings(events) == [_failure(journal, result.job_id)]
    assert journal.failed == 1  # no write is tried after the first that failed
    assert journal.get(result.job_id or "").state is JobState.RUNNING  # the row keeps what it had


async def test_cancelling_the_awaiting_task_with_a_failing_journal_deletes_then_propagates(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    journal = FailingJournal(tmp_path / "jobs.sqlite3", CANCEL_FAILURES["the cancelling mark"])
    events: list[RunEvent] = []
    task = asyncio.ensure_future(
        _prepare(registry, journal, tmp_path, events, custom=_phases("RUNNING")).run()
    )
    await asyncio.wait_for(scripted.first_get.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scripted.calls.count("delete") == 1
    (record,) = journal.list()
    assert _warnings(events) == [_failure(journal, record.id)]
    assert [e.kind for e in events][-3:] == ["journal_failed", "deleted", "finished"]


@pytest.mark.parametrize(
    "fails",
    [lambda changes: changes.get("state") is JobState.TIMED_OUT, lambda changes: True],
    ids=["the timed-out mark", "every update"],
)
async def test_a_journal_error_at_the_timeout_still_deletes_and_times_out(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path, fails: Callable[[dict[str, Any]], bool]
) -> None:
    journal = FailingJournal(tmp_path / "jobs.sqlite3", fails)
    events: list[RunEvent] = []
    run = _prepare(registry, journal, tmp_path, events, custom=_phases("RUNNING"), poll_interval=1, timeout=5)
    _virtual_time(run)
    result = await run.run()
    assert (result.state, result.exit_code) == (JobState.TIMED_OUT, 1)
    assert result.message == "timed out after 5s (last phase RUNNING); the job was deleted"
    assert scripted.calls.count("delete") == 1
    assert _warnings(events) == [_failure(journal, result.job_id)]
    assert journal.failed == 1


async def test_a_journal_error_on_the_terminal_update_keeps_the_result(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    journal = FailingJournal(tmp_path / "jobs.sqlite3", lambda changes: changes["state"].is_finished)
    events: list[RunEvent] = []
    run = _prepare(registry, journal, tmp_path, events, custom=_phases("RUNNING", "SUCCEEDED"))
    result = await run.run()
    assert (result.state, result.exit_code, result.outputs) == (JobState.SUCCEEDED, 0, {"job": "j1"})
    assert _warnings(events) == [_failure(journal, result.job_id)]
    assert "delete" not in scripted.calls
    record = journal.get(result.job_id or "")
    assert (record.state, record.phase, record.polls) == (JobState.RUNNING, Phase.RUNNING, 1)


def _prune_at_first_poll(journal: JobJournal, events: list[RunEvent]) -> Callable[[RunEvent], None]:
    """An event handler that removes the run's row, as `connector jobs prune --unfinished` would."""
    other = JobJournal(journal.path)  # its own object, as in another process

    def on_event(event: RunEvent) -> None:
        events.append(event)
        if event.kind == "polled" and sum(e.kind == "polled" for e in events) == 1:
            assert other.prune(older_than=0, include_unfinished=True) == [event.job_id]

    return on_event


async def test_a_row_removed_mid_run_warns_once_and_the_run_ends_normally(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    events: list[RunEvent] = []
    run = _prepare(registry, journal, tmp_path, [], custom=_phases("RUNNING", "RUNNING", "SUCCEEDED"))
    run.on_event = _prune_at_first_poll(journal, events)
    result = await run.run()
    assert (result.state, result.exit_code, result.outputs) == (JobState.SUCCEEDED, 0, {"job": "j1"})
    assert scripted.calls == ["create", "get", "get", "get"]
    assert _warnings(events) == [_gone(journal, result.job_id)]
    assert journal.list() == []  # not written again: the prune was asked for


async def test_a_row_removed_then_a_cancel_deletes_the_job_once(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    events: list[RunEvent] = []
    run = _prepare(registry, journal, tmp_path, [], custom=_phases("RUNNING"), poll_interval=30)
    prune = _prune_at_first_poll(journal, events)

    def on_event(event: RunEvent) -> None:
        prune(event)
        if event.kind == "polled":
            run.cancel()

    run.on_event = on_event
    result = await run.run()
    assert (result.state, result.exit_code) == (JobState.CANCELLED, 130)
    assert result.message == "interrupted; the job was deleted"
    assert scripted.calls == ["create", "get", "delete"]
    assert _warnings(events) == [_gone(journal, result.job_id)]
    assert journal.list() == []


class UnrecordableJournal(JobJournal):
    """A journal that opens, but cannot add a row."""

    def add(self, **fields: Any) -> Any:
        raise self._error("write to", sqlite3.OperationalError(READONLY))


async def test_a_create_in_flight_at_a_cancel_is_deleted_though_the_journal_cannot_record_it(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    journal = UnrecordableJournal(tmp_path / "jobs.sqlite3")
    scripted.release_create.clear()
    events: list[RunEvent] = []
    run = _prepare(registry, journal, tmp_path, events, custom=_phases("RUNNING"))
    task = asyncio.ensure_future(run.run())
    await asyncio.get_running_loop().run_in_executor(None, scripted.created.wait, 30)
    run.cancel()
    await asyncio.sleep(0)
    scripted.release_create.set()
    result = await task
    assert (result.state, result.message) == (JobState.CANCELLED, "interrupted; the job was deleted")
    assert scripted.calls == ["create", "delete"]
    assert _warnings(events) == [_failure(journal, result.job_id)]


async def test_a_journal_that_cannot_record_the_job_gets_it_deleted_and_raises(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    journal = UnrecordableJournal(tmp_path / "jobs.sqlite3")
    events: list[RunEvent] = []
    with pytest.raises(JournalError) as info:
        await _prepare(registry, journal, tmp_path, events).run()
    assert str(info.value) == _failure(journal, None).split(" (this run")[0]
    assert scripted.calls == ["create", "delete"]
    assert _warnings(events) == []  # the error says it; no warning besides


async def test_a_cancel_while_waiting_for_a_create_past_the_timeout_still_deletes_its_job(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    # A cancel must not cancel the create being waited for: a plain-def create would still start
    # its job in its thread, and nobody would delete it.
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    scripted.release_create.clear()
    events: list[RunEvent] = []
    run = _prepare(registry, journal, tmp_path, [], timeout=0.05)

    def on_event(event: RunEvent) -> None:
        events.append(event)
        if event.kind == "timeout":
            run.cancel()
            scripted.release_create.set()

    run.on_event = on_event
    result = await run.run()
    assert (result.state, result.message) == (JobState.CANCELLED, "interrupted; the job was deleted")
    assert scripted.calls == ["create", "delete"]
    assert journal.get(result.job_id or "").state is JobState.CANCELLED


def test_cancel_job_deletes_though_the_journal_fails_and_says_so(
    registry: ConnectorRegistry, scripted: Scripted, tmp_path: Path
) -> None:
    journal = FailingJournal(tmp_path / "jobs.sqlite3", lambda changes: True)
    journal.add(
        job_id="abcdef012345",
        category=registry.get("scripted").category,
        resource_meta=signed("scripted", Meta(job="j1")),
        template={"type": "scripted"},
        inputs={},
    )
    with pytest.raises(JournalError) as info:
        cancel_job(registry, "abcdef", journal=journal)
    assert str(info.value) == (
        "job abcdef012345 was deleted, but the journal could not record it: "
        + _failure(journal, None).split(" (this run")[0]
    )
    assert scripted.calls == ["delete"]
    assert journal.failed == 1
