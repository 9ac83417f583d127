"""`connector list | check | show | jobs list` in real processes: on a pseudo-terminal 40, 80 and 200
columns wide, and piped (issue 12: every identifier whole, one row per line, no trailing blanks).

The distributions are hand-written ``*.dist-info`` folders on the child's ``PYTHONPATH``; the jobs are
rows of a real SQLite journal under a temporary ``CONNECTOR_HOME``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import connector
from connector import JobJournal, JobState, Phase, TaskCategory
from tests.support.sites import Site

DIST = "connector-acme-enterprise-data-warehouse-integration"
VERSION = "2024.10.3rc1"
MODULE = "connector_acme_enterprise_data_warehouse_integration"
TARGET = f"{MODULE}:WarehouseQuerySubmissionConnector"
TASK_TYPE = "acme_warehouse_query_submission_with_retries"
CATEGORY = f"{TASK_TYPE}@12"
BROKEN_TARGET = f"{MODULE}_missing:Nope"
JOB_IDS = ("0123456789ab", "ba9876543210")
FIELD = "warehouse_connection_identifier"
MESSAGE = "waiting for the warehouse to accept the query; it is number 7 in the queue of the analytics pool"
SOURCE = f'''
import connector


class WarehouseQuerySubmissionConnector(connector.SyncConnector):
    """Submits a query to the **Acme** warehouse named by ``{DIST}`` and waits for it, as
    :class:`~connector.SyncConnector` does for every ``do`` call, however long the query takes.

    Example::

        connector run {CATEGORY} --custom sql='select 1'
    """

    task_type_name = "{TASK_TYPE}"
    task_type_version = 12
    custom_fields = (
        connector.Field(
            "{FIELD}",
            str,
            required=True,
            help="The connection of the analytics pool that runs the query, as the console names it.",
        ),
    )

    def do(self):
        return connector.Resource(connector.Phase.SUCCEEDED)
'''
# Everything of the environment that would change how rich sees the terminal.
_TERMINAL_VARIABLES = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The child's environment: the fake distributions, a journal with two jobs, no hint of a width."""
    site = Site(tmp_path / "site", tmp_path / "home")
    site.add(
        DIST, VERSION, {"connector": {f"{CATEGORY}": TARGET, "acme_broken": BROKEN_TARGET}}, {MODULE: SOURCE}
    )
    journal = JobJournal(site.home / "jobs.sqlite3")
    for job_id in JOB_IDS:
        journal.add(
            job_id=job_id,
            category=TaskCategory.parse(CATEGORY),
            resource_meta=b"{}",
            template={},
            inputs={},
            phase=Phase.RUNNING,
        )
        journal.update(job_id, state=JobState.RUNNING, message=MESSAGE)
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_") and k not in _TERMINAL_VARIABLES
    }
    source_root = Path(connector.__file__).parent.parent
    environ.update(
        PYTHONPATH=os.pathsep.join([str(site.root), str(source_root)]),
        CONNECTOR_HOME=str(site.home),
        CONNECTOR_DISCOVERY_CACHE="0",
        CONNECTOR_ALLOW="acme_*",  # other installed plugins are disabled: `check` imports none of them
        TERM="xterm-256color",
    )
    return environ


