"""A usage error of a command given ``--json`` is one JSON line on stdout, exit 2 (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.venvs import ROOT


def _connector(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    environ["CONNECTOR_HOME"] = os.environ["CONNECTOR_HOME"]
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core" / "src"), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _usage(command: str, error: str) -> dict[str, object]:
    return {"error": error, "kind": "usage", "exit_code": 2, "command": command}


#: Every command that has --json.
COMMANDS = [
    ["list"],
    ["show", "x"],
    ["check"],
    ["run", "x"],
    ["jobs", "list"],
    ["jobs", "show", "1"],
    ["jobs", "resume", "1"],
    ["jobs", "cancel", "1"],
    ["jobs", "prune"],
    ["serve"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_option_with_json(command: list[str]) -> None:
    result = _connector(*command, "--json", "--no-such-option")
    assert (result.returncode, result.stderr) == (2, "")
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout) == _usage(
        f"connector {' '.join(c for c in command if c not in ('x', '1'))}",
        "No such option '--no-such-option'.",
    )


@pytest.mark.parametrize(
    ("args", "command", "error"),
    [
        (["show", "--json"], "connector show", "Missing argument 'TYPE[@VERSION]'."),
        (
            ["run", "--json", "echo@one"],
            "connector run",
            "Invalid value for TYPE[@VERSION]: bad task category 'echo@one': the version after '@' must "
            "be a whole number",
        ),
        (["list", "--json", "extra"], "connector list", "Got unexpected extra argument (extra)"),
        (
            ["jobs", "list", "--json", "--limit", "0"],
            "connector jobs list",
            "Invalid value for '--limit': 0 is not in the range x>=1.",
        ),
        (["jobs", "show", "--json"], "connector jobs show", "Missing argument 'ID'."),
        (
            ["serve", "--json", "--port", "http"],
            "connector serve",
            "Invalid value for '--port': 'http' is not a valid integer range.",
        ),
        # Before the subcommand's name, the group's own parsing.
        (["--json", "list"], "connector", "No such option '--json'. Did you mean '--version'?"),
    ],
)
def test_bad_arguments_and_values_with_json(args: list[str], command: str, error: str) -> None:
    result = _connector(*args)
    assert (result.returncode, result.stderr) == (2, "")
    assert json.loads(result.stdout) == _usage(command, error)


def test_without_json_a_usage_error_stays_text() -> None:
    result = _connector("list", "--no-such-option")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.endswith("\n\nError: No such option '--no-such-option'.\n")


def test_json_after_the_end_of_options_does_not_count() -> None:
    result = _connector("run", "--no-such-option", "--", "--json")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("Usage: ")


def test_a_bad_setting_with_json_is_a_json_line() -> None:
    result = _connector("check", "--json", CONNECTOR_IMPORT_TIMEOUT="abc")
    assert (result.returncode, result.stderr) == (2, "")
    assert json.loads(result.stdout) == {
        "error": "CONNECTOR_IMPORT_TIMEOUT: 'abc' is not a positive number of seconds "
        "(for example CONNECTOR_IMPORT_TIMEOUT=120)",
        "kind": "configuration",
        "exit_code": 2,
    }


@pytest.mark.parametrize("command", [["show", "nosuch"], ["run", "nosuch"]], ids=" ".join)
def test_an_unknown_task_type_with_json_is_one_json_line(command: list[str]) -> None:
    result = _connector(*command, "--json")
    assert result.returncode == 2
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert document["kind"] == "not-found"
    assert document["exit_code"] == 2
    assert document["error"].startswith("no connector for task type 'nosuch' version 0 is installed.")


@pytest.mark.parametrize("command", [["jobs", "show"], ["jobs", "resume"], ["jobs", "cancel"]], ids=" ".join)
def test_an_unknown_job_with_json_is_one_json_line(command: list[str]) -> None:
    result = _connector(*command, "nope", "--json")
    assert result.returncode == 2
    assert result.stderr == ""
    document = json.loads(result.stdout)
    journal = os.path.join(os.environ["CONNECTOR_HOME"], "jobs.sqlite3")
    assert document == {
        "error": f"no job 'nope' in the journal {journal!r}; `connector jobs list` shows its jobs",
        "kind": "usage",
        "exit_code": 2,
    }
