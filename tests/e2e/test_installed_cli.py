"""`connector list | show | check` against real plugin wheels pip-installed into a throwaway virtualenv.

One virtualenv (``plugin_venv`` in conftest.py) holds connector-core, built from this checkout, and every
test plugin of ``tests/e2e/plugins.py``: good async and sync connectors in both authoring styles,
``poll`` and ``poll@1`` side by side, and one plugin for each way a connector can be broken.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.plugins import BAD_DISTRIBUTIONS, IMPORT_LOG_VARIABLE, PLUGINS
from tests.support.venvs import Venv

pytestmark = pytest.mark.e2e

CATEGORIES = ", ".join(
    [
        *("badarg@0", "badhook@0", "both@0", "dup@0", "echo@0", "explode@0", "mismatch@0"),
        *("poll@0", "poll@1", "refuse@0", "shout@0", "wait@0"),
    ]
)
ODD = (
    "connector-mismatch 0.1, entry point 'odd@v2' (connector_mismatch:Other): the entry-point name is not a "
    "task type: bad task category 'odd@v2': the version after '@' must be a whole number"
)
CONFLICT = (
    "task type dup@0 is claimed by connector-dup-a 1.0 and connector-dup-b 2.0; neither is served. "
    "Uninstall one, or pin one with CONNECTOR_PIN='dup=connector-dup-a'"
)
# The reason each broken connector gives once loading it was tried.
BROKEN = {
    "badarg": "connector-badarg 0.1, entry point 'badarg' (connector_badarg:BadArg): hook 'do' takes an "
    "argument 'retries' that the 'do' hookspec does not have; its arguments are: task_template, "
    "output_prefix, inputs, task_execution_metadata, connection, idempotency_key",
    "badhook": "connector-badhook 0.1, entry point 'badhook' (connector_badhook): 'cancel' is marked "
    "@connector.hookimpl but no hook is named 'cancel'; the hooks are: create, get, delete, do, get_logs, "
    "get_metrics",
    "both": "connector-both 0.1, entry point 'both' (connector_both:Both): implements both 'do' (sync) and "
    "'create' (async); a connector is one or the other",
    "explode": "connector-explode 0.1, entry point 'explode' (connector_explode:Explode): importing "
    "connector_explode:Explode raised RuntimeError: connector_explode needs EXPLODE_TOKEN",
    "mismatch": "connector-mismatch 0.1, entry point 'mismatch' (connector_mismatch:Other): declares task "
    "type other@0 but its entry point is named 'mismatch'; rename the entry point to 'other' or fix "
    "task_type_name/task_type_version",
    "refuse": "connector-refuse 0.1, entry point 'refuse' (connector_refuse:Refuse): constructing Refuse "
    "raised PermissionError: no credentials for the refuse service",
}
MODULES = {
    "badarg": "connector_badarg",
    "badhook": "connector_badhook",
    "both": "connector_both",
    "echo": "connector_echo",
    "explode": "connector_explode",
    "mismatch": "connector_mismatch",
    "poll": "connector_poll",
    "poll@1": "connector_poll",
    "refuse": "connector_refuse",
    "shout": "connector_shout",
    "wait": "connector_wait",
}


@pytest.fixture
def venv(plugin_venv: Venv) -> Venv:
    return plugin_venv


class Run:
    """Runs commands in the venv and reports which plugin modules each one imported."""

    def __init__(self, venv: Venv, log: Path) -> None:
        self.venv = venv
        self.log = log

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        return self.venv.run(list(args), env={IMPORT_LOG_VARIABLE: str(self.log), **(env or {})})

    @property
    def imported(self) -> list[str]:
        """The plugin modules the last command imported, in order."""
        return self.log.read_text().splitlines()


@pytest.fixture
def run(venv: Venv, tmp_path: Path) -> Run:
    return Run(venv, tmp_path / "imports.log")


def entry(
    category: str | None,
    entry_point: str,
    target: str,
    distribution: str,
    version: str,
    state: str,
    error: str | None = None,
) -> dict[str, Any]:
    name, _, number = (category or "").partition("@")
    return {
        "category": category,
        "task_type": name or None,
        "task_type_version": int(number) if category else None,
        "entry_point": entry_point,
        "target": target,
        "distribution": distribution,
        "distribution_version": version,
        "provider": None,
        "state": state,
        "error": error,
    }


def listed(state_of: dict[str, str], error_of: dict[str, str | None]) -> list[dict[str, Any]]:
    """Every entry `connector list --json` shows, in its order, with the given states and errors."""
    rows = [
        (None, "odd@v2", "connector_mismatch:Other", "connector-mismatch", "0.1"),
        ("badarg@0", "badarg", "connector_badarg:BadArg", "connector-badarg", "0.1"),
        ("badhook@0", "badhook", "connector_badhook", "connector-badhook", "0.1"),
        ("both@0", "both", "connector_both:Both", "connector-both", "0.1"),
        ("dup@0", "dup", "connector_dup_a:Dup", "connector-dup-a", "1.0"),
        ("dup@0", "dup", "connector_dup_b:Dup", "connector-dup-b", "2.0"),
        ("echo@0", "echo", "connector_echo:Echo", "connector-good-sync", "2.0"),
        ("explode@0", "explode", "connector_explode:Explode", "connector-explode", "0.1"),
        ("mismatch@0", "mismatch", "connector_mismatch:Other", "connector-mismatch", "0.1"),
        ("poll@0", "poll", "connector_poll:Poll", "connector-good-async", "1.0"),
        ("poll@1", "poll@1", "connector_poll:PollV1", "connector-good-async", "1.0"),
        ("refuse@0", "refuse", "connector_refuse:Refuse", "connector-refuse", "0.1"),
        ("shout@0", "shout", "connector_shout:Shout", "connector-good-sync", "2.0"),
        ("wait@0", "wait", "connector_wait", "connector-good-async", "1.0"),
    ]
    result = []
    for category, entry_point, target, distribution, version in rows:
        key = f"{entry_point}/{distribution}"
        result.append(
            entry(category, entry_point, target, distribution, version, state_of[key], error_of.get(key))
        )
    return result


def key(entry_point: str) -> str:
    """The ``entry point/distribution`` key of an entry of ``listed``."""
    return next(f"{e}/{p.name}" for p in PLUGINS for e in p.entry_points if e == entry_point)


# connector list


def test_list_shows_every_connector_and_imports_no_plugin(run: Run) -> None:
    done = run("connector", "list", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    states = {f"{e}/{p.name}": "available" for p in PLUGINS for e in p.entry_points}
    states.update({"odd@v2/connector-mismatch": "broken", "dup/connector-dup-a": "conflict"})
    states["dup/connector-dup-b"] = "conflict"
    errors: dict[str, str | None] = {
        "odd@v2/connector-mismatch": ODD,
        "dup/connector-dup-a": CONFLICT,
        "dup/connector-dup-b": CONFLICT,
    }
    assert json.loads(done.stdout) == listed(states, errors)
    assert run.imported == []


def test_python_dash_m_connector_is_the_same_command(run: Run) -> None:
    assert (
        run("python", "-m", "connector", "list", "--json").stdout == run("connector", "list", "--json").stdout
    )
    done = run("python", "-m", "connector", "--help")
    assert done.returncode == 0
    assert "check  Load every connector and report each problem" in done.stdout


def test_list_loads_neither_plugins_nor_heavy_modules(venv: Venv) -> None:
    script = (
        "import contextlib, io, json, runpy, sys\n"
        "sys.argv = ['connector', 'list', '--json']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    runpy.run_module('connector', run_name='__main__')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = venv.run(["python", "-c", script])
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    top_level = {name.split(".")[0] for name in modules}
    assert top_level.isdisjoint({*MODULES.values(), "connector_dup_a", "connector_dup_b"})
    assert top_level.isdisjoint({"asyncio", "rich", "grpc", "google", "sqlite3", "concurrent"})
    assert "connector.server" not in modules


def test_list_as_a_table(run: Run) -> None:
    done = run("connector", "list", env={"COLUMNS": "40"})
    assert (done.returncode, done.stderr) == (0, "")
    # Piped: tab-separated, one row per line, whatever the width (issue 12).
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        "CATEGORY\tSTATE\tDISTRIBUTION\tTARGET",
        "odd@v2\tbroken\tconnector-mismatch 0.1\tconnector_mismatch:Other",
        "badarg@0\tavailable\tconnector-badarg 0.1\tconnector_badarg:BadArg",
    ]
    assert "poll@1\tavailable\tconnector-good-async 1.0\tconnector_poll:PollV1" in lines
    # Errors come under the table, whole, one line each.
    assert lines[-4:] == ["", f"odd@v2: {ODD}", f"dup@0: {CONFLICT}", f"dup@0: {CONFLICT}"]
    assert run.imported == []


# connector show


SHOWN = {
    "poll": (
        "Poll connector",
        "async",
        ["create", "get", "delete"],
        "connector_poll.PollMeta",
        "Starts a job and reports it done.",
    ),
    "poll@1": (
        "Poll connector v1",
        "async",
        ["create", "get", "delete"],
        "connector_poll.PollMeta",
        "Version 1 of poll, written with async def.",
    ),
    "wait": (
        "Wait connector",
        "async",
        ["create", "get", "delete"],
        "connector_wait.WaitMeta",
        "Waits for a job: an async connector written as a module of hook implementations.",
    ),
    "echo": ("Echo", "sync", ["do"], None, "Echoes its inputs."),
    "shout": ("Shout connector", "sync", ["do"], None, ""),
}


@pytest.mark.parametrize("task_type", list(SHOWN))
def test_show_a_good_connector_imports_only_its_module(run: Run, task_type: str) -> None:
    done = run("connector", "show", task_type, "--json")
    assert (done.returncode, done.stderr) == (0, "")
    name, kind, hooks, metadata_type, doc = SHOWN[task_type]
    (expected,) = [
        e for e in listed(dict.fromkeys(_all_keys(), "loaded"), {}) if e["entry_point"] == task_type
    ]
    assert json.loads(done.stdout) == {
        **expected,
        "name": name,
        "kind": kind,
        "hooks": hooks,
        "metadata_type": metadata_type,
        "raw_literals": False,
        "doc": doc,
        "custom_fields": None,
        "input_fields": [],
        "output_fields": [],
    }
    assert run.imported == [MODULES[task_type]]


def _all_keys() -> list[str]:
    return [f"{e}/{p.name}" for p in PLUGINS for e in p.entry_points]


def test_show_as_text(run: Run) -> None:
    done = run("connector", "show", "poll@1")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "Category:      poll@1\n"
        "Name:          Poll connector v1\n"
        "Kind:          async\n"
        "Hooks:         create, get, delete\n"
        "Metadata type: connector_poll.PollMeta\n"
        "Distribution:  connector-good-async\n"
        "Version:       1.0\n"
        "Target:        connector_poll:PollV1\n"
        "State:         loaded\n"
        "\n"
        "Version 1 of poll, written with async def.\n"
    )


@pytest.mark.parametrize("task_type", sorted(BROKEN))
def test_show_a_broken_connector_exits_1_with_its_reason(run: Run, task_type: str) -> None:
    done = run("connector", "show", task_type, "--json")
    assert (done.returncode, done.stderr) == (1, "")
    document = json.loads(done.stdout)
    assert (document["state"], document["error"]) == ("broken", BROKEN[task_type])
    assert (document["name"], document["kind"], document["hooks"]) == (None, None, [])
    assert run.imported == [MODULES[task_type]]
    text = run("connector", "show", task_type)
    assert text.returncode == 1
    assert text.stdout.splitlines()[-2:] == ["State:         broken", f"Error:         {BROKEN[task_type]}"]


def test_show_a_conflict_exits_1_and_imports_neither(run: Run) -> None:
    done = run("connector", "show", "dup", "--json")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert (document["state"], document["error"]) == ("conflict", CONFLICT)
    assert run.imported == []


@pytest.mark.parametrize(
    ("task_type", "message"),
    [
        ("nope", "no connector for task type 'nope' version 0 is installed"),
        (
            "poll@7",
            "no connector for task type 'poll' version 7 (installed versions of 'poll': poll@0, poll@1)",
        ),
    ],
)
def test_show_an_unknown_type_exits_2_listing_the_installed_ones(
    run: Run, task_type: str, message: str
) -> None:
    done = run("connector", "show", task_type)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"Error: {message}. Installed task types: {CATEGORIES}\n"
    # Under --json the same error is one JSON line on stdout (issue 12).
    done = run("connector", "show", task_type, "--json")
    assert (done.returncode, done.stderr) == (2, "")
    assert json.loads(done.stdout) == {
        "error": f"{message}. Installed task types: {CATEGORIES}",
        "kind": "not-found",
        "exit_code": 2,
    }
    assert run.imported == []


def test_show_a_type_that_cannot_be_parsed_is_a_usage_error(run: Run) -> None:
    done = run("connector", "show", "poll@x")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[-1] == (
        "Error: Invalid value for TYPE[@VERSION]: bad task category 'poll@x': "
        "the version after '@' must be a whole number"
    )


def test_a_pin_resolves_the_conflict(run: Run) -> None:
    done = run("connector", "show", "dup", "--json", env={"CONNECTOR_PIN": "dup=connector_dup_b"})
    assert (done.returncode, done.stderr) == (0, "")
    document = json.loads(done.stdout)
    assert (document["distribution"], document["state"], document["name"]) == (
        "connector-dup-b",
        "loaded",
        "Dup from b",
    )
    assert run.imported == ["connector_dup_b"]
    listing = json.loads(
        run("connector", "list", "--json", env={"CONNECTOR_PIN": "dup=connector-dup-b"}).stdout
    )
    assert [(e["distribution"], e["state"], e["error"]) for e in listing if e["entry_point"] == "dup"] == [
        ("connector-dup-a", "disabled", "CONNECTOR_PIN chose connector-dup-b 2.0"),
        ("connector-dup-b", "available", None),
    ]


# connector check


def test_check_reports_every_problem_and_exits_1(run: Run) -> None:
    done = run("connector", "check")
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines() == [
        f"BROKEN odd@v2: {ODD}",
        f"BROKEN badarg@0: {BROKEN['badarg']}",
        f"BROKEN badhook@0: {BROKEN['badhook']}",
        f"BROKEN both@0: {BROKEN['both']}",
        f"CONFLICT dup@0: {CONFLICT}",
        f"BROKEN explode@0: {BROKEN['explode']}",
        f"BROKEN mismatch@0: {BROKEN['mismatch']}",
        f"BROKEN refuse@0: {BROKEN['refuse']}",
        "5 connector(s) loaded, 0 disabled, 8 problem(s).",
    ]
    # Everything was imported once, except the two conflicting distributions, which never are.
    assert sorted(run.imported) == sorted(set(MODULES.values()))


def test_check_as_json(run: Run) -> None:
    done = run("connector", "check", "--json")
    assert (done.returncode, done.stderr) == (1, "")
    states = dict.fromkeys(_all_keys(), "loaded")
    errors: dict[str, str | None] = {
        "odd@v2/connector-mismatch": ODD,
        "dup/connector-dup-a": CONFLICT,
        "dup/connector-dup-b": CONFLICT,
    }
    states.update(dict.fromkeys(("dup/connector-dup-a", "dup/connector-dup-b"), "conflict"))
    states["odd@v2/connector-mismatch"] = "broken"
    for task_type, reason in BROKEN.items():
        states[key(task_type)], errors[key(task_type)] = "broken", reason
    assert json.loads(done.stdout) == {"ok": False, "connectors": listed(states, errors), "problems": 8}


def test_check_exits_0_once_the_bad_ones_are_denied_and_the_conflict_pinned(run: Run) -> None:
    env = {"CONNECTOR_DENY": ",".join(BAD_DISTRIBUTIONS), "CONNECTOR_PIN": "dup=connector-dup-b"}
    done = run("connector", "check", env=env)
    assert (done.returncode, done.stderr) == (0, "")
    deny = "is excluded by CONNECTOR_DENY"
    assert done.stdout.splitlines() == [
        f"DISABLED odd@v2: entry point 'odd@v2' from connector-mismatch 0.1 {deny} ('connector-mismatch')",
        f"DISABLED badarg@0: task type badarg@0 from connector-badarg 0.1 {deny} ('connector-badarg')",
        f"DISABLED badhook@0: task type badhook@0 from connector-badhook 0.1 {deny} ('connector-badhook')",
        f"DISABLED both@0: task type both@0 from connector-both 0.1 {deny} ('connector-both')",
        "DISABLED dup@0: CONNECTOR_PIN chose connector-dup-b 2.0",
        f"DISABLED explode@0: task type explode@0 from connector-explode 0.1 {deny} ('connector-explode')",
        "DISABLED mismatch@0: task type mismatch@0 from connector-mismatch 0.1 "
        f"{deny} ('connector-mismatch')",
        f"DISABLED refuse@0: task type refuse@0 from connector-refuse 0.1 {deny} ('connector-refuse')",
        "6 connector(s) loaded, 8 disabled, 0 problem(s).",
    ]
    assert sorted(run.imported) == [
        "connector_dup_b",
        "connector_echo",
        "connector_poll",
        "connector_shout",
        "connector_wait",
    ]
    document = json.loads(run("connector", "check", "--json", env=env).stdout)
    assert (document["ok"], document["problems"]) == (True, 0)


def test_an_allow_list_serves_only_what_it_names(run: Run) -> None:
    done = run("connector", "check", "--json", env={"CONNECTOR_ALLOW": "poll*, connector-good-sync"})
    assert done.returncode == 0
    document = json.loads(done.stdout)
    loaded = sorted(e["category"] for e in document["connectors"] if e["state"] == "loaded")
    assert loaded == ["echo@0", "poll@0", "poll@1", "shout@0"]
    assert {e["state"] for e in document["connectors"] if e["category"] not in loaded} == {"disabled"}
    assert sorted(set(run.imported)) == ["connector_echo", "connector_poll", "connector_shout"]


@pytest.mark.parametrize("command", [["list"], ["show", "poll"], ["check"]])
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CONNECTOR_TRACE", "maybe", "CONNECTOR_TRACE: 'maybe' is not a boolean (use 1 or 0)"),
        (
            "CONNECTOR_PIN",
            "dup",
            "CONNECTOR_PIN: 'dup' is not TYPE[@VERSION]=DISTRIBUTION "
            "(for example CONNECTOR_PIN='sensor=connector-sensor,sensor@1=connector-other')",
        ),
    ],
)
def test_a_bad_setting_exits_2(run: Run, command: list[str], variable: str, value: str, message: str) -> None:
    done = run("connector", *command, env={variable: value})
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"Error: {message}\n")
    assert run.imported == []


# The installed connectors really work.


def test_the_good_connectors_answer_through_the_default_registry(venv: Venv) -> None:
    script = """
