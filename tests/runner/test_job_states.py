"""The job state machine, enforced by the journal: every move, races between processes, and bad files."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from connector import (
    JobJournal,
    JobNotFoundError,
    JobState,
    JobStateError,
    JournalError,
    Phase,
    RunEvent,
    RunEventKind,
    RunOptions,
    TaskCategory,
    cancel_job,
    prepare_resume,
    prepare_run,
)
from connector.runner._job_states import TRANSITIONS
from connector.testing import registry_of
from tests.runner.fakejobs.connector_fakejobs import FakeJobs, FakeMeta
from tests.support.metas import signed
from tests.support.venvs import ROOT

from .test_runner_api import Meta, Scripted, _phases


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
    for n, new in enumerate(JobState):
        job_id = f"{list(JobState).index(old):06x}{n:06x}"  # old-to-new
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
        journal.update("90e000000000", state=JobState.RUNNING)


J = "0123456789ab"


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
    _add(journal, J, JobState(state))
    with pytest.raises(JobStateError) as info:
        journal.update(J, state=JobState.RUNNING, claim=True)
    assert str(info.value) == message.replace("J", J)


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
        ("d0e000000000", JobState.SUCCEEDED, None),
        ("1a7e00000000", JobState.TIMED_OUT, None),
        ("90e000000000", JobState.CANCELLED, None),
        ("0e0000000000", JobState.FAILED, mine),
        ("11fe00000000", JobState.RUNNING, None),
        ("570900000000", JobState.CANCELLING, None),
    ]:
        folder = prefix or journal.outputs / job_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.txt").write_text(job_id)
        _add(journal, job_id, state, str(folder))
    assert sorted(journal.prune(older_than=0)) == [
        "0e0000000000",
        "1a7e00000000",
        "90e000000000",
        "d0e000000000",
    ]
    assert sorted(p.name for p in journal.outputs.iterdir()) == ["11fe00000000", "570900000000"]
    assert (mine / "result.txt").read_text() == "0e0000000000"
    assert sorted(journal.prune(older_than=0, include_unfinished=True)) == ["11fe00000000", "570900000000"]
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
    for action in (JobJournal(path).list, lambda: _add(JobJournal(path), J)):
        with pytest.raises(JournalError) as info:
            action()
        assert str(info.value) == expected


def _set(path: Path, job_id: str, column: str, value: object) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, job_id))


GOOD, BAD = "900d00000000", "bad000000000"
BAD_ID = "a job id is 12 hexadecimal digits (JobJournal.new_id makes them)"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        (
            "id",
            b"bad000000000",
            "ValueError: a job id is 12 hexadecimal digits (JobJournal.new_id makes them)",
        ),
        ("id", "../../x", "ValueError: a job id is 12 hexadecimal digits (JobJournal.new_id makes them)"),
        ("category", b"sensor", "TypeError: text expected, not bytes"),
        (
            "category",
            "a@b",
            "ValueError: bad task category 'a@b': the version after '@' must be a whole number",
        ),
        ("connector", b"x 1.0", "TypeError: text expected, not bytes"),
        ("resource_meta", "{}", "TypeError: bytes expected, not str"),
        ("template", "[1]", "TypeError: a template is a JSON object, not list"),
        ("template", b"{}", "TypeError: text expected, not bytes"),
        ("inputs_digest", b"sha256:00", "TypeError: text expected, not bytes"),
        ("output_prefix", b"/tmp/out", "TypeError: text expected, not bytes"),
        ("created_at", "soon", "TypeError: a number expected, not str"),
        ("updated_at", b"\x00", "TypeError: a number expected, not bytes"),
        ("phase", "WAITING", "KeyError: 'WAITING'"),
        ("phase", b"RUNNING", "TypeError: text expected, not bytes"),
        ("message", b"\xff", "TypeError: text expected, not bytes"),
        ("state", "paused", "ValueError: 'paused' is not a valid JobState"),
        ("state", b"running", "ValueError: b'running' is not a valid JobState"),
        ("polls", "many", "TypeError: an integer expected, not str"),
        ("pid", "abc", "TypeError: an integer expected, not str"),
        ("pid", 1.5, "TypeError: an integer expected, not float"),
        ("host", b"box", "TypeError: text expected, not bytes"),
    ],
)
def test_a_row_with_an_unexpected_value_is_named_not_a_traceback(
    tmp_path: Path, column: str, value: object, reason: str
) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    _add(journal, GOOD)
    _add(journal, BAD)
    _set(journal.path, BAD, column, value)
    # A bad id is never printed as the job's name: it is shown only as the value it is.
    label = "a job" if column == "id" else f"job {BAD}"
    expected = (
        f"{label} in the job journal '{journal.path}' has the {column} {value!r}, which this connector-core "
        f"cannot read ({reason}); a newer connector-core wrote it (upgrade connector-core) or the file was "
        "edited (restore it from a backup)"
    )
    if column != "id":  # a row found by its id
        with pytest.raises(JournalError) as info:
            journal.get(BAD)
        assert str(info.value) == expected
    with pytest.raises(JournalError):
        journal.list()
    skipped: list[JournalError] = []
    assert [r.id for r in journal.list(on_unreadable=skipped.append)] == [GOOD]
    assert [str(e) for e in skipped] == [expected]


def test_prune_deletes_no_folder_a_hostile_row_names(tmp_path: Path) -> None:
    # Ids and output prefixes come from the file: whoever can write it must not get prune to
    # delete a folder outside outputs/, or outputs/ itself (issue 12).
    journal = JobJournal(tmp_path / "home" / "jobs.sqlite3")
    precious, absolute, elsewhere = tmp_path / "precious", tmp_path / "abs", tmp_path / "elsewhere"
    kept = journal.outputs / GOOD  # another job's outputs
    for folder in (precious, absolute, elsewhere, kept):
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("x")
    (journal.outputs / BAD).symlink_to(elsewhere)  # a symlink where a job's folder should be
    _add(journal, GOOD, JobState.RUNNING, str(kept))
    _add(journal, BAD, JobState.SUCCEEDED, str(journal.outputs / BAD))
    hostile = {
        "../../precious": str(journal.outputs / "../../precious"),
        str(absolute): str(absolute),
        "": str(journal.outputs),
    }
    with closing(sqlite3.connect(journal.path)) as db, db:
        for job_id, prefix in hostile.items():
            db.execute(
                "INSERT INTO jobs SELECT ?, category, connector, resource_meta, template, inputs_digest, "
                "?, created_at, updated_at, phase, message, 'succeeded', polls, pid, host FROM jobs "
                "WHERE id = ?",
                (job_id, prefix, BAD),
            )
    assert journal.prune(older_than=0) == [BAD]  # its row goes; the symlink's target stays
    for folder in (precious, absolute, elsewhere, kept):
        assert (folder / "keep.txt").read_text() == "x"
    assert (journal.outputs / BAD).is_symlink()
    skipped: list[JournalError] = []
    assert [r.id for r in journal.list(on_unreadable=skipped.append)] == [GOOD]
    assert len(skipped) == 3  # the hostile rows stay, for `jobs list` to report


def test_a_bad_job_id_is_never_written(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    with pytest.raises(ValueError, match=r"^bad job id") as info:
        _add(journal, "../x")
    assert str(info.value) == "bad job id '../x': a job id is 12 hexadecimal digits (see new_id)"
    assert journal.list() == []


RACER = textwrap.dedent(
    """
    import sys, time
    from connector import JobJournal, JobState, JobStateError, Phase

    path, role, jobs, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    journal = JobJournal(path)
    time.sleep(max(0.0, start - time.time()))
    for n in range(jobs):
        job_id = f"{n:012x}"
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
    # Whether the two ever overlap is up to the scheduler: this shows that no interleaving breaks
    # the rule; test_a_move_checks_the_state_under_the_write_lock makes the overlap certain.
    path = tmp_path / "jobs.sqlite3"
    journal = JobJournal(path)
    jobs = 200
    for n in range(jobs):
        _add(journal, f"{n:012x}")
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


