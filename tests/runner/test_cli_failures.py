"""`connector jobs resume` with a journal that fails mid-run, in process (root cannot make one read-only)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector import JobJournal, JobState, TaskCategory
from connector.cli import _jobs
from connector.testing import registry_of
from tests.runner.fakejobs.connector_fakejobs import FakeJobs, FakeMeta
from tests.support.metas import signed


class UnwritableJournal(JobJournal):
    """A journal whose updates fail as on a failing disk.

    The tests run as root, which ignores file permissions, so a real read-only journal cannot be
    made here; the error is the one ``JobJournal`` raises for a failed write.
    """

    def update(self, job_id: str, **changes: Any) -> None:
        raise self._error("write to", sqlite3.OperationalError("disk I/O error"))


def test_resume_with_an_unwritable_journal_exits_1_and_keeps_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "jobs"
    (root / "j1").mkdir(parents=True)
    (root / "j1" / "spec.json").write_text('{"custom": {}, "inputs": {}}')
    journal = UnwritableJournal(tmp_path / "jobs.sqlite3")
    journal.add(
        job_id="abcdef012345",
        category=TaskCategory("fakejob"),
        resource_meta=signed("fakejob", FakeMeta(str(root), "j1")),
        template={"type": "fakejob", "custom": {"root": str(root)}},
        inputs={},
    )
    registry = registry_of(FakeJobs())
    monkeypatch.setattr(_jobs, "_journal", lambda: journal)
    monkeypatch.setattr(_jobs, "_registry", lambda: registry)
    done = CliRunner().invoke(_jobs.jobs, ["resume", "abcdef", "--poll-interval", "0.01"])
    assert done.exit_code == 1
    assert done.output == (
        f"Error: cannot write to the job journal '{journal.path}' (SQLite: disk I/O error); check that "
        "the file and its directory are readable and writable by this user, or point CONNECTOR_HOME at "
        "a directory of your own\n"
    )
    # The row was there before the run: a journal that fails must not get the job deleted.
    assert not (root / "events.log").exists()
    assert journal.get("abcdef012345").state is JobState.RUNNING


class FailingOnPolls(JobJournal):
    """A journal whose updates after a poll fail (the resume's claim before them works)."""

    def update(self, job_id: str, **changes: Any) -> None:
        if changes.get("polled"):
            raise self._error("write to", sqlite3.OperationalError("disk I/O error"))
        super().update(job_id, **changes)


def _journal_with_a_job(journal: JobJournal, root: Path) -> None:
    (root / "j1").mkdir(parents=True)
    (root / "j1" / "spec.json").write_text('{"custom": {}, "inputs": {"x": 1}}')
    journal.add(
        job_id="abcdef012345",
        category=TaskCategory("fakejob"),
        resource_meta=signed("fakejob", FakeMeta(str(root), "j1")),
        template={"type": "fakejob", "custom": {"root": str(root)}},
        inputs={},
    )


def test_resume_with_a_journal_failing_on_polls_warns_once_and_prints_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = FailingOnPolls(tmp_path / "jobs.sqlite3")
    _journal_with_a_job(journal, tmp_path / "jobs")
    registry = registry_of(FakeJobs())
    monkeypatch.setattr(_jobs, "_journal", lambda: journal)
    monkeypatch.setattr(_jobs, "_registry", lambda: registry)
    done = CliRunner().invoke(_jobs.jobs, ["resume", "abcdef", "--json"])
    assert done.exit_code == 0, done.output
    assert done.stderr == (
        f"Warning: cannot write to the job journal '{journal.path}' (SQLite: disk I/O error); check "
        "that the file and its directory are readable and writable by this user, or point "
        "CONNECTOR_HOME at a directory of your own (this run goes on without updating job "
        "abcdef012345 there)\n"
    )
    assert json.loads(done.stdout)["outputs"] == {"echo": {"x": 1}, "polls": 1}
    assert journal.get("abcdef012345").polls == 0


def test_cancel_with_a_failing_journal_still_deletes_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = UnwritableJournal(tmp_path / "jobs.sqlite3")
    _journal_with_a_job(journal, tmp_path / "jobs")
    registry = registry_of(FakeJobs())
    monkeypatch.setattr(_jobs, "_journal", lambda: journal)
    monkeypatch.setattr(_jobs, "_registry", lambda: registry)
    done = CliRunner().invoke(_jobs.jobs, ["cancel", "abcdef"])
    assert done.exit_code == 1
    assert done.output == (
        "Error: job abcdef012345 was deleted, but the journal could not record it: cannot write to the "
        f"job journal '{journal.path}' (SQLite: disk I/O error); check that the file and its "
        "directory are readable and writable by this user, or point CONNECTOR_HOME at a directory of "
        "your own\n"
    )
    assert (tmp_path / "jobs" / "events.log").read_text() == "delete j1\n"
