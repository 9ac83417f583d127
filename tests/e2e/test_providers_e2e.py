"""A provider end to end: real wheels pip-installed into a throwaway virtualenv, the real commands.

The venv holds connector-core[server], a fake SDK (``fakesdk``), its bridge ``connector-fakesdk``
(one ``connector.providers`` entry point for every fakesdk plugin, each served as a raw-literals
connector), four fakesdk plugins (one whose import raises, one claiming the task type of the native
``connector-echo``) and ``connector-echo``; see ``tests/e2e/providers.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import literals_pb2
from flyteidl2.connector import connector_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.providers import wheels
from tests.server.conftest import (
    v1_category,
    v1_inputs,
    v1_template,
    v2_category,
    v2_inputs,
    v2_outputs,
    v2_template,
)
from tests.server.served import Served
from tests.support.sites import backdate
from tests.support.venvs import Venv

pytestmark = pytest.mark.e2e

BRIDGE = "bridged by provider 'fakesdk' of connector-fakesdk 0.1"
BROKEN = (
    f"fakesdk-broken 0.3, entry point 'fakesdk.plugins: broken', {BRIDGE}: importing the fakesdk plugin "
    "fakesdk_broken:Broken raised ImportError: fakesdk_broken needs libbroken; fix or uninstall it"
)
CONFLICT = (
    "task type echo@0 is claimed by connector-echo 1.0 and fakesdk-echo 1.0; neither is served. "
    "Uninstall one, or pin one with CONNECTOR_PIN='echo=connector-echo'"
)
PROVIDER = {
    "name": "fakesdk",
    "target": "connector_fakesdk:FakesdkProvider",
    "distribution": "connector-fakesdk",
    "distribution_version": "0.1",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> tuple[Venv, dict[str, Path]]:
    directory = tmp_path_factory.mktemp("provider-wheels")
    built = wheels(directory)
    venv = Venv(tmp_path_factory.mktemp("provider-venv") / "venv")
    venv.install(f"{core_wheel}[server]", *(path for name, path in built.items() if name != "fakesdk-late"))
    return venv, built


@pytest.fixture
def venv(built: tuple[Venv, dict[str, Path]]) -> Venv:
    return built[0]


class Run:
    """Runs commands in the venv with a CONNECTOR_HOME of the test; reads which process imported what."""

    def __init__(self, venv: Venv, tmp_path: Path) -> None:
        self.venv = venv
        self.home = tmp_path / "home"
        self.log = tmp_path / "imports.log"

    def env(self, **extra: str) -> dict[str, str]:
        return {"CONNECTOR_HOME": str(self.home), "FAKESDK_LOG": str(self.log), "COLUMNS": "160", **extra}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        return self.venv.run(list(args), env=self.env(**env))

    @property
    def imported(self) -> list[tuple[str, str]]:
        """(module, the importing process's program) of every fakesdk module the last command imported."""
        return [tuple(line.split(" ", 1)) for line in self.log.read_text().splitlines()]  # type: ignore[misc]


@pytest.fixture
def run(venv: Venv, tmp_path: Path) -> Run:
    return Run(venv, tmp_path)


def entry(
    category: str | None,
    entry_point: str,
    target: str,
    distribution: str,
    version: str,
    state: str,
    error: str | None = None,
    provider: dict[str, str] | None = PROVIDER,
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
        "provider": provider,
        "state": state,
        "error": error,
    }


LEARNER = "_learn_providers.py"


def test_list_shows_bridged_connectors_learned_in_another_process(run: Run) -> None:
    done = run("connector", "list")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "CATEGORY\tSTATE\tDISTRIBUTION\tTARGET\tBRIDGED BY",
        "fakesdk.plugins: broken\tbroken\tfakesdk-broken 0.3\t\tconnector-fakesdk 0.1",
        "echo@0\tconflict\tconnector-echo 1.0\tconnector_echo:Echo",
        "echo@0\tconflict\tfakesdk-echo 1.0\tfakesdk_echo:Echo\tconnector-fakesdk 0.1",
        "fakejob@1\tavailable\tfakesdk-job 2.0\tfakesdk_job:Job\tconnector-fakesdk 0.1",
        "shout@0\tavailable\tfakesdk-shout 1.0\tfakesdk_shout:Shout\tconnector-fakesdk 0.1",
        "",
        f"fakesdk.plugins: broken: {BROKEN}",
        f"echo@0: {CONFLICT}",
        f"echo@0: {CONFLICT}",
    ]
    # The provider, the SDK and its plugins were imported by the learning process, never by `list`.
    assert sorted(run.imported) == [
        ("connector_fakesdk", LEARNER),
        ("fakesdk", LEARNER),
        ("fakesdk_echo", LEARNER),
        ("fakesdk_job", LEARNER),
        ("fakesdk_shout", LEARNER),
    ]


