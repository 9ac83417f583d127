"""A real ``connector serve`` process for the end-to-end tests, and the virtualenv it runs from.

``serve_venv`` holds connector-core[server], the sample plugin and a broken plugin, from real
wheels; ``serve(*args, env=...)`` starts ``connector serve`` there on free ports and waits until it
is SERVING (``Served`` reads the bound ports from what it prints).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import service_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.venvs import ROOT, Venv
from tests.support.wheels import build_wheel

SAMPLE_SOURCE = (Path(__file__).parent / "sample_plugin.py").read_text()
ENTRY_POINTS = {
    "filejob": "connector_svctest:FileJobConnector",
    "asleep": "connector_svctest:AsyncSleepConnector",
    "syncecho": "connector_svctest:SyncEcho",
    "asyncdo@2": "connector_svctest:AsyncDo",
}
ADDRESS = re.compile(r"^Serving gRPC on (?:127\.0\.0\.1|localhost):(\d+) ")
_METRICS = re.compile(r"^Serving metrics on http://(?:127\.0\.0\.1|localhost):(\d+)/metrics$")


def sample_wheel(directory: Path) -> Path:
    """A real wheel of the sample plugin (tests/server/sample_plugin.py), connector-svctest 1.0."""
    files = {"connector_svctest/__init__.py": SAMPLE_SOURCE}
    return build_wheel(directory, "connector-svctest", "1.0", files, {"connector": ENTRY_POINTS})


@pytest.fixture(scope="session")
def serve_venv(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> Venv:
    """A virtualenv with connector-core[server], the sample plugin and a broken plugin, from real wheels."""
    wheels = tmp_path_factory.mktemp("serve-wheels")
    sample = sample_wheel(wheels)
    broken = build_wheel(
        wheels,
        "connector-broken",
        "0.3",
        {"connector_broken.py": "raise ImportError('the warehouse SDK is missing')\n"},
        {"connector": {"broken": "connector_broken:Connector"}},
    )
    venv = Venv(tmp_path_factory.mktemp("serve-venv") / "venv")
    venv.install(f"{core_wheel}[server]", sample, broken)
    return venv


def environ_for(venv: Venv | None, **overrides: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    # The session's temporary CONNECTOR_HOME (tests/conftest.py): where a service keeps its key.
    environ["CONNECTOR_HOME"] = os.environ["CONNECTOR_HOME"]
    if venv is not None:
        environ["PATH"] = f"{venv.bin}{os.pathsep}{environ.get('PATH', '')}"
        environ.pop("PYTHONPATH", None)
    else:
        # This checkout's core first: the test interpreter may have another one installed.
        environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core" / "src"), str(ROOT)])
    environ.update(overrides)
    return environ


class Served:
    """A ``connector serve`` process; ``port`` and ``metrics_port`` are read from what it prints."""

    def __init__(self, command: Sequence[str], environ: dict[str, str], *, wait_serving: bool = True) -> None:
        self.process = subprocess.Popen(
            list(command), env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr, False), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()
        self.port = int(self._wait_for(ADDRESS).group(1))
        #: When the address line was read (``wait_serving`` measures from it).
        self.address_time = time.monotonic()
        metrics = self._wait_for(re.compile(r"^(Serving metrics on .*|Metrics are off)$"))
        found = _METRICS.match(metrics.group(0))
        self.metrics_port = int(found.group(1)) if found else None
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        if wait_serving:
            self.wait_serving()
        self.v1 = agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        self.v1_sync = agent_pb2_grpc.SyncAgentServiceStub(self.channel)
        self.v1_meta = agent_pb2_grpc.AgentMetadataServiceStub(self.channel)
        self.v2 = service_pb2_grpc.AsyncConnectorServiceStub(self.channel)
        self.v2_meta = service_pb2_grpc.ConnectorMetadataServiceStub(self.channel)

    def wait_serving(self) -> float:
        """Poll the health service until it says SERVING; the seconds since the address line."""
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
            if status == health_pb2.HealthCheckResponse.SERVING:
                return time.monotonic() - self.address_time
            time.sleep(0.05)
        raise AssertionError("never SERVING; stderr:\n" + "\n".join(self.stderr))

    def terminate(self) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds it took to exit."""
        start = time.monotonic()
        code = self.stop(signal.SIGTERM)
        return code, time.monotonic() - start

    def _pump(self, stream: Any, lines: list[str], to_queue: bool) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if to_queue:
                self.lines.put(line.rstrip("\n"))

    def _wait_for(self, pattern: re.Pattern[str], seconds: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = pattern.match(line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern.pattern}; stderr:\n" + "\n".join(self.stderr))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.close()

    def close(self) -> int:
        """Wait for the process (killing it when it hangs) and release its pipes and channel."""
        self.channel.close()
        try:
            code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(30)
        for pump in self._pumps:
            pump.join(30)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        return code


@pytest.fixture
def serve(serve_venv: Venv) -> Iterator[Any]:
    started: list[Served] = []

    def start(
        *args: str, venv: Venv | None = serve_venv, module: bool = False, env: dict[str, str] | None = None
    ) -> Served:
        executable = [sys.executable, "-m", "connector"] if venv is None else [str(venv.bin / "connector")]
        served = Served(
            [*executable, "serve", "--port", "0", "--prometheus-port", "0", *args],
            environ_for(venv, **(env or {})),
        )
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
        served.close()
