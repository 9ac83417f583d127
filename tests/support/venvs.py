"""Throwaway virtualenvs with connector-core installed from a freshly built wheel."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_local_wheel(project: Path, out: Path) -> Path:
    """Build a wheel of a project in this repository (core/ or plugins/x) into ``out``."""
    before = set(out.glob("*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(project),
        ],
        check=True,
    )
    (wheel,) = set(out.glob("*.whl")) - before
    return wheel


class Venv:
    """A virtualenv in ``path``; ``run`` executes a command with its bin directory first on PATH."""

    def __init__(self, path: Path) -> None:
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        self.bin = path / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"

    def install(self, *requirements: str | Path, no_deps: bool = False) -> None:
        """pip-install wheels, paths or requirement strings (dependencies come from the pip cache)."""
        command = [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if no_deps:
            command.append("--no-deps")
        subprocess.run([*command, *map(str, requirements)], check=True)

    def run(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` (``connector ...`` or ``python ...``) inside the venv and capture its output."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
        environ["PATH"] = f"{self.bin}{os.pathsep}{environ.get('PATH', '')}"
        environ.pop("PYTHONPATH", None)
        # The journal and discovery cache of a throwaway venv stay in it, not in the real home.
        environ["CONNECTOR_HOME"] = str(self.path / "connector-home")
        environ.update(env or {})
        return subprocess.run(
            list(args), env=environ, capture_output=True, text=True, timeout=timeout, check=check
        )