def test_list_json(run: Run) -> None:
    done = run("connector", "list", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == [
        entry(None, "fakesdk.plugins: broken", "", "fakesdk-broken", "0.3", "broken", BROKEN),
        entry("echo@0", "echo", "connector_echo:Echo", "connector-echo", "1.0", "conflict", CONFLICT, None),
        entry("echo@0", "echo", "fakesdk_echo:Echo", "fakesdk-echo", "1.0", "conflict", CONFLICT),
        entry("fakejob@1", "fakejob@1", "fakesdk_job:Job", "fakesdk-job", "2.0", "available"),
        entry("shout@0", "shout", "fakesdk_shout:Shout", "fakesdk-shout", "1.0", "available"),
    ]


def test_what_was_learned_is_cached_until_pip_changes_something(
    run: Run, venv: Venv, built: tuple[Venv, dict[str, Path]]
) -> None:
    backdate(venv.path)  # a cache is written only once the metadata is 2 s old
    first = run("connector", "list", "--json").stdout
    assert run.imported != []
    assert run("connector", "list", "--json").stdout == first
    assert run.imported == []  # a hit: no learning process at all
    venv.install(built[1]["fakesdk-late"], no_deps=True)
    try:
        listed = json.loads(run("connector", "list", "--json").stdout)
        assert entry("late@0", "late", "fakesdk_late:Late", "fakesdk-late", "1.0", "available") in listed
        assert ("fakesdk_late", LEARNER) in run.imported
    finally:
        done = venv.run([str(venv.python), "-m", "pip", "uninstall", "--yes", "--quiet", "fakesdk-late"])
        assert done.returncode == 0, done.stderr
    assert run("connector", "list", "--json").stdout == first


def test_show_a_bridged_connector(run: Run) -> None:
    done = run("connector", "show", "shout")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "Category:      shout@0\n"
        "Name:          Fake shout\n"
        "Kind:          sync\n"
        "Hooks:         do\n"
        "Raw literals:  yes\n"
        "Distribution:  fakesdk-shout\n"
        "Version:       1.0\n"
        "Target:        fakesdk_shout:Shout\n"
        "Bridged by:    provider 'fakesdk' of connector-fakesdk 0.1\n"
        "State:         loaded\n"
    )
    # Loading it imported the provider, the SDK and that one plugin here, in `connector show`.
    here = sorted(module for module, program in run.imported if program == "connector")
    assert here == ["connector_fakesdk", "fakesdk", "fakesdk_shout"]


