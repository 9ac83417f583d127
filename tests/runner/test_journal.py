"""The SQLite job journal: where it lives, what a row holds, lookups, pruning, and concurrent writers."""

from __future__ import annotations

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
    JournalError,
    Phase,
    TaskCategory,
    connector_home,
)
from connector.runner._journal import SCHEMA_VERSION, inputs_digest
from tests.support.venvs import ROOT

from .conftest import unprivileged


def test_connector_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert connector_home({"CONNECTOR_HOME": "/srv/c", "XDG_STATE_HOME": "/x"}) == Path("/srv/c")
    assert connector_home({"CONNECTOR_HOME": "~/c"}) == tmp_path / "c"
    assert connector_home({"XDG_STATE_HOME": "/x/state"}) == Path("/x/state/connector")
    # The XDG spec says a relative path is to be ignored.
    assert connector_home({"XDG_STATE_HOME": "relative"}) == tmp_path / ".local/state/connector"
    assert connector_home({"CONNECTOR_HOME": "  "}) == tmp_path / ".local/state/connector"
    monkeypatch.setenv("CONNECTOR_HOME", str(tmp_path / "from-env"))
    assert JobJournal().path == tmp_path / "from-env" / "jobs.sqlite3"


def _add(journal: JobJournal, job_id: str, **changes: object) -> None:
    journal.add(
        job_id=job_id,
        category=TaskCategory("sensor", 1),
        resource_meta=b'{"v":1,"data":{}}',
        template={"type": "sensor", "custom": {"k": 1}},
        inputs={"x": 1},
        connector="connector-sensor 2.0",
        output_prefix="/tmp/out",
        **changes,  # type: ignore[arg-type]
    )


