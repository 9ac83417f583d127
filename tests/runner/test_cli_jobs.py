"""Interrupting `connector run`, and `connector jobs` recovering the jobs of runs that died."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import pytest

from connector import JobState, Phase

from .conftest import Cli, job_of, wait_for

pytestmark = pytest.mark.e2e

POLL = ["--poll-interval", "0.02"]


@pytest.mark.parametrize("task_type", ["fakejob", "fakejob-plain"], ids=["async-def-delete", "def-delete"])
def test_sigint_deletes_the_job_exactly_once(cli: Cli, task_type: str) -> None:
    process = cli.popen("run", task_type, *cli.fake("wait_for_release=true"), *POLL)
    cli.interrupt_after_first_get(process)
    out, err = process.communicate(timeout=60)
    record = cli.only_job()
    assert process.returncode == 130, err
    job = job_of(cli, cli.events())
    # The fake's async delete writes its event only after an await: one line proves it was awaited.
    assert [line for line in cli.events() if line.startswith("delete")] == [f"delete {job}"]
    assert "SIGINT: cancelling; deleting the job (again to exit at once, leaving it in the journal)" in err
    assert f"job {record.id} deleted" in err
    assert err.endswith(f"Error: job {record.id} cancelled: interrupted; the job was deleted\n")
    assert out == ""
    assert record.state is JobState.CANCELLED


def test_sigterm_is_handled_like_sigint(cli: Cli) -> None:
    process = cli.popen("run", "fakejob", *cli.fake("wait_for_release=true"), *POLL, "--json")
    cli.interrupt_after_first_get(process, signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "SIGTERM: cancelling; deleting the job" in err
    document = json.loads(out)
    assert (document["state"], document["message"]) == ("cancelled", "interrupted; the job was deleted")
    assert cli.count("delete ") == 1


@pytest.mark.parametrize("task_type", ["fakejob", "fakejob-plain"])
def test_a_second_sigint_exits_at_once_and_leaves_the_job(cli: Cli, task_type: str) -> None:
    process = cli.popen("run", task_type, *cli.fake("wait_for_release=true", "delete_blocks=true"), *POLL)
    cli.interrupt_after_first_get(process)
    wait_for(lambda: cli.count("delete-started") == 1, what="delete to start")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)  # delete blocks until `unblock` exists: only an exit ends this
    record = cli.only_job()
    assert process.returncode == 130
    assert (
        f"second SIGINT: exiting now; job {record.id} stays in the journal: "
        f"`connector jobs cancel {record.id}`" in err
    )
    assert record.state is JobState.CANCELLING
    assert cli.count("delete ") == 0
    # The row lets the job be cancelled later.
    (cli.root / "unblock").touch()
    done = cli.run("jobs", "cancel", record.id)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"job {record.id} cancelled (delete called)\n"
    assert cli.count("delete ") == 1
    assert cli.only_job().state is JobState.CANCELLED


def test_a_second_sigint_during_create_says_no_job_is_recorded(cli: Cli) -> None:
    # It said "job X stays in the journal", naming an id no row had (review of issue 12).
    process = cli.popen("run", "fakejob", *cli.fake("create_blocks=true"), *POLL)
    wait_for(lambda: cli.count("create-started") == 1, what="create to start")
    _interrupt_until_exit(process)  # the first cancels and waits for create; a later one exits
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.endswith(
        "second SIGINT: exiting now; create was still running, and the job it starts is not recorded\n"
    ), err
    assert "stays in the journal" not in err
    assert cli.journal().list() == []


def _interrupt_until_exit(process: subprocess.Popen[str]) -> None:
    """SIGINT until the process exits: two sent at once may arrive as one."""

    def interrupted() -> bool:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return False
        return True

    wait_for(interrupted, what="a second SIGINT to end the run")


def _killed_run(cli: Cli) -> str:
    """Start a run that waits for release, SIGKILL it after its first get; return the journal id."""
    before = {r.id for r in cli.journal().list()} if (cli.home / "jobs.sqlite3").exists() else set()
    gets = cli.count("get ")
    process = cli.popen("run", "fakejob", *cli.fake("wait_for_release=true", "polls=2"), *POLL)
    wait_for(lambda: cli.count("get ") > gets, what="the first get")
    wait_for(
        lambda: any(r.polls for r in cli.journal().list() if r.id not in before), what="the first poll's row"
    )
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    (new,) = {r.id for r in cli.journal().list()} - before
    return new


def test_a_killed_run_leaves_a_row_that_resume_finishes(cli: Cli) -> None:
    job_id = _killed_run(cli)
    record = cli.journal().get(job_id)
    assert (record.state, record.phase) == (JobState.RUNNING, Phase.RUNNING)
    assert record.message.endswith("waiting for release")
    listed = json.loads(cli.run("jobs", "list", "--json").stdout)
    assert [(j["id"], j["state"], j["phase"]) for j in listed] == [(job_id, "running", "RUNNING")]
    (cli.root / "release").touch()
    done = cli.run("jobs", "resume", job_id[:6], "--poll-interval", "0.01")
    assert done.returncode == 0, done.stderr
    assert "polls = " in done.stdout
    assert f"job {job_id} resumed" in done.stderr
    record = cli.journal().get(job_id)
    assert (record.state, record.phase) == (JobState.SUCCEEDED, Phase.SUCCEEDED)
    assert cli.count("delete ") == 0


def test_a_killed_run_leaves_a_row_that_cancel_deletes(cli: Cli) -> None:
    job_id = _killed_run(cli)
    done = cli.run("jobs", "cancel", job_id, "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["id"], document["state"], document["deleted"]) == (job_id, "cancelled", True)
    assert cli.count("delete ") == 1
    # Cancelling again calls delete no more; resuming a cancelled job is refused.
    again = cli.run("jobs", "cancel", job_id)
    assert again.stdout == f"job {job_id} had already cancelled; nothing to cancel\n"
    assert cli.count("delete ") == 1
    refused = cli.run("jobs", "resume", job_id)
    assert refused.returncode == 2
    assert refused.stderr == f"Error: job {job_id} was cancelled; there is nothing to resume\n"


def test_resume_with_json_and_a_failing_job(cli: Cli) -> None:
    process = cli.popen(
        "run", "fakejob", *cli.fake("wait_for_release=true", "final=FAILED", "message=boom"), *POLL
    )
    cli.interrupt_after_first_get(process, signal.SIGKILL)
    process.communicate(timeout=60)
    job_id = cli.only_job().id
    (cli.root / "release").touch()
    done = cli.run("jobs", "resume", job_id, "--json", "--poll-interval", "0.01")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert (document["job_id"], document["state"], document["phase"], document["message"]) == (
        job_id,
        "failed",
        "FAILED",
        "boom",
    )


def test_jobs_show(cli: Cli) -> None:
    done = cli.run("run", "fakejob", *cli.fake(), "--input", "x=1", *POLL)
    assert done.returncode == 0
    record = cli.only_job()
    shown = cli.run("jobs", "show", record.id)
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert lines[:5] == [
        f"Id:            {record.id}",
        "Category:      fakejob@0",
        "Connector:     connector-fakejobs 1.0",
        "State:         succeeded",
        "Phase:         SUCCEEDED",
    ]
    assert f"Inputs digest: {record.inputs_digest}" in lines
    document = json.loads(cli.run("jobs", "show", record.id, "--json").stdout)
    assert document["template"]["custom"] == {"root": str(cli.root)}
    envelope = document["resource_meta"]  # as handed out: signed with the machine's key
    assert envelope.startswith("cm1\nlocal-")
    assert json.loads(envelope.split("\n", 4)[4])["data"]["root"] == str(cli.root)
    payload = next(line for line in lines if line.startswith("Resource meta:"))
    assert json.loads(payload.removeprefix("Resource meta:"))["data"]["root"] == str(cli.root)
    assert next(line for line in lines if line.startswith("Signed with:")).startswith(
        "Signed with:   key 'local-"
    )


def test_unknown_job_ids_exit_2(cli: Cli) -> None:
    cli.run("run", "fakejob", *cli.fake(), *POLL)
    journal = cli.home / "jobs.sqlite3"
    for command in (["show"], ["resume"], ["cancel"]):
        done = cli.run("jobs", *command, "zzzzzz")
        assert done.returncode == 2
        assert done.stderr == (
            f"Error: no job 'zzzzzz' in the journal '{journal}'; `connector jobs list` shows its jobs\n"
        )


def test_jobs_list_when_empty_and_as_a_table(cli: Cli) -> None:
    empty = cli.run("jobs", "list")
    assert empty.stdout == f"No jobs in {cli.home / 'jobs.sqlite3'}.\n"
    cli.run("run", "fakejob", *cli.fake("final=FAILED", "message=nope"), *POLL)
    table = cli.run("jobs", "list")
    record = cli.only_job()
    assert table.stdout.splitlines()[0].split() == [
        "ID",
        "CATEGORY",
        "STATE",
        "PHASE",
        "UPDATED",
        "MESSAGE",
    ]
    assert table.stdout.splitlines()[1].split()[:4] == [record.id, "fakejob@0", "failed", "FAILED"]
    only_running = json.loads(cli.run("jobs", "list", "--state", "running", "--json").stdout)
    assert only_running == []


def test_prune_removes_finished_jobs_only(cli: Cli) -> None:
    assert cli.run("run", "fakejob", *cli.fake(), *POLL).returncode == 0
    running = _killed_run(cli)
    done = cli.run("jobs", "prune", "--older-than", "0s", "--json")
    assert done.returncode == 0
    (removed,) = json.loads(done.stdout)["removed"]
    assert removed != running
    assert [r.id for r in cli.journal().list()] == [running]
    kept = cli.run("jobs", "prune")  # default: older than 7 days
    assert kept.stdout == f"Removed 0 job(s) from {cli.home / 'jobs.sqlite3'}.\n"
    everything = cli.run("jobs", "prune", "--older-than", "0", "--unfinished")
    assert everything.stdout == f"Removed 1 job(s) from {cli.home / 'jobs.sqlite3'}.\n"
    bad = cli.run("jobs", "prune", "--older-than", "a week")
    assert bad.returncode == 2
    assert (
        "Invalid value for '--older-than': 'a week' is not a duration; use a number with s, m, h, d or w, "
        "such as 7d or 12h" in bad.stderr
    )


def test_an_unusable_connector_home_is_an_error(cli: Cli) -> None:
    blocker = cli.root / "a-file"
    blocker.write_text("")
    home = blocker / "home"
    keys = {"CONNECTOR_META_KEYS": "k1=" + "k" * 32}  # the key file under CONNECTOR_HOME is not needed
    done = cli.venv.run(
        ["connector", "run", "fakejob", *cli.fake(), "--output-prefix", str(cli.root)],
        env={"CONNECTOR_HOME": str(home), **keys},
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: cannot create the directory of the job journal '{home}/jobs.sqlite3': its directory "
        f"does not exist or is not a directory ([Errno 20] Not a directory: '{home}'); point "
        "CONNECTOR_HOME at a directory of your own\n"
    )
    # Without --output-prefix, the default output directory under CONNECTOR_HOME fails first.
    done = cli.venv.run(["connector", "run", "fakejob", *cli.fake()], env={"CONNECTOR_HOME": str(home)})
    assert (done.returncode, done.stdout) == (1, "")
    assert re.fullmatch(
        f"Error: cannot create the output directory '{re.escape(str(home))}/outputs/[0-9a-f]{{12}}': Not a "
        "directory; pass an output prefix, or point CONNECTOR_HOME at a writable directory\n",
        done.stderr,
    ), done.stderr
    # Without configured keys, the key file under CONNECTOR_HOME cannot be made either.
    done = cli.venv.run(
        ["connector", "run", "fakejob", *cli.fake(), "--output-prefix", str(cli.root)],
        env={"CONNECTOR_HOME": str(home)},
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: cannot make the resource-meta key file '{home}/meta-keys': Not a directory; set "
        "CONNECTOR_META_KEYS or CONNECTOR_META_KEYS_FILE, or point CONNECTOR_HOME at a writable directory\n"
    )
    assert cli.count("create ") == 0  # the journal and the key are checked before a job is started


def test_mixins_run_through_the_installed_plugin(cli: Cli) -> None:
    script = f"""
