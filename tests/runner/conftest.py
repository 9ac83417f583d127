"""Fixtures of the runner's tests: the connector-fakejobs wheel, a venv that has it, and a CLI driver."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from connector import JobJournal, JobRecord
from tests.support.venvs import Venv
from tests.support.wheels import build_wheel

PLUGIN_SOURCE = Path(__file__).parent / "fakejobs" / "connector_fakejobs" / "__init__.py"
ENTRY_POINTS = {
    "connector": {
        "fakejob": "connector_fakejobs:FakeJobs",
        "fakejob-plain": "connector_fakejobs:FakeJobsPlain",
        "echo": "connector_fakejobs:Echo",
        "echo@2": "connector_fakejobs:EchoV2",
    }
}


def wait_for(predicate: Callable[[], object], *, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail after ``timeout`` seconds (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def unprivileged(*args: str) -> list[str]:
    """``args``, run so that file permissions apply: root drops the capability that ignores them."""
    if os.geteuid() != 0:
        return list(args)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("as root, this test needs setpriv (util-linux) to make a read-only file read-only")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *args]


@pytest.fixture(scope="session")
def fakejobs_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real wheel of the connector-fakejobs test distribution."""
    return build_wheel(
        tmp_path_factory.mktemp("fakejobs-wheel"),
        "connector-fakejobs",
        "1.0",
        {"connector_fakejobs/__init__.py": PLUGIN_SOURCE.read_text()},
        entry_points=ENTRY_POINTS,
    )


@pytest.fixture(scope="session")
def runner_venv(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path, fakejobs_wheel: Path) -> Venv:
    """A throwaway virtualenv with connector-core and connector-fakejobs pip-installed (no PyYAML)."""
    venv = Venv(tmp_path_factory.mktemp("runner-venv") / "venv")
    venv.install(core_wheel, fakejobs_wheel)
    return venv


@dataclasses.dataclass
class Cli:
    """Runs ``connector`` in the venv with CONNECTOR_HOME and the fake jobs' root in a tmp dir."""

    venv: Venv
    home: Path
    root: Path

    def env(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
        environ["PATH"] = f"{self.venv.bin}{os.pathsep}{environ.get('PATH', '')}"
        environ.pop("PYTHONPATH", None)
        environ["CONNECTOR_HOME"] = str(self.home)
        environ["COLUMNS"] = "200"
        return environ

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.venv.run(["connector", *args], env={"CONNECTOR_HOME": str(self.home)}, timeout=timeout)

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[str]:
        options: dict[str, object] = {
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "text": True,
            "env": self.env(),
        }
        options.update(kwargs)
        return subprocess.Popen(["connector", *args], **options)  # type: ignore[call-overload]

    def fake(self, *custom: str) -> list[str]:
        """``--custom`` options pointing the fake jobs at this test's root."""
        options = ["--custom", f"root={self.root}"]
        for item in custom:
            options += ["--custom", item]
        return options

    def events(self) -> list[str]:
        log = self.root / "events.log"
        return log.read_text().splitlines() if log.exists() else []

    def count(self, prefix: str) -> int:
        return sum(1 for line in self.events() if line.startswith(prefix))

    def journal(self) -> JobJournal:
        return JobJournal(self.home / "jobs.sqlite3")

    def only_job(self) -> JobRecord:
        (record,) = self.journal().list()
        return record

    def interrupt_after_first_get(self, process: subprocess.Popen[str], sig: int = signal.SIGINT) -> None:
        wait_for(lambda: self.count("get ") >= 1, what="the first get")
        process.send_signal(sig)


@pytest.fixture
def cli(runner_venv: Venv, tmp_path: Path) -> Cli:
    """A CLI driver with a fresh CONNECTOR_HOME and fake-jobs root."""
    root = tmp_path / "jobs"
    root.mkdir()
    return Cli(runner_venv, tmp_path / "home", root)


def job_of(cli: Cli, events: Sequence[str], kind: str = "create") -> str:
    """The fake job id named by the first ``kind`` event."""
    return next(line.split()[1] for line in events if line.startswith(kind + " "))