def on_terminal(args: list[str], env: dict[str, str], columns: int) -> tuple[int, str, str]:
    """Run ``connector ARGS`` with stdout on a pseudo-terminal ``columns`` wide: code, screen, stderr."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", *args],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert process.stderr is not None
    err = process.stderr.read().decode()
    process.stderr.close()
    code = process.wait(timeout=60)
    screen = b"".join(chunks).decode().replace("\r\n", "\n")
    return code, _ESCAPE.sub("", screen), err


def piped(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


COMMANDS = {
    "list": (["list"], 0, [CATEGORY, "acme_broken@0", DIST, VERSION, TARGET, BROKEN_TARGET]),
    "check": (["check"], 1, ["acme_broken@0", DIST, VERSION, BROKEN_TARGET]),
    "show": (["show", CATEGORY], 0, [CATEGORY, DIST, VERSION, TARGET, FIELD]),
    "show-broken": (["show", "acme_broken"], 1, ["acme_broken@0", DIST, VERSION, BROKEN_TARGET]),
    "jobs-list": (["jobs", "list"], 0, [*JOB_IDS, CATEGORY, "running", "RUNNING"]),
}


def _whole(identifier: str, text: str) -> bool:
    """``identifier`` is a whole word of some line of ``text`` (not cut, folded or glued to a neighbour)."""
    pattern = re.compile(rf"(^|[\s(']){re.escape(identifier)}($|[\s),:;'])")
    return any(pattern.search(line) for line in text.splitlines())


@pytest.mark.parametrize("columns", [40, 80, 200])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_identifiers_stay_whole_on_a_terminal(env: dict[str, str], command: str, columns: int) -> None:
    args, expected_code, identifiers = COMMANDS[command]
    code, screen, err = on_terminal(args, env, columns)
    assert code == expected_code, screen + err
    for identifier in identifiers:
        assert _whole(identifier, screen), f"{identifier!r} is not whole in:\n{screen}"
    if command not in ("jobs-list", "show"):  # only a job's message and a field's help are ever cut
        assert "…" not in screen
    assert all(line == line.rstrip() for line in screen.splitlines())
    # The terminal path was taken, at the pty's width: piped (tabs, one line each) or at another
    # width the same command prints something else.
    assert screen != piped(args, {**env, "COLUMNS": "120"})[1]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_identifiers_stay_whole_and_rows_one_line_each_when_piped(env: dict[str, str], command: str) -> None:
    args, expected_code, identifiers = COMMANDS[command]
    code, out, _ = piped(args, {**env, "COLUMNS": "40"})
    assert code == expected_code
    for identifier in identifiers:
        assert _whole(identifier, out), f"{identifier!r} is not whole in:\n{out}"
    assert "\x1b[" not in out
    assert "…" not in out
    assert all(line == line.rstrip() for line in out.splitlines())


def test_jobs_list_cuts_the_message_on_a_terminal_and_shows_it_with_wide(env: dict[str, str]) -> None:
    for columns in (40, 80, 200):
        code, screen, err = on_terminal(["jobs", "list"], env, columns)
        rows = [line for line in screen.splitlines() if line.startswith(JOB_IDS)]
        assert (code, len(rows)) == (0, 2)
        if columns == 200:  # room for it all
            assert all(row.endswith(f"  {MESSAGE}") for row in rows)
            assert err == ""
        else:
            assert all(row.endswith("…") and MESSAGE not in row for row in rows)
            assert err == "Some text was cut to fit the terminal (…); --wide shows it whole.\n"
        code, screen, err = on_terminal(["jobs", "list", "--wide"], env, columns)
        rows = [line for line in screen.splitlines() if line.startswith(JOB_IDS)]
        assert (code, err, len(rows)) == (0, "", 2)
        assert all(row.endswith(f"  {MESSAGE}") for row in rows)


def test_jobs_list_piped_is_one_tab_separated_row_per_job(env: dict[str, str]) -> None:
    code, out, err = piped(["jobs", "list"], env)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "ID\tCATEGORY\tSTATE\tPHASE\tUPDATED\tMESSAGE"
    newest_first = [record.id for record in JobJournal(Path(env["CONNECTOR_HOME"]) / "jobs.sqlite3").list()]
    assert sorted(newest_first) == sorted(JOB_IDS)
    assert [line.split("\t")[:4] for line in lines[1:]] == [
        [job_id, CATEGORY, "running", "RUNNING"] for job_id in newest_first
    ]
    assert all(line.split("\t")[5] == MESSAGE for line in lines[1:])
