"""`connector serve` lists connectors while a plugin's import hangs, and learns them for the next start."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from flyteidl.admin import agent_pb2
from flyteidl2.connector import connector_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.server.served import Served, environ_for
from tests.support.venvs import Venv
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.e2e

# Its import waits until the file SLOW_IMPORT_RELEASE names exists, after creating SLOW_IMPORT_STARTED.
SLOW_MODULE = """\
import os
import time
from pathlib import Path

Path(os.environ["SLOW_IMPORT_STARTED"]).touch()
while not Path(os.environ["SLOW_IMPORT_RELEASE"]).exists():
    time.sleep(0.01)

from connector import Phase, Resource, SyncConnector


class Slow(SyncConnector):
    name = "Slow import"
    task_type_name = "slowimport"

    def do(self, inputs):
        return Resource(phase=Phase.SUCCEEDED)
"""

# serve_venv's connectors (filejob, asleep, syncecho, asyncdo@2, and broken, which is never listed),
# with slowimport among them: asleep, asyncdo, broken and filejob load before it, syncecho after.
EVERYTHING = {
    ("Async do", True): [("asyncdo", 2)],
    ("File job connector", False): [("filejob", 0)],
    ("Sleep connector", False): [("asleep", 0)],
    ("Slow import", True): [("slowimport", 0)],
    ("Sync echo", True): [("syncecho", 0)],
}


def _agents(served: Served) -> dict[tuple[str, bool], list[tuple[str, int]]]:
    answer = served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=5)
    return {
        (a.name, a.is_sync): [(c.name, c.version) for c in a.supported_task_categories] for a in answer.agents
    }


def _connectors(served: Served) -> set[str]:
    answer = served.v2_meta.ListConnectors(connector_pb2.ListConnectorsRequest(), timeout=5)
    return {c.name for c in answer.connectors}


def _health(served: Served, name: str) -> Any:
    stub = health_pb2_grpc.HealthStub(served.channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status


def _wait_for(path: Path, served: Served) -> None:
    for _ in range(3000):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError("the slow import never began; stderr:\n" + "\n".join(served.stderr))


@dataclasses.dataclass
class Setup:
    """serve_venv plus connector-slowimport on PYTHONPATH, with a CONNECTOR_HOME of its own."""

    environ: dict[str, str]
    started: Path
    release: Path
    bin: Path

    def serve(self) -> Served:
        command = [str(self.bin / "connector"), "serve", "--port", "0", "--prometheus-port", "off"]
        return Served(command, self.environ, wait_serving=False)


@pytest.fixture
def setup(serve_venv: Venv, tmp_path: Path) -> Setup:
    wheel = build_wheel(
        tmp_path,
        "connector-slowimport",
        "1.0",
        {"connector_slowimport.py": SLOW_MODULE},
        {"connector": {"slowimport": "connector_slowimport:Slow"}},
    )
    # Installed beside serve_venv's site-packages (on PYTHONPATH), so the shared venv stays as it is.
    site = tmp_path / "site"
    pip = [str(serve_venv.python), "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run([*pip, "--target", str(site), str(wheel)], check=True)
    started, release = tmp_path / "started", tmp_path / "release"
    environ = environ_for(
        serve_venv,
        PYTHONPATH=str(site),
        CONNECTOR_HOME=str(tmp_path / "home"),  # its own learned-metadata file, empty at first
        SLOW_IMPORT_STARTED=str(started),
        SLOW_IMPORT_RELEASE=str(release),
    )
    return Setup(environ, started, release, serve_venv.bin)


def test_listing_while_an_import_hangs_then_from_what_the_first_start_learned(setup: Setup) -> None:
    started, release = setup.started, setup.release
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING

    # First start: what is loaded is listed at once; slowimport and what comes after it are not yet.
    first = setup.serve()
    try:
        _wait_for(started, first)
        before = {"Async do", "File job connector", "Sleep connector"}  # loaded before slowimport
        loaded = {key: categories for key, categories in EVERYTHING.items() if key[0] in before}
        assert _agents(first) == loaded
        assert _connectors(first) == {name for name, _ in loaded}
        assert (_health(first, ""), _health(first, "grpc.health.v1.Health")) == (not_serving, serving)
        release.touch()
        first.wait_serving()
        assert _agents(first) == EVERYTHING
    finally:
        assert first.stop() == 0

    # Second start from the same home: everything is listed while slowimport's import hangs again.
    started.unlink()
    release.unlink()
    second = setup.serve()
    try:
        _wait_for(started, second)
        assert _agents(second) == EVERYTHING
        assert _connectors(second) == {name for name, _ in EVERYTHING}
        got = second.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="Slow import"), timeout=5)
        assert got.agent.is_sync
        assert _health(second, "") == not_serving
    finally:
        release.touch()
        assert second.stop() == 0


def test_connector_check_at_build_time_lets_the_first_start_list_everything(setup: Setup) -> None:
    setup.release.touch()
    checked = subprocess.run(
        [str(setup.bin / "connector"), "check"],
        env=setup.environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 1, checked.stderr  # serve_venv's broken plugin
    setup.started.unlink()
    setup.release.unlink()
    served = setup.serve()
    try:
        _wait_for(setup.started, served)
        assert _agents(served) == EVERYTHING
    finally:
        setup.release.touch()
        assert served.stop() == 0