import asyncio, json
from connector import ConnectorCalls, default_registry

registry = default_registry()
results = {}


async def main():
    for category in ("poll", "poll@1", "wait"):
        calls = ConnectorCalls(registry.get(category))
        meta = await calls.create(inputs={"n": 4})
        resource = await calls.get(meta)
        results[category] = [calls.decode_meta(calls.encode_meta(meta)) == meta, resource.outputs]
        await calls.delete(meta)
    results["echo"] = (await ConnectorCalls(registry.get("echo")).do(inputs={"a": 1})).outputs
    results["shout"] = (await ConnectorCalls(registry.get("shout")).do(inputs={"text": "hi"})).outputs


asyncio.run(main())
print(json.dumps(results, sort_keys=True))
"""
    done = venv.run(["python", "-c", script], env={"CONNECTOR_TRACE": "1"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "echo": {"a": 1},
        "poll": [True, {"job": "poll-4"}],
        "poll@1": [True, {"job": "v1-4"}],
        "shout": {"text": "HI"},
        "wait": [True, {"ticket": 40}],
    }
    trace = [line for line in done.stderr.splitlines() if line.startswith("connector trace: ")]
    assert "connector trace: poll@1 create -> PollMeta(job_id='v1-4')" in trace
    assert (
        "connector trace: shout@0 do -> Resource(phase=<Phase.SUCCEEDED: 3>, message='', log_links=[], "
        "outputs={'text': 'HI'}, custom_info=None)" in trace
    )
    assert len(trace) == 2 * (3 * 3 + 2)  # a line before and after each of the 11 calls