import json
from connector import AsyncConnectorExecutorMixin, JobFailedError, SyncConnectorExecutorMixin

class Query(AsyncConnectorExecutorMixin):
    task_type = "fakejob"
    custom = {{"root": {str(cli.root)!r}, "polls": 2}}
    connector_poll_interval = 0.01

class Broken(Query):
    custom = {{"root": {str(cli.root)!r}, "final": "FAILED", "message": "table missing"}}

class Echo(SyncConnectorExecutorMixin):
    task_type = "echo"
    task_type_version = 2

print(json.dumps(Query().execute(x=1)))
print(json.dumps(Echo().execute(y=2)))
try:
    Broken().execute()
except JobFailedError as exc:
    print(exc)
"""
    done = cli.venv.run(["python", "-c", script], env={"CONNECTOR_HOME": str(cli.home)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[0]) == {"echo": {"x": 1}, "polls": 2}
    assert json.loads(lines[1]) == {"version": 2, "inputs": {"y": 2}}
    failed = next(r for r in cli.journal().list() if r.state is JobState.FAILED)
    assert lines[2] == f"Broken: job {failed.id} ended FAILED: table missing"
    assert len(cli.journal().list()) == 2


def test_interrupted_mixin_deletes_its_job(cli: Cli) -> None:
    script = f"""
import signal
from connector import AsyncConnectorExecutorMixin

# As started from a shell in the foreground, even when the tests run in the background (where
# SIGINT is ignored, and the mixin leaves an ignored SIGINT alone).
signal.signal(signal.SIGINT, signal.default_int_handler)

class Query(AsyncConnectorExecutorMixin):
    task_type = "fakejob"
    custom = {{"root": {str(cli.root)!r}, "wait_for_release": True}}
    connector_poll_interval = 0.02

try:
    Query().execute()
except KeyboardInterrupt:
    print("interrupted")
"""
    process = subprocess.Popen(
        [str(cli.venv.python), "-c", script],
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cli.interrupt_after_first_get(process)
    out, err = process.communicate(timeout=60)
    assert out == "interrupted\n", err
    assert cli.count("delete ") == 1
    assert cli.only_job().state is JobState.CANCELLED
