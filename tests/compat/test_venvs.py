"""The cache of the peers' virtualenvs (``venvs.py``), on a small real wheel instead of flytekit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat.venvs import READY, ROOT, CachedVenv, Interpreter, cached_venv, venv_folder
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def probe_wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    wheels = tmp_path_factory.mktemp("probe-wheels")
    files = {"compat_probe.py": "VALUE = 1\n"}
    return build_wheel(wheels, "compat-probe", "1.0", files), build_wheel(
        wheels, "compat-probe", "2.0", files
    )


def _installed(venv_python: Path) -> str:
    probe = "import importlib.metadata as m; print(m.version('compat-probe'))"
    return subprocess.run(
        [str(venv_python), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_built_once_then_reused_until_the_spec_changes(
    tmp_path: Path, probe_wheels: tuple[Path, Path]
) -> None:
    first, second = probe_wheels
    venv = cached_venv("probe", [str(first)], root=tmp_path)
    assert _installed(venv.python) == "1.0"
    assert venv.version_of("compat-probe") == "1.0"
    build = venv.info["build"]

    again = cached_venv("probe", [str(first)], root=tmp_path)
    assert (again.path, again.info["build"]) == (venv.path, build)

    changed = cached_venv("probe", [str(second)], root=tmp_path)
    assert changed.path != venv.path
    assert changed.path.name.startswith(f"probe-{Interpreter.inspect(sys.executable).short}-")
    assert _installed(changed.python) == "2.0"


def test_a_half_built_folder_is_built_again(tmp_path: Path, probe_wheels: tuple[Path, Path]) -> None:
    first, _ = probe_wheels
    folder = venv_folder("probe", [str(first)], Interpreter.inspect(sys.executable), tmp_path)
    folder.mkdir(parents=True)
    (folder / "left-by-a-dead-build").write_text("")
    venv = cached_venv("probe", [str(first)], root=tmp_path)
    assert venv.path == folder
    assert not (folder / "left-by-a-dead-build").exists()
    assert (folder / READY).exists()
    assert _installed(venv.python) == "1.0"


def test_two_processes_at_once_build_it_once(tmp_path: Path, probe_wheels: tuple[Path, Path]) -> None:
    """Both processes get the same virtualenv, built by one of them (the same build id)."""
    first, _ = probe_wheels
    script = (
        "import json, sys; from pathlib import Path; from tests.compat.venvs import cached_venv; "
        "v = cached_venv('probe', [sys.argv[1]], root=Path(sys.argv[2])); "
        "print(json.dumps([str(v.path), v.info['build']]))"
    )
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(first), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )
        for _ in range(2)
    ]
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err
        answers.append(json.loads(out))
    assert answers[0] == answers[1]
    assert json.loads((Path(answers[0][0]) / READY).read_text())["build"] == answers[0][1]


def test_the_peers_are_the_promised_releases(flytekit_venv: CachedVenv, flyte_venv: CachedVenv) -> None:
    """flytekit 1.16.x and flyte 2.x from PyPI, each with the extra that serves connectors."""
    assert flytekit_venv.version_of("flytekit").startswith("1.16.")
    assert flytekit_venv.version_of("httpx")  # flytekit[connector]: its webhook connector's client
    assert flyte_venv.version_of("flyte").startswith("2.")
    assert flyte_venv.version_of("grpcio")  # flyte[connector]
