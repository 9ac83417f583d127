"""`connector run` and `connector jobs` in separate processes: races, finished states, journal errors."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from connector import JobState

from .conftest import Cli, unprivileged, wait_for

pytestmark = pytest.mark.e2e

POLL = ["--poll-interval", "0.02"]


def test_a_cancel_wins_over_the_late_poll_of_a_running_run(cli: Cli) -> None:
    # The run's second get blocks; `jobs cancel` in another process deletes the job meanwhile. The
    # get then answers ABORTED (the job was deleted): the run must not record it as failed.
    process = cli.popen("run", "fakejob", *cli.fake("wait_for_release=true", "get_blocks=2"), *POLL)
    wait_for(lambda: cli.count("get-started ") == 1, what="the second get")
    job_id = cli.only_job().id
    done = cli.run("jobs", "cancel", job_id)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"job {job_id} cancelled (delete called)\n", "")
    (cli.root / "unget").touch()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.endswith(
        f"Error: job {job_id} cancelled: another process cancelled the job (`connector jobs cancel`) and "
        "deleted the job\n"
    )
    record = cli.only_job()
    assert (record.state, record.message) == (JobState.CANCELLED, "cancelled with `connector jobs cancel`")
    assert record.polls == 1  # the late poll wrote nothing
    assert cli.count("delete ") == 1


def test_a_run_that_finishes_first_leaves_nothing_to_cancel(cli: Cli) -> None:
    process = cli.popen("run", "fakejob", *cli.fake("polls=2", "get_blocks=2"), *POLL)
    wait_for(lambda: cli.count("get-started ") == 1, what="the second get")
    (cli.root / "unget").touch()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    job_id = cli.only_job().id
    done = cli.run("jobs", "cancel", job_id, "--json")
    assert done.returncode == 0
    assert (json.loads(done.stdout)["state"], json.loads(done.stdout)["deleted"]) == ("succeeded", False)
    assert cli.count("delete ") == 0


def test_a_timed_out_job_was_deleted_and_cannot_be_resumed(cli: Cli) -> None:
    done = cli.run("run", "fakejob", *cli.fake("wait_for_release=true"), *POLL, "--timeout", "0.3")
    assert done.returncode == 1
    record = cli.only_job()
    assert record.state is JobState.TIMED_OUT
    gets = cli.count("get ")
    refused = cli.run("jobs", "resume", record.id)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == f"Error: job {record.id} timed out and was deleted; there is nothing to resume\n"
    assert cli.count("get ") == gets
    again = cli.run("jobs", "cancel", record.id)
    assert again.stdout == f"job {record.id} had already timed_out; nothing to cancel\n"
    assert cli.count("delete ") == 1


def test_prune_removes_timed_out_jobs_and_output_directories(cli: Cli, tmp_path: Path) -> None:
    assert cli.run("run", "fakejob", *cli.fake(), *POLL).returncode == 0
    assert (
        cli.run("run", "fakejob", *cli.fake("wait_for_release=true"), *POLL, "--timeout", "0.2").returncode
        == 1
    )
    mine = tmp_path / "mine"
    mine.mkdir()
    assert cli.run("run", "fakejob", *cli.fake(), *POLL, "--output-prefix", str(mine)).returncode == 0
    outputs = cli.home / "outputs"
    assert len(list(outputs.iterdir())) == 2
    done = cli.run("jobs", "prune", "--older-than", "0", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["removed"]) == 3
    assert cli.journal().list() == []
    assert list(outputs.iterdir()) == []
    assert mine.is_dir()  # a prefix the user chose is never removed


def test_a_sync_run_touches_nothing_under_connector_home(cli: Cli) -> None:
    done = cli.run("run", "echo", "--input", "a=1", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert re.fullmatch(f"{re.escape(str(cli.home))}/outputs/[0-9a-f]{{12}}", document["output_prefix"])
    assert document["outputs"]["output_prefix"] == document["output_prefix"]
    # Only the discovery cache may be there: no journal, no output directory.
    assert not (cli.home / "jobs.sqlite3").exists()
    assert not (cli.home / "outputs").exists()


def test_a_sync_run_needs_no_writable_connector_home(cli: Cli) -> None:
    blocker = cli.root / "a-file"
    blocker.write_text("")
    done = cli.venv.run(["connector", "run", "echo", "--input", "a=1"], env={"CONNECTOR_HOME": str(blocker)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == 'inputs = {"a": 1}'


def test_ctrl_c_on_a_sync_run_speaks_of_no_job(cli: Cli) -> None:
    process = cli.popen("run", "echo", "--custom", f"root={cli.root}", "--custom", "sleep=600")
    wait_for(lambda: cli.count("do") == 1, what="do to start")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out) == (130, "")
    lines = [re.sub(r"^\[ *[0-9.]+s\] ", "[t] ", line) for line in err.splitlines()]
    assert lines == [
        "[t] echo@0: starting",
        "SIGINT: stopping; do is abandoned, a sync call has no job to delete (again to exit at once)",
        "[t] interrupted",
        "Error: task echo@0 cancelled: interrupted; the call to do was abandoned",
    ]
    assert not (cli.home / "jobs.sqlite3").exists()
    assert not (cli.home / "outputs").exists()


def test_ctrl_c_without_a_journal_does_not_speak_of_one(cli: Cli) -> None:
    process = cli.popen("run", "fakejob", *cli.fake("wait_for_release=true"), *POLL, "--no-journal")
    cli.interrupt_after_first_get(process)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "SIGINT: cancelling; deleting the job (again to exit at once, leaving it running)\n" in err
    assert "in the journal" not in err


# Journal errors: each names its cause and its fix, exits 1, and shows no traceback.


def test_a_read_only_journal_can_be_listed_and_refuses_writes_by_name(cli: Cli) -> None:
    assert cli.run("run", "fakejob", *cli.fake(), *POLL).returncode == 0
    job_id = cli.only_job().id
    path = cli.home / "jobs.sqlite3"
    path.chmod(0o444)
    env = {"CONNECTOR_HOME": str(cli.home)}
    listed = cli.venv.run(unprivileged("connector", "jobs", "list", "--json"), env=env)
    assert listed.returncode == 0, listed.stderr
    assert [job["id"] for job in json.loads(listed.stdout)] == [job_id]
    expected = (
        f"Error: the job journal '{path}' is read-only (attempt to write a readonly database); make it and "
        f"its directory writable (`chmod u+w {path} {cli.home}`), or point CONNECTOR_HOME at a directory of "
        "your own\n"
    )
    for args in (["jobs", "prune", "--older-than", "0"], ["run", "fakejob", *cli.fake(), *POLL]):
        done = cli.venv.run(unprivileged("connector", *args), env=env)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", expected)
    assert cli.count("create ") == 1  # the refused run started no job


def test_a_corrupt_journal_says_so_and_how_to_start_again(cli: Cli) -> None:
    path = cli.home / "jobs.sqlite3"
    cli.home.mkdir()
    path.write_text("not a journal\n" * 200)
    expected = (
        f"Error: the job journal '{path}' is damaged or is not a job journal (file is not a database); move "
        f"it aside (`mv {path} {path}.broken`) and connector starts a new, empty one\n"
    )
    for args in (["jobs", "list"], ["jobs", "show", "abcd"], ["run", "fakejob", *cli.fake(), *POLL]):
        done = cli.run(*args)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", expected)
    assert cli.count("create ") == 0


def test_a_row_with_an_unexpected_value_is_reported_not_a_traceback(cli: Cli) -> None:
    for _ in range(2):
        assert cli.run("run", "fakejob", *cli.fake(), *POLL).returncode == 0
    good, bad = sorted(cli.journal().list(), key=lambda r: r.created_at)
    with closing(sqlite3.connect(cli.home / "jobs.sqlite3")) as db, db:
        db.execute("UPDATE jobs SET state = 'paused' WHERE id = ?", (bad.id,))
    message = (
        f"Error: job {bad.id} in the job journal '{cli.home / 'jobs.sqlite3'}' has the state 'paused', which "
        "this connector-core cannot read (ValueError: 'paused' is not a valid JobState); a newer "
        "connector-core wrote it (upgrade connector-core) or the file was edited (restore it from a backup)\n"
    )
    listed = cli.run("jobs", "list", "--json")
    assert listed.returncode == 1
    assert [job["id"] for job in json.loads(listed.stdout)] == [good.id]  # the others are still listed
    assert listed.stderr == message
    for command in ("show", "resume", "cancel"):
        done = cli.run("jobs", command, bad.id)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", message)
