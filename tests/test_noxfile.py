"""`python -m nox` never passes quietly when a required check cannot run (issue 12).

Each test runs the real noxfile with a PATH that holds only the Pythons the test chooses (links named
``python3.X``), so what nox finds does not depend on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.venvs import ROOT


def _nox(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "PYENV_VERSION")}
    env["PATH"] = str(bin_dir)
    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )


def _bin_with(tmp_path: Path, *versions: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for version in versions:
        (bin_dir / f"python{version}").symlink_to(sys.executable)
    return bin_dir


def test_lint_and_typecheck_fail_when_no_supported_python_is_found(tmp_path: Path) -> None:
    result = _nox(_bin_with(tmp_path), "-s", "lint", "typecheck")
    assert result.returncode == 1
    assert "lint cannot run: none of Python 3.10, 3.11, 3.12, 3.13 was found" in result.stderr
    assert "typecheck cannot run: none of Python 3.10, 3.11, 3.12, 3.13 was found" in result.stderr


def test_flytekit_plugin_and_compat_fail_when_only_python_3_13_is_found(tmp_path: Path) -> None:
    result = _nox(_bin_with(tmp_path, "3.13"), "-s", "plugins(plugin='connector-flytekit')", "compat")
    assert result.returncode == 1
    assert (
        "plugins(plugin='connector-flytekit') cannot run: plugins/connector-flytekit needs Python "
        "<3.13,>=3.10 and none of 3.10, 3.11, 3.12 was found"
    ) in result.stderr
    compat = "compat cannot run: flytekit needs one of Python 3.10, 3.11, 3.12 and none was found"
    assert compat in result.stderr


def test_the_missing_pythons_are_named_and_the_tests_session_runs_on_those_found(tmp_path: Path) -> None:
    result = _nox(_bin_with(tmp_path, "3.11", "3.13"), "-l")
    assert result.returncode == 0
    assert (
        "nox: Python 3.10, 3.12 not found; the tests session runs on 3.11, 3.13 only "
        "(install the others, e.g. with pyenv, to test on them)"
    ) in result.stderr
    sessions = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("* tests-")]
    assert sessions == ["tests-3.11", "tests-3.13"]
