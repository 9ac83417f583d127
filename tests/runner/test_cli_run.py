"""`connector run` against a real installed plugin distribution, in a throwaway virtualenv."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from connector import JobState, Phase

from .conftest import Cli, wait_for

pytestmark = pytest.mark.e2e

FAST = ["--poll-interval", "0.01"]


def test_async_success_prints_outputs_and_records_the_job(cli: Cli) -> None:
    done = cli.run("run", "fakejob", *cli.fake("polls=3"), "--input", "x=1", "--input", "name=abc", *FAST)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ['echo = {"x": 1, "name": "abc"}', "polls = 3"]
    record = cli.only_job()
    assert re.search(rf"job {record.id} created\n.*RUNNING  step 1 of 3\n", done.stderr)
    assert "RUNNING  step 2 of 3" in done.stderr
    assert f"] log: file://{cli.root}/" in done.stderr
    assert f"job {record.id} succeeded in " in done.stderr
    assert (record.state, record.phase, record.polls) == (JobState.SUCCEEDED, Phase.SUCCEEDED, 3)
    assert record.connector == "connector-fakejobs 1.0"
    assert record.template["custom"] == {"root": str(cli.root), "polls": 3}
    assert record.inputs_digest.startswith("sha256:")
    assert cli.count("get ") == 3  # get at once, then after each wait; none after the terminal answer


def test_json_prints_exactly_one_document(cli: Cli) -> None:
    done = cli.run("run", "fakejob", *cli.fake("polls=2"), "--input", "n=2.5", *FAST, "--json")
    assert done.returncode == 0
    assert done.stderr == ""
    document = json.loads(done.stdout)
    record = cli.only_job()
    assert document["ok"] is True
    assert document["state"] == "succeeded"
    assert document["phase"] == "SUCCEEDED"
    assert document["job_id"] == record.id
    assert document["outputs"] == {"echo": {"n": 2.5}, "polls": 2}
    assert document["polls"] == 2
    assert document["log_links"][0]["name"] == "log"
    assert document["journal"] == str(cli.home / "jobs.sqlite3")
    assert document["output_prefix"] == str(cli.home / "outputs" / record.id)


@pytest.mark.parametrize("phase", ["FAILED", "RETRYABLE_FAILED", "ABORTED"])
def test_unsuccessful_terminal_phases_exit_1_with_the_message(cli: Cli, phase: str) -> None:
    done = cli.run("run", "fakejob", *cli.fake("polls=2", f"final={phase}", "message=quota exceeded"), *FAST)
    record = cli.only_job()
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.endswith(f"Error: job {record.id} ended {phase}: quota exceeded\n")
    assert (record.state, record.phase, record.message) == (JobState.FAILED, Phase[phase], "quota exceeded")
    assert cli.count("get ") == 2  # RETRYABLE_FAILED ends the poll loop like any terminal phase
    assert cli.count("delete ") == 0


def test_failed_json_document(cli: Cli) -> None:
    done = cli.run(
        "run", "fakejob", *cli.fake("final=RETRYABLE_FAILED", "message=try later"), *FAST, "--json"
    )
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert (document["ok"], document["state"], document["phase"]) == (False, "failed", "RETRYABLE_FAILED")
    assert document["message"] == "try later"
    assert document["outputs"] == {}


def test_timeout_deletes_the_job_and_exits_1(cli: Cli) -> None:
    done = cli.run(
        "run", "fakejob", *cli.fake("wait_for_release=true"), "--poll-interval", "0.02", "--timeout", "0.3"
    )
    record = cli.only_job()
    assert done.returncode == 1
    assert done.stderr.endswith(
        f"Error: job {record.id} timed out: timed out after 0.3s (last phase RUNNING); the job was deleted\n"
    )
    assert cli.count("delete ") == 1
    assert record.state is JobState.TIMED_OUT


def test_sync_do(cli: Cli) -> None:
    done = cli.run("run", "echo", "--custom", "greeting=hi", "--input", "a=1", "--output-prefix", "/tmp/out")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        'inputs = {"a": 1}',
        'custom = {"greeting": "hi"}',
        'output_prefix = "/tmp/out"',
    ]
    assert "SUCCEEDED  echoed" in done.stderr
    assert not (cli.home / "jobs.sqlite3").exists()  # a sync connector creates no job to journal


def test_sync_do_with_a_version_and_an_async_do(cli: Cli) -> None:
    done = cli.run("run", "echo@2", "--input", "a=[1, 2]", "--json")
    assert done.returncode == 0
    document = json.loads(done.stdout)
    assert document["outputs"] == {"version": 2, "inputs": {"a": [1, 2]}}
    assert document["category"] == "echo@2"
    assert document["job_id"] is None


def test_sync_do_failed(cli: Cli) -> None:
    done = cli.run("run", "echo", "--custom", "fail=bad credentials")
    assert done.returncode == 1
    assert done.stderr.endswith("Error: task echo@0 ended FAILED: bad credentials\n")


def test_sync_do_timeout_abandons_a_hung_do(cli: Cli) -> None:
    # do sleeps ten minutes; the run must end at its timeout, not wait for the worker thread.
    done = cli.run("run", "echo", "--custom", "sleep=600", "--timeout", "0.2", timeout=60)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "Error: task echo@0 timed out: do did not return within the timeout of 0.2s\n"
    )


def test_create_error_is_reported(cli: Cli) -> None:
    done = cli.run("run", "fakejob", *cli.fake("create_error=no capacity"), *FAST)
    assert done.returncode == 1
    assert done.stderr.endswith("Error: task fakejob@0 error: RuntimeError: no capacity\n")
    assert not cli.journal().list()


def test_a_bad_get_result_leaves_the_job_resumable(cli: Cli) -> None:
    done = cli.run("run", "fakejob", *cli.fake("bad_get=true"), *FAST)
    record = cli.only_job()
    assert done.returncode == 1
    assert done.stderr.endswith(
        f"Error: job {record.id} error: task type fakejob@0 from connector-fakejobs 1.0, "
        "entry point 'fakejob' (connector_fakejobs:FakeJobs): get returned str, not a connector.Resource; "
        "return Resource(phase=..., message=..., outputs=...); the job may still be running: "
        f"`connector jobs resume {record.id}` polls it again, "
        f"`connector jobs cancel {record.id}` deletes it\n"
    )
    assert record.state is JobState.ERROR


def test_typed_inputs(cli: Cli, tmp_path: Path) -> None:
    text = tmp_path / "query.sql"
    text.write_text("SELECT 1\n")
    values = [
        "i=42",
        "neg=-7",
        "f=2.5",
        "e=1e3",
        "yes=true",
        "no=False",
        "nothing=null",
        'obj={"a": [1, 2]}',
        'arr=[1, "x"]',
        "s=hello world",
        'quoted="123"',
        f"sql=@{text}",
        "handle=@@me",
        "inf=inf",
        "empty=",
        "eq=a=b",
    ]
    args = [arg for value in values for arg in ("--input", value)]
    done = cli.run("run", "echo", *args, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["inputs"] == {
        "i": 42,
        "neg": -7,
        "f": 2.5,
        "e": 1000.0,
        "yes": True,
        "no": False,
        "nothing": None,
        "obj": {"a": [1, 2]},
        "arr": [1, "x"],
        "s": "hello world",
        "quoted": "123",
        "sql": "SELECT 1\n",
        "handle": "@me",
        "inf": "inf",
        "empty": "",
        "eq": "a=b",
    }


def test_inputs_and_template_files(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text(json.dumps({"a": 1, "b": "file"}))
    (tmp_path / "template.json").write_text(
        json.dumps(
            {
                "custom": {"greeting": "from file", "keep": 1},
                "interface": {"inputs": {"a": "integer", "b": "string", "code": "string", "q": "string"}},
            }
        )
    )
    done = cli.run(
        "run",
        "echo",
        "--inputs",
        str(tmp_path / "inputs.json"),
        "--template",
        str(tmp_path / "template.json"),
        "--input",
        "b=cli",
        "--input",
        " code=007",
        "--input",
        'q="quoted"',
        "--custom",
        "greeting=from cli",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)["outputs"]
    # --input wins over --inputs, --custom over the template's custom; "string" keeps 007 as text
    # (the key's spaces stripped) and a quoted JSON string without its quotes.
    assert outputs["inputs"] == {"a": 1, "b": "cli", "code": "007", "q": "quoted"}
    assert outputs["custom"] == {"greeting": "from cli", "keep": 1}


def _usage_error(cli: Cli, *args: str) -> str:
    done = cli.run("run", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    return done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "novalue"], "Error: --input 'novalue': expected KEY=VALUE\n"),
        (["--input", "=3"], "Error: --input '=3': the key before '=' is empty\n"),
        (["--input", "x=1", "--input", "x=2"], "Error: --input 'x' is given twice\n"),
        (["--custom", "k"], "Error: --custom 'k': expected KEY=VALUE\n"),
        (
            ["--input", "x={bad"],
            "Error: --input x: '{bad' looks like JSON but is not valid JSON (Expecting property name "
            "enclosed in double quotes at column 2); fix it, or pass text that starts with '{', '[' or "
            "'\"' as a quoted JSON string\n",
        ),
        (
            ["--input", "x=@does-not-exist.txt"],
            "Error: --input x: file 'does-not-exist.txt' does not exist\n",
        ),
        (
            ["--input", "x=@"],
            "Error: --input x: '@' must be followed by a file name (use '@@' for a literal '@')\n",
        ),
        (["--inputs", "missing.json"], "Error: --inputs: file 'missing.json' does not exist\n"),
    ],
)
def test_bad_values_exit_2_with_exact_errors(cli: Cli, args: list[str], message: str) -> None:
    assert _usage_error(cli, "echo", *args) == message


def test_bad_files_exit_2_with_exact_errors(cli: Cli, tmp_path: Path) -> None:
    files = {
        "list.json": "[1, 2]",
        "broken.json": '{"a": 1,\n  oops}',
        "inputs.yaml": "a: 1\n",
        "inputs.txt": "a: 1\n",
        "template.json": json.dumps({"custom": {}, "image": "x"}),
        "other.json": json.dumps({"type": "other"}),
        "custom-list.json": json.dumps({"custom": [1]}),
        "iface.json": json.dumps({"interface": {"inputs": {"a": "int"}}}),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    f = {name: str(tmp_path / name) for name in files}
    assert _usage_error(cli, "echo", "--inputs", f["list.json"]) == (
        f"Error: --inputs: {f['list.json']!r} must hold a mapping of names to values, not a list\n"
    )
    assert _usage_error(cli, "echo", "--inputs", f["broken.json"]) == (
        f"Error: --inputs: {f['broken.json']!r} is not valid JSON: "
        "Expecting property name enclosed in double quotes at line 2 column 3\n"
    )
    # This venv has no PyYAML: the error says how to get it.
    assert _usage_error(cli, "echo", "--inputs", f["inputs.yaml"]) == (
        f"Error: --inputs: cannot read {f['inputs.yaml']!r}: reading YAML needs PyYAML, which is not "
        "installed; install it with: pip install 'connector-core[yaml]'\n"
    )
    assert _usage_error(cli, "echo", "--inputs", f["inputs.txt"]) == (
        f"Error: --inputs: cannot read {f['inputs.txt']!r}: it is not JSON (Expecting value at line 1 "
        "column 1) and reading YAML needs PyYAML, which is not installed; install it with: "
        "pip install 'connector-core[yaml]'\n"
    )
    assert _usage_error(cli, "echo", "--template", f["template.json"]) == (
        f"Error: --template {f['template.json']!r}: unknown key(s) 'image'; known keys: type, "
        "task_type_version, custom, config, container_image, container_args, sql, metadata, interface, id\n"
    )
    assert _usage_error(cli, "echo", "--template", f["other.json"]) == (
        f"Error: --template {f['other.json']!r}: type is 'other' but the command runs echo@0; remove 'type' "
        "from the file or run the type it names\n"
    )
    assert _usage_error(cli, "echo", "--template", f["custom-list.json"]) == (
        f"Error: --template {f['custom-list.json']!r}: 'custom' must be a mapping, not a list\n"
    )
    assert _usage_error(cli, "echo", "--template", f["iface.json"]).startswith(
        f"Error: --template {f['iface.json']!r}: interface inputs 'a' has unknown type 'int'; known types: "
        "integer, float, string,"
    )


def test_inputs_are_checked_against_the_interface(cli: Cli, tmp_path: Path) -> None:
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"interface": {"inputs": {"n": "integer", "ratio": "float"}}}))
    assert _usage_error(cli, "echo", "--template", str(template), "--input", "n=abc") == (
        "Error: input 'n' is declared integer but got 'abc' (string)\n"
    )
    assert _usage_error(cli, "echo", "--template", str(template), "--input", "zzz=1") == (
        "Error: unknown input(s) 'zzz'; the task's interface declares: n (integer), ratio (float)\n"
    )
    done = cli.run("run", "echo", "--template", str(template), "--input", "ratio=2", "--json")
    assert json.loads(done.stdout)["outputs"]["inputs"] == {"ratio": 2.0}


def test_bad_options_and_unknown_types_exit_2(cli: Cli) -> None:
    assert "Invalid value for '--poll-interval': must be more than 0 seconds, got 0" in _usage_error(
        cli, "echo", "--poll-interval", "0"
    )
    assert "Invalid value for '--timeout': must be more than 0 seconds, got -1" in _usage_error(
        cli, "echo", "--timeout", "-1"
    )
    assert "the version after '@' must be a whole number" in _usage_error(cli, "echo@x")
    assert _usage_error(cli, "nosuch") == (
        "Error: no connector for task type 'nosuch' version 0 is installed. "
        "Installed task types: echo@0, echo@2, fakejob@0, fakejob-plain@0\n"
    )
    assert _usage_error(cli, "echo@7") == (
        "Error: no connector for task type 'echo' version 7 (installed versions of 'echo': echo@0, echo@2). "
        "Installed task types: echo@0, echo@2, fakejob@0, fakejob-plain@0\n"
    )


def test_concurrent_runs_share_the_journal(cli: Cli) -> None:
    processes = [
        cli.popen("run", "fakejob", *cli.fake("polls=4"), "--input", f"n={i}", *FAST, "--json")
        for i in range(4)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], results
    records = cli.journal().list()
    assert len(records) == 4
    assert {r.state for r in records} == {JobState.SUCCEEDED}
    assert {r.polls for r in records} == {4}
    assert sorted(json.loads(out)["outputs"]["echo"]["n"] for out, _ in results) == [0, 1, 2, 3]


def _run_in_a_terminal(cli: Cli, args: list[str], *, interrupt: bool = False) -> tuple[int, str]:
    """Run ``connector`` with stdout and stderr on a pseudo-terminal; return its exit code and screen text."""
    main, child = pty.openpty()
    process = cli.popen(
        *args, stdout=child, stderr=child, stdin=subprocess.DEVNULL, env={**cli.env(), "TERM": "xterm"}
    )
    os.close(child)
    if interrupt:
        cli.interrupt_after_first_get(process)  # type: ignore[arg-type]
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
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_live_display_on_a_terminal(cli: Cli) -> None:
    code, screen = _run_in_a_terminal(cli, ["run", "fakejob", *cli.fake("polls=3"), "--input", "x=1", *FAST])
    record = cli.only_job()
    assert code == 0
    assert "\x1b[" in screen  # rich drew it with terminal escapes
    for text in [
        "Task",
        f"job {record.id}",
        "Phase",
        "SUCCEEDED",
        "Message",
        "Log",
        f"file://{cli.root}/",
        "Elapsed",
    ]:
        assert text in screen
    assert "(3 polls)" in screen
    assert 'echo = {"x": 1}' in screen


def test_live_display_says_it_is_cancelling(cli: Cli) -> None:
    code, screen = _run_in_a_terminal(
        cli, ["run", "fakejob", *cli.fake("wait_for_release=true"), *FAST], interrupt=True
    )
    assert code == 130
    assert "SIGINT: cancelling; deleting the job" in screen
    assert "job deleted" in screen
    assert cli.count("delete ") == 1


def test_the_journal_row_is_written_before_the_first_get(cli: Cli) -> None:
    process = cli.popen("run", "fakejob", *cli.fake("wait_for_release=true"), "--poll-interval", "0.05")
    wait_for(lambda: cli.count("get ") >= 1, what="the first get")
    record = cli.only_job()
    assert record.state is JobState.RUNNING
    assert record.pid == process.pid
    (cli.root / "release").touch()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert cli.only_job().state is JobState.SUCCEEDED