def test_show_json(run: Run) -> None:
    done = run("connector", "show", "fakejob@1", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {
        **entry("fakejob@1", "fakejob@1", "fakesdk_job:Job", "fakesdk-job", "2.0", "loaded"),
        "name": "Fake job",
        "kind": "async",
        "hooks": ["create", "get", "delete"],
        "metadata_type": "connector_fakesdk.JobMeta",
        "raw_literals": True,
        "doc": "",
        "custom_fields": None,
        "input_fields": [],
        "output_fields": [],
    }


def test_check_reports_the_plugin_problem_and_the_conflict(run: Run) -> None:
    done = run("connector", "check")
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines() == [
        f"BROKEN fakesdk.plugins: broken: {BROKEN}",
        f"CONFLICT echo@0: {CONFLICT}",
        "2 connector(s) loaded, 0 disabled, 2 problem(s).",
    ]


@pytest.mark.parametrize(
    ("pin", "disabled", "by"),
    [
        ("echo=fakesdk-echo", "connector-echo 1.0", "fakesdk"),
        ("echo=connector-echo", "fakesdk-echo 1.0", "native"),
    ],
)
def test_a_pin_serves_either_claimant(run: Run, pin: str, disabled: str, by: str) -> None:
    env = {"CONNECTOR_PIN": pin, "CONNECTOR_DENY": "fakesdk-broken"}
    done = run("connector", "check", **env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "DISABLED fakesdk.plugins: broken: entry point 'fakesdk.plugins: broken' from fakesdk-broken 0.3 is "
        "excluded by CONNECTOR_DENY ('fakesdk-broken')",
        f"DISABLED echo@0: CONNECTOR_PIN chose {pin.split('=')[1]} 1.0",
        "3 connector(s) loaded, 2 disabled, 0 problem(s).",
    ]
    done = run("connector", "run", "echo", "--input", "x=1", "--json", **env)
    assert (done.returncode, json.loads(done.stdout)["outputs"]["by"]) == (0, by)
    assert disabled in run("connector", "list", **env).stdout


def test_denying_the_bridge_leaves_the_native_connector(run: Run) -> None:
    done = run("connector", "check", "--json", CONNECTOR_DENY="connector-fakesdk")
    document = json.loads(done.stdout)
    assert (done.returncode, document["ok"]) == (0, True)
    assert [(e["category"], e["distribution"], e["state"]) for e in document["connectors"]] == [
        (None, "fakesdk-broken", "disabled"),
        ("echo@0", "connector-echo", "loaded"),
        ("echo@0", "fakesdk-echo", "disabled"),
        ("fakejob@1", "fakesdk-job", "disabled"),
        ("shout@0", "fakesdk-shout", "disabled"),
    ]


# connector run: a bridged raw-literals connector gets a v1 LiteralMap; its outputs come back native.


def test_run_a_bridged_sync_connector(run: Run) -> None:
    done = run("connector", "run", "shout", "--input", "text=hi", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["outputs"] == {"template": "shout", "text": "HI"}


def test_run_a_bridged_async_connector_with_the_journal(run: Run) -> None:
    done = run("connector", "run", "fakejob@1", "--input", "n=21", "--poll-interval", "0.01")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "doubled = 42\n"
    jobs = run("connector", "jobs", "list", "--json")
    (job,) = json.loads(jobs.stdout)
    assert (job["category"], job["state"], job["connector"]) == ("fakejob@1", "succeeded", "fakesdk-job 2.0")


# connector serve, through the generated stubs.


def test_serve_lists_then_serves_bridged_connectors(run: Run, tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    hold.write_text("")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    environ.pop("PYTHONPATH", None)
    environ.update(run.env(FAKESDK_HOLD_LOAD=str(hold), CONNECTOR_PIN="echo=connector-echo"))
    environ["PATH"] = f"{run.venv.bin}{os.pathsep}{environ.get('PATH', '')}"
    served = Served(
        [str(run.venv.bin / "connector"), "serve", "--port", "0", "--prometheus-port", "off"],
        environ,
        wait_serving=False,
    )
    try:
        # Every load waits on `hold`: the bridged connectors are listed from what the provider said.
        health = health_pb2_grpc.HealthStub(served.channel)
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        # The native connector is not held: it is listed once its own load ends, which a service
        # that binds its port quickly may answer before (ListAgents never waits for an import).
        deadline = time.monotonic() + 30
        while True:
            agents = served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=5).agents
            listed = {
                (a.name, a.is_sync): [(c.name, c.version) for c in a.supported_task_categories]
                for a in agents
            }
            if ("Native echo", True) in listed or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert listed == {
            ("Fake job", False): [("fakejob", 1)],
            ("Fake shout", True): [("shout", 0)],
            ("Native echo", True): [("echo", 0)],
        }
        connectors = served.v2_meta.ListConnectors(
            connector_pb2.ListConnectorsRequest(), timeout=5
        ).connectors
        assert sorted(c.name for c in connectors) == ["Fake job", "Fake shout", "Native echo"]
        hold.unlink()
        served.wait_serving()

        # flyteidl v1, sync: the bridge got the LiteralMap and answered with one.
        header = agent_pb2.CreateRequestHeader(template=v1_template("shout"))
        requests = [
            agent_pb2.ExecuteTaskSyncRequest(header=header),
            agent_pb2.ExecuteTaskSyncRequest(inputs=v1_inputs(text="hello")),
        ]
        (answer,) = served.v1_sync.ExecuteTaskSync(iter(requests), timeout=30)
        expected = literals_pb2.LiteralMap()
        expected.literals["text"].scalar.primitive.string_value = "HELLO"
        expected.literals["template"].scalar.primitive.string_value = "shout"
        assert answer.header.resource.outputs == expected

        # flyteidl v1, async.
        created = served.v1.CreateTask(
            agent_pb2.CreateTaskRequest(template=v1_template("fakejob", 1), inputs=v1_inputs(n=5)), timeout=30
        )
        got = served.v1.GetTask(
            agent_pb2.GetTaskRequest(
                task_category=v1_category("fakejob", 1), resource_meta=created.resource_meta
            ),
            timeout=30,
        )
        assert got.resource.outputs.literals["doubled"].scalar.primitive.integer == 10
        served.v1.DeleteTask(
            agent_pb2.DeleteTaskRequest(
                task_category=v1_category("fakejob", 1), resource_meta=created.resource_meta
            ),
            timeout=30,
        )

        # flyteidl2, async: Inputs in, Outputs back.
        created = served.v2.CreateTask(
            connector_pb2.CreateTaskRequest(template=v2_template("fakejob", 1), inputs=v2_inputs(n=7)),
            timeout=30,
        )
        got = served.v2.GetTask(
            connector_pb2.GetTaskRequest(
                task_category=v2_category("fakejob", 1), resource_meta=created.resource_meta
            ),
            timeout=30,
        )
        assert v2_outputs(got.resource) == {"doubled": 14}
        agents = served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=5).agents
        assert sorted(a.name for a in agents) == ["Fake job", "Fake shout", "Native echo"]
    finally:
        hold.unlink(missing_ok=True)
        code = served.stop()
    assert code == 0
    assert served.stdout[:6] == [
        "CATEGORY                 STATE      DISTRIBUTION        TARGET               BRIDGED BY",
        "fakesdk.plugins: broken  broken     fakesdk-broken 0.3                       connector-fakesdk 0.1",
        "echo@0                   available  connector-echo 1.0  connector_echo:Echo",
        "echo@0                   disabled   fakesdk-echo 1.0    fakesdk_echo:Echo    connector-fakesdk 0.1",
        "fakejob@1                available  fakesdk-job 2.0     fakesdk_job:Job      connector-fakesdk 0.1",
        "shout@0                  available  fakesdk-shout 1.0   fakesdk_shout:Shout  connector-fakesdk 0.1",
    ]
