"""`connector run` when its journal row is pruned, or its journal becomes unusable, mid-run."""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

from .conftest import Cli, wait_for

pytestmark = pytest.mark.e2e

# The next get is far away: whatever the test does between two gets happens before it.
SLOW = ["--poll-interval", "30"]


def _start(cli: Cli, *poll: str) -> tuple[subprocess.Popen[str], str]:
    process = cli.popen("run", "fakejob", *cli.fake("wait_for_release=true"), *poll)
    wait_for(lambda: cli.count("get ") >= 1, what="the first get")
    return process, cli.only_job().id


def _prune(cli: Cli, job_id: str) -> None:
    # A run polling every 0.05 s may write its row between the prune's cutoff and its query (the
    # row is then newer than "older than 0"): the prune is asked again until it takes the row.
    removed: list[str] = []

    def pruned() -> bool:
        done = cli.run("jobs", "prune", "--unfinished", "--older-than", "0", "--json")
        assert done.returncode == 0, done.stderr
        removed.append(done.stdout)
        return done.stdout != '{\n  "removed": []\n}\n'

    wait_for(pruned, timeout=30, what="the prune of the running job's row")
    assert removed[-1] == f'{{\n  "removed": [\n    "{job_id}"\n  ]\n}}\n'


def _warnings(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("Warning: ")]


def _gone(cli: Cli, job_id: str) -> str:
    return (
        f"Warning: job {job_id} is no longer in the job journal '{cli.home}/jobs.sqlite3' (pruned?); "
        "this run goes on without recording it"
    )


def test_a_row_pruned_mid_run_warns_once_and_the_run_reports_normally(cli: Cli) -> None:
    process, job_id = _start(cli, "--poll-interval", "0.05")
    _prune(cli, job_id)
    wait_for(lambda: cli.count("get ") >= 2, what="a get after the prune")
    (cli.root / "release").touch()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert re.fullmatch(r"echo = \{\}\npolls = [0-9]+\n", out), out
    assert _warnings(err) == [_gone(cli, job_id)]
    assert re.fullmatch(rf"job {job_id} succeeded in [0-9.]+s", err.splitlines()[-1]), err
    assert cli.journal().list() == []  # the prune was asked for: the row is not written back


def test_a_row_pruned_then_sigint_deletes_the_job_once_and_exits_130(cli: Cli) -> None:
    process, job_id = _start(cli, *SLOW)
    _prune(cli, job_id)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert _warnings(err) == [_gone(cli, job_id)]
    assert err.endswith(f"Error: job {job_id} cancelled: interrupted; the job was deleted\n")
    assert cli.count("delete ") == 1
    assert cli.journal().list() == []


def test_an_unusable_journal_then_sigterm_deletes_the_job_once_and_exits_130(cli: Cli) -> None:
    process, job_id = _start(cli, *SLOW)
    journal = cli.home / "jobs.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        journal.with_name(journal.name + suffix).unlink(missing_ok=True)
    journal.mkdir()  # SQLite cannot open a directory: every journal operation now fails
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert _warnings(err) == [
        f"Warning: the job journal '{journal}' is not a file (unable to open database file); move it "
        f"aside (`mv {journal} {journal}.moved`), or point CONNECTOR_HOME elsewhere (this run goes on "
        f"without updating job {job_id} there)"
    ]
    assert err.endswith(f"Error: job {job_id} cancelled: interrupted; the job was deleted\n")
    assert cli.count("delete ") == 1
