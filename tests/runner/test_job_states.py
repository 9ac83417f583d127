"""The job state machine, enforced by the journal: every move, races between processes, and bad files."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from connector import (
    JobJournal,
    JobNotFoundError,
    JobState,
    JobStateError,
    JournalError,
    RunEvent,
    RunEventKind,
    RunOptions,
    TaskCategory,
    prepare_resume,
    prepare_run,
)
from connector.runner._journal import TRANSITIONS
from connector.testing import registry_of
from tests.runner.fakejobs.connector_fakejobs import FakeJobs, FakeMeta
from tests.support.metas import signed
from tests.support.venvs import ROOT

from .test_runner_api import Scripted, _phases


def _add(journal: JobJournal, job_id: str, state: JobState = JobState.RUNNING, prefix: str = "") -> None:
    journal.add(
        job_id=job_id,
        category=TaskCategory("sensor"),
        resource_meta=b"{}",
        template={"type": "sensor"},
        inputs={},
        output_prefix=prefix,
        state=state,
    )


# Every move the docs allow, and nothing else: (from, to).
ALLOWED = {
    ("running", "running"),
    ("error", "running"),
    ("running", "cancelling"),
    ("error", "cancelling"),
    ("cancelling", "cancelling"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "error"),
    ("cancelling", "cancelled"),
    ("cancelling", "timed_out"),
}


def test_the_transition_table_is_the_documented_one() -> None:
    assert {(old.value, new.value) for new, olds in TRANSITIONS.items() for old in olds} == ALLOWED
    documented = set()
    for olds, news in re.findall(
        r"^\| ([`a-z_, ]+) → ([`a-z_, ]+) \|", (ROOT / "docs/running.md").read_text(), re.M
    ):
        documented |= {
            (old, new) for old in re.findall(r"`(\w+)`", olds) for new in re.findall(r"`(\w+)`", news)
        }
    assert documented == ALLOWED
    assert set(TRANSITIONS) == set(JobState)
    assert {s.value for s in JobState if s.is_finished} == {"succeeded", "failed", "cancelled", "timed_out"}


@pytest.mark.parametrize("old", list(JobState), ids=str)
def test_each_move_is_made_or_refused_by_the_journal(tmp_path: Path, old: JobState) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    for new in JobState:
        job_id = f"{old.value}-to-{new.value}"
        _add(journal, job_id, old)
        if (old.value, new.value) in ALLOWED:
            journal.update(job_id, state=new, message="moved")
            assert (journal.get(job_id).state, journal.get(job_id).message) == (new, "moved")
            continue
        with pytest.raises(JobStateError) as info:
            journal.update(job_id, state=new, message="moved")
        assert (info.value.job_id, info.value.state) == (job_id, old.value)
        assert (journal.get(job_id).state, journal.get(job_id).message) == (old, "")  # nothing written
    with pytest.raises(JobNotFoundError):
        journal.update("gone", state=JobState.RUNNING)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "cancelling",
            "job J is being cancelled; there is nothing to resume (`connector jobs cancel J` "
            "finishes the cancel)",
        ),
        ("cancelled", "job J was cancelled; there is nothing to resume"),
        ("timed_out", "job J timed out and was deleted; there is nothing to resume"),
        (
            "succeeded",
            "job J already succeeded; there is nothing to resume (`connector jobs show J` shows "
            "how it ended)",
        ),
        (
            "failed",
            "job J already failed; there is nothing to resume (`connector jobs show J` shows how it ended)",
        ),
    ],
)
def test_a_resume_claim_is_refused_with_the_reason(tmp_path: Path, state: str, message: str) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    _add(journal, "J", JobState(state))
    with pytest.raises(JobStateError) as info:
        journal.update("J", state=JobState.RUNNING, claim=True)
    assert str(info.value) == message


async def test_a_resume_whose_job_is_cancelled_before_its_claim_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    (root / "j1").mkdir(parents=True)
    (root / "j1" / "spec.json").write_text('{"custom": {}, "inputs": {}}')
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    journal.add(
        job_id="abcdef012345",
        category=TaskCategory("fakejob"),
        resource_meta=signed("fakejob", FakeMeta(str(root), "j1")),
        template={"type": "fakejob", "custom": {"root": str(root)}},
        inputs={},
    )
    run = prepare_resume(
        registry_of(FakeJobs()), journal.get("abcdef012345"), options=RunOptions(journal=journal)
    )
    # `connector jobs cancel` takes the job between the resume's read and its claim.
    JobJournal(journal.path).update("abcdef012345", state=JobState.CANCELLING)
    with pytest.raises(JobStateError) as info:
        await run.run()
    assert str(info.value) == (
        "job abcdef012345 is being cancelled; there is nothing to resume "
        "(`connector jobs cancel abcdef012345` finishes the cancel)"
    )
    assert not (root / "events.log").exists()  # no get
    assert journal.get("abcdef012345").state is JobState.CANCELLING


def test_prune_counts_timed_out_as_finished_and_removes_default_output_directories(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "home" / "jobs.sqlite3")
    mine = tmp_path / "my-outputs"  # given with --output-prefix: never removed
    mine.mkdir()
    for job_id, state, prefix in [
        ("done", JobState.SUCCEEDED, None),
        ("late", JobState.TIMED_OUT, None),
        ("gone", JobState.CANCELLED, None),
        ("own", JobState.FAILED, mine),
        ("live", JobState.RUNNING, None),
        ("stop", JobState.CANCELLING, None),
    ]:
        folder = prefix or journal.outputs / job_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.txt").write_text(job_id)
        _add(journal, job_id, state, str(folder))
    assert sorted(journal.prune(older_than=0)) == ["done", "gone", "late", "own"]
    assert sorted(p.name for p in journal.outputs.iterdir()) == ["live", "stop"]
    assert (mine / "result.txt").read_text() == "own"
    assert sorted(journal.prune(older_than=0, include_unfinished=True)) == ["live", "stop"]
    assert list(journal.outputs.iterdir()) == []


def test_reading_never_writes(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "home" / "jobs.sqlite3")
    assert journal.list() == []
    with pytest.raises(JobNotFoundError):
        journal.get("abcd")
    assert journal.prune(older_than=0) == []
    assert not (tmp_path / "home").exists()


def test_a_corrupt_journal_says_so_and_how_to_start_again(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    path.write_text("this is not a database" * 100)
    expected = (
        f"the job journal '{path}' is damaged or is not a job journal (file is not a database); move it "
        f"aside (`mv {path} {path}.broken`) and connector starts a new, empty one"
    )
    for action in (JobJournal(path).list, lambda: _add(JobJournal(path), "x")):
        with pytest.raises(JournalError) as info:
            action()
        assert str(info.value) == expected


def _set(path: Path, job_id: str, column: str, value: object) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, job_id))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("state", "paused", "ValueError: 'paused' is not a valid JobState"),
        ("phase", "WAITING", "KeyError: 'WAITING'"),
        ("template", "[1]", "TypeError: a template is a JSON object, not list"),
        (
            "category",
            "a@b",
            "ValueError: bad task category 'a@b': the version after '@' must be a whole number",
        ),
    ],
)
def test_a_row_with_an_unexpected_value_is_named_not_a_traceback(
    tmp_path: Path, column: str, value: str, reason: str
) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    _add(journal, "good")
    _add(journal, "bad")
    _set(journal.path, "bad", column, value)
    expected = (
        f"job bad in the job journal '{journal.path}' has the {column} {value!r}, which this connector-core "
        f"cannot read ({reason}); a newer connector-core wrote it (upgrade connector-core) or the file was "
        "edited (restore it from a backup)"
    )
    with pytest.raises(JournalError) as info:
        journal.get("bad")
    assert str(info.value) == expected
    with pytest.raises(JournalError):
        journal.list()
    skipped: list[JournalError] = []
    assert [r.id for r in journal.list(on_unreadable=skipped.append)] == ["good"]
    assert [str(e) for e in skipped] == [expected]


RACER = textwrap.dedent(
    """
    import sys, time
    from connector import JobJournal, JobState, JobStateError, Phase

    path, role, jobs, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    journal = JobJournal(path)
    time.sleep(max(0.0, start - time.time()))
    for n in range(jobs):
        job_id = f"job-{n}"
        try:
            if role == "poller":  # a run: a poll that is not terminal, then the terminal one
                journal.update(job_id, state=JobState.RUNNING, phase=Phase.RUNNING, polled=True)
                journal.update(job_id, state=JobState.FAILED, phase=Phase.ABORTED, polled=True)
            else:  # `jobs cancel`: mark it, delete it, record the delete
                journal.update(job_id, state=JobState.CANCELLING)
                journal.update(job_id, state=JobState.CANCELLED)
            print(job_id, "won")
        except JobStateError as exc:
            print(job_id, "lost to", exc.state)
    """
)


def test_a_run_and_a_cancel_racing_in_two_processes_never_both_win(tmp_path: Path) -> None:
    # Each job is polled to its end by one process and cancelled by another, both at full speed:
    # whichever the journal lets move first wins, the other is refused and writes nothing.
    path = tmp_path / "jobs.sqlite3"
    journal = JobJournal(path)
    jobs = 200
    for n in range(jobs):
        _add(journal, f"job-{n}")
    start = time.time() + 1.5  # after both interpreters have started
    processes = {
        role: subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), role, str(jobs), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for role in ("poller", "canceller")
    }
    outcomes = {role: p.communicate(timeout=300) for role, p in processes.items()}
    assert [p.returncode for p in processes.values()] == [0, 0], outcomes
    lines = {
        role: dict(line.split(" ", 1) for line in out.splitlines()) for role, (out, _) in outcomes.items()
    }
    for record in journal.list():
        poller, canceller = lines["poller"][record.id], lines["canceller"][record.id]
        assert [poller, canceller].count("won") == 1, (record.id, poller, canceller)
        if poller == "won":  # the run ended the job first: the cancel found it finished
            assert (record.state, canceller) == (JobState.FAILED, "lost to failed")
        else:  # the cancel took the job first: the run's late poll wrote nothing
            assert record.state is JobState.CANCELLED
            assert poller in ("lost to cancelling", "lost to cancelled")
            assert record.polls in (0, 1)  # at most the poll before the cancel


def test_only_from_narrows_the_table_never_widens_it(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    _add(journal, "mine", JobState.CANCELLING)
    with pytest.raises(JobStateError) as info:  # a run's own cancel: only from its running row
        journal.update("mine", state=JobState.CANCELLING, only_from=[JobState.RUNNING])
    assert info.value.state == "cancelling"
    _add(journal, "done", JobState.SUCCEEDED)
    with pytest.raises(JobStateError):  # succeeded -> running is not in the table: only_from cannot add it
        journal.update("done", state=JobState.RUNNING, only_from=[JobState.SUCCEEDED])


async def test_ctrl_c_while_jobs_cancel_deletes_the_job_leaves_the_delete_to_it(tmp_path: Path) -> None:
    scripted = Scripted()
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    other = JobJournal(journal.path)  # `connector jobs cancel`, in another process
    run = prepare_run(
        registry_of(scripted),
        "scripted",
        custom=_phases("RUNNING"),
        output_prefix=str(tmp_path),
        options=RunOptions(poll_interval=30, journal=journal),
    )

    def on_event(event: RunEvent) -> None:
        if event.kind is RunEventKind.POLLED:
            assert run.job_id is not None
            other.update(run.job_id, state=JobState.CANCELLING, message="cancelling; deleting the job")
            run.cancel()

    run.on_event = on_event
    result = await run.run()
    assert (result.state, result.exit_code) == (JobState.CANCELLED, 130)
    assert result.message == (
        "interrupted; another process cancelled the job (`connector jobs cancel`) and is deleting the job"
    )
    assert scripted.calls == ["create", "get"]  # no delete: the other process does it
    record = journal.get(result.job_id or "")
    assert (record.state, record.message) == (JobState.CANCELLING, "cancelling; deleting the job")