class WaitingJournal(JobJournal):
    """A real journal that says when an ``update`` is about to ask SQLite for the write lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.asking = threading.Event()

    def update(self, job_id: str, **changes: Any) -> None:
        self.ensure()  # its own write lock, taken before the one under test
        self.asking.set()
        super().update(job_id, **changes)


def test_a_move_checks_the_state_under_the_write_lock(tmp_path: Path) -> None:
    # The race above, made certain: `jobs cancel` holds the write lock, having moved the job, while
    # the run's late poll asks for it. The poll may write only after the cancel commits, and then
    # must find the job cancelling: a check made before the lock would see it running.
    journal = WaitingJournal(tmp_path / "jobs.sqlite3")
    _add(journal, J)
    outcome: list[str] = []

    def late_poll() -> None:
        try:
            journal.update(J, state=JobState.RUNNING, phase=Phase.RUNNING, polled=True)
            outcome.append("won")
        except JobStateError as exc:
            outcome.append(f"lost to {exc.state}")

    with closing(sqlite3.connect(journal.path, isolation_level=None)) as cancel:
        cancel.execute("BEGIN IMMEDIATE")
        cancel.execute("UPDATE jobs SET state = 'cancelling' WHERE id = ?", (J,))
        poll = threading.Thread(target=late_poll)
        poll.start()
        assert journal.asking.wait(60)
        time.sleep(0.2)  # not a bound on anything: only more time for a wrong check to be made first
        assert outcome == []  # the poll waits for the lock
        cancel.execute("COMMIT")
    poll.join(60)
    assert outcome == ["lost to cancelling"]
    record = journal.get(J)
    assert (record.state, record.polls, record.phase) == (JobState.CANCELLING, 0, None)


def test_only_from_narrows_the_table_never_widens_it(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    _add(journal, J, JobState.CANCELLING)
    with pytest.raises(JobStateError) as info:  # a run's own cancel: only from its running row
        journal.update(J, state=JobState.CANCELLING, only_from=[JobState.RUNNING])
    assert info.value.state == "cancelling"
    _add(journal, "d0e000000000", JobState.SUCCEEDED)
    with pytest.raises(JobStateError):  # succeeded -> running is not in the table: only_from cannot add it
        journal.update("d0e000000000", state=JobState.RUNNING, only_from=[JobState.SUCCEEDED])


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


async def test_a_hook_error_after_jobs_cancel_took_the_job_reports_the_cancel(tmp_path: Path) -> None:
    # The ERROR write was refused without a word and the run said "the job may still be running:
    # resume it", exit 1, while `jobs cancel` was deleting it (review of issue 12).
    scripted = Scripted()
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    run = prepare_run(
        registry_of(scripted),
        "scripted",
        custom=_phases("RUNNING"),
        output_prefix=str(tmp_path),
        options=RunOptions(poll_interval=0.01, journal=journal),
    )

    def on_event(event: RunEvent) -> None:
        if event.kind is RunEventKind.POLLED:  # `connector jobs cancel` in another process
            assert run.job_id is not None
            JobJournal(journal.path).update(run.job_id, state=JobState.CANCELLING, message="deleting")
            scripted.get_error = RuntimeError("the service is down")

    run.on_event = on_event
    result = await run.run()
    assert (result.state, result.exit_code) == (JobState.CANCELLED, 130)
    assert (
        result.message
        == "another process cancelled the job (`connector jobs cancel`) and is deleting the job"
    )
    assert scripted.calls == ["create", "get", "get"]  # no delete: the other process does it
    record = journal.get(result.job_id or "")
    assert (record.state, record.message) == (JobState.CANCELLING, "deleting")


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process of this machine that is alive: the run the journal names, as far as it can tell."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_resume_and_cancel_refuse_a_job_whose_run_is_alive(
    tmp_path: Path, live_process: subprocess.Popen[bytes]
) -> None:
    # `jobs resume` polled the job a second time, `jobs cancel` of a run's own cancel called a
    # second delete while the run's was in flight (review of issue 12).
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    pid = live_process.pid
    for job_id, state in ((J, JobState.RUNNING), (GOOD, JobState.CANCELLING)):
        _add(journal, job_id, state)
        _set(journal.path, job_id, "pid", pid)
        _set(journal.path, job_id, "category", "scripted")
        _set(journal.path, job_id, "resource_meta", signed("scripted", Meta(job="j1")))
    scripted = Scripted()
    options = RunOptions(journal=journal)
    with pytest.raises(JobStateError) as info:
        prepare_resume(registry_of(scripted), journal.get(J), options=options)
    assert str(info.value) == (
        f"job {J} is being polled by process {pid} on this machine (`ps -p {pid}` shows it); resume it "
        f"once that process has ended (Ctrl-C there, or `kill {pid}`)"
    )
    with pytest.raises(JobStateError) as info:
        cancel_job(registry_of(scripted), GOOD, journal=journal)
    assert str(info.value) == (
        f"job {GOOD} is being cancelled by process {pid} on this machine (`ps -p {pid}` shows it), which "
        "is deleting it; wait for that process to end, then cancel again if the job is still cancelling"
    )
    assert scripted.calls == []
    assert [journal.get(i).state for i in (J, GOOD)] == [JobState.RUNNING, JobState.CANCELLING]
    # Once that process has ended (or on another machine), both take the job over.
    live_process.kill()
    live_process.wait()
    assert prepare_resume(registry_of(scripted), journal.get(J), options=options).journal is journal
    assert cancel_job(registry_of(scripted), GOOD, journal=journal).state is JobState.CANCELLED
    assert scripted.calls == ["delete"]


def test_a_killed_run_its_shell_has_not_reaped_is_not_alive(tmp_path: Path) -> None:
    # `run ... & kill -KILL $!` in a shell that has not waited: the pid still answers signal 0 as a
    # zombie, and resume refused the job as polled by it (seen recording docs/running.md).
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    killed.kill()
    try:
        while Path(f"/proc/{killed.pid}/stat").read_bytes().rpartition(b")")[2].split()[0] != b"Z":
            time.sleep(0.01)
        _add(journal, J, JobState.RUNNING)
        _set(journal.path, J, "pid", killed.pid)
        _set(journal.path, J, "category", "scripted")
        _set(journal.path, J, "resource_meta", signed("scripted", Meta(job="j1")))
        options = RunOptions(journal=journal)
        assert prepare_resume(registry_of(Scripted()), journal.get(J), options=options).journal is journal
    finally:
        killed.wait()