def test_rows(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "state" / "jobs.sqlite3")
    _add(journal, "abc123def456")
    record = journal.get("abc123def456")
    assert record.category == TaskCategory("sensor", 1)
    assert (record.state, record.phase, record.polls, record.message) == (JobState.RUNNING, None, 0, "")
    assert record.template == {"type": "sensor", "custom": {"k": 1}}
    assert record.inputs_digest == inputs_digest({"x": 1})
    assert record.created_at == record.updated_at
    journal.update(
        "abc123def456", state=JobState.RUNNING, phase=Phase.RUNNING, message="half way", polled=True
    )
    journal.update(
        "abc123def456", phase=Phase.SUCCEEDED, message="done", polled=True, state=JobState.SUCCEEDED
    )
    record = journal.get("abc1")  # a unique prefix of 4 or more characters
    assert (record.state, record.phase, record.polls, record.message) == (
        JobState.SUCCEEDED,
        Phase.SUCCEEDED,
        2,
        "done",
    )
    assert record.updated_at >= record.created_at
    assert record.to_dict()["created_at"].endswith("Z")
    # WAL mode, so readers never block the writer of another run.
    with closing(sqlite3.connect(journal.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700


def test_digest_ignores_key_order_and_keeps_no_values() -> None:
    assert inputs_digest({"a": 1, "b": "secret"}) == inputs_digest({"b": "secret", "a": 1})
    assert "secret" not in inputs_digest({"b": "secret"})


def test_lookup_errors(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    _add(journal, "aaaa11111111")
    _add(journal, "aaaa22222222")
    with pytest.raises(JobNotFoundError) as info:
        journal.get("aaaa")
    assert (
        str(info.value)
        == "job id prefix 'aaaa' matches several jobs (aaaa11111111, aaaa22222222); give more of the id"
    )
    with pytest.raises(JobNotFoundError, match=r"^no job 'aaa' in the journal"):
        journal.get("aaa")  # shorter than 4: exact ids only
    with pytest.raises(JobNotFoundError, match=r"^no job 'a%' in the journal"):
        journal.get("a%")
    with pytest.raises(JobNotFoundError, match=r"^no job 'zzzz' in the journal"):
        journal.update("zzzz", state=JobState.RUNNING, message="x")
    assert [r.id for r in journal.list(state=JobState.RUNNING, limit=1)] == ["aaaa22222222"]


def test_prune(tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    for job_id, state in [
        ("d0e000000001", JobState.SUCCEEDED),
        ("fa1100000001", JobState.FAILED),
        ("11fe00000001", JobState.RUNNING),
    ]:
        _add(journal, job_id, state=state)
    assert journal.prune(older_than=3600) == []
    assert sorted(journal.prune(older_than=0)) == ["d0e000000001", "fa1100000001"]
    assert journal.prune(older_than=0, include_unfinished=True) == ["11fe00000001"]
    assert journal.list() == []


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError) as info:
        JobJournal(path).list()
    assert str(info.value) == (
        f"the job journal '{path}' has schema version {SCHEMA_VERSION + 1}, newer than this connector-core "
        f"understands ({SCHEMA_VERSION}); upgrade connector-core"
    )
    assert info.value.path == str(path)


def test_an_unwritable_place_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    nowhere = JobJournal(tmp_path / "file" / "sub" / "jobs.sqlite3")
    assert nowhere.list() == []  # reading never creates the journal, or its directory
    with pytest.raises(JournalError) as info:
        _add(nowhere, "abc000000000")
    assert str(info.value) == (
        f"cannot create the directory of the job journal '{nowhere.path}': its directory does not exist "
        f"or is not a directory ([Errno 20] Not a directory: '{tmp_path / 'file' / 'sub'}'); point "
        "CONNECTOR_HOME at a directory of your own"
    )


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from connector import JobJournal, JobState, Phase, TaskCategory

    path, worker, jobs, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    # Every worker opens the same new journals at the same moments: the first open of a file
    # switches it to WAL, which SQLite does not wait for when another process holds the lock.
    for n in range(20):
        time.sleep(max(0.0, start + n * 0.04 - time.time()))
        JobJournal(path.parent / f"new-{n}.sqlite3").list()
    journal = JobJournal(path)
    for n in range(jobs):
        job_id = f"{int(worker[1:]):06x}{n:06x}"
        journal.add(
            job_id=job_id, category=TaskCategory("sensor"), resource_meta=b"{}", template={}, inputs={"n": n}
        )
        for _ in range(3):
            journal.update(
                job_id, state=JobState.RUNNING, phase=Phase.RUNNING, message=f"poll by {worker}", polled=True
            )
        journal.update(job_id, phase=Phase.SUCCEEDED, state=JobState.SUCCEEDED)
        journal.list(limit=5)
    print("ok")
    """
)


def test_concurrent_writers_in_separate_processes(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    workers, jobs_each = 4, 15
    start = time.time() + 1.5  # after every worker's interpreter has started
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{i}", str(jobs_each), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i in range(workers)
    ]
    outcomes = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0] * workers, outcomes
    records = JobJournal(path).list()
    assert len(records) == workers * jobs_each
    assert {(r.state, r.phase, r.polls) for r in records} == {(JobState.SUCCEEDED, Phase.SUCCEEDED, 3)}
    assert {r.message for r in records} == {f"poll by w{i}" for i in range(workers)}


LIST = "import sys; from connector import JobJournal; print([r.id for r in JobJournal(sys.argv[1]).list()])"


def test_a_read_only_journal_in_a_read_only_directory_can_be_listed(tmp_path: Path) -> None:
    # A WAL reader makes the -shm file beside the journal; where it cannot, the file is read as
    # immutable (nothing can be writing it: no one can make that file either).
    home = tmp_path / "home"
    journal = JobJournal(home / "jobs.sqlite3")
    _add(journal, "abc123def456")
    with closing(sqlite3.connect(journal.path)) as db:  # the last writer to close removes -wal, -shm
        db.execute("SELECT 1 FROM jobs").fetchall()
    assert sorted(p.name for p in home.iterdir()) == ["jobs.sqlite3"]
    journal.path.chmod(0o444)
    home.chmod(0o555)
    try:
        done = subprocess.run(
            unprivileged(sys.executable, "-c", LIST, str(journal.path)),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    finally:
        home.chmod(0o755)
    assert (done.returncode, done.stdout, done.stderr) == (0, "['abc123def456']\n", "")
