"""Shared helpers of the benchmarks: reusable virtualenvs under bench/.work, timing, and tables.

Not a benchmark itself: the nox ``bench`` session skips files whose name starts with ``_``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
WORK = ROOT / "bench" / ".work"

if str(ROOT) not in sys.path:
    # The benchmarks build their wheels with the same helper the end-to-end tests use.
    sys.path.insert(0, str(ROOT))


def core_fingerprint() -> str:
    """A hash of connector-core's sources, so a reused virtualenv is refreshed when they change."""
    digest = hashlib.sha256()
    paths = [CORE / "pyproject.toml", *sorted((CORE / "src").rglob("*"))]
    for path in paths:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(CORE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def sources_fingerprint(*projects: Path) -> str:
    """A hash of projects' ``pyproject.toml`` and ``src/``, to refresh a venv they are installed in."""
    digest = hashlib.sha256()
    for project in projects:
        for path in [project / "pyproject.toml", *sorted((project / "src").rglob("*"))]:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class BenchVenv:
    """A virtualenv under bench/.work that survives between runs.

    ``ensure`` creates it when missing or when its recorded ``stamp`` differs, and (re)installs
    connector-core from this checkout, non-editable, whenever the core's sources changed (with
    what its server extra needs: every virtualenv here serves).
    """

    def __init__(self, name: str) -> None:
        self.path = WORK / f"{name}-py{sys.version_info.major}.{sys.version_info.minor}"
        self.bin = self.path / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"

    def _read(self, name: str) -> str | None:
        path = self.path / name
        return path.read_text() if path.exists() else None

    def ensure(self, stamp: str, populate: Callable[[BenchVenv], None]) -> bool:
        """Build the virtualenv if its stamp differs; return True when it was (re)built."""
        built = False
        if self._read("bench-stamp") != stamp or not self.python.exists():
            if self.path.exists():
                shutil.rmtree(self.path)
            log(f"creating {self.path.relative_to(ROOT)}")
            subprocess.run([sys.executable, "-m", "venv", str(self.path)], check=True)
            self.pip("install", "--upgrade", "pip")
            self.pip("install", str(CORE))
            (self.path / "bench-core").write_text(core_fingerprint())
            populate(self)
            (self.path / "bench-stamp").write_text(stamp)
            built = True
        fingerprint = core_fingerprint()
        if self._read("bench-core") != fingerprint:
            log(f"reinstalling connector-core from this checkout into {self.path.relative_to(ROOT)}")
            # First with the server extra's dependencies (the core may have gained one), then its code.
            self.pip("install", f"{CORE}[server]")
            self.pip("install", "--no-deps", "--force-reinstall", str(CORE))
            (self.path / "bench-core").write_text(fingerprint)
        return built

    def pip(self, *args: str) -> None:
        """Run this virtualenv's pip quietly."""
        subprocess.run(
            [str(self.python), "-m", "pip", "--disable-pip-version-check", "--quiet", *args], check=True
        )

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a measured process: this venv's bin first, no CONNECTOR_* settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "PYTHON"))}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra or {})
        return env


def run_once(args: Sequence[str], env: Mapping[str, str]) -> tuple[float, str]:
    """Run a fresh process; return its wall-clock time in seconds and its stdout. Fails loudly."""
    start = time.perf_counter()
    done = subprocess.run(list(args), env=dict(env), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def median_times(
    commands: Mapping[str, tuple[Sequence[str], Mapping[str, str]]], runs: int
) -> dict[str, float]:
    """Median wall-clock seconds of ``runs`` fresh processes per command.

    The commands are interleaved round by round (in a rotating order), so a burst of load from
    another process on a shared machine spreads over all of them instead of one column.
    """
    samples: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_number in range(runs):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            args, env = commands[name]
            samples[name].append(run_once(args, env)[0])
    return {name: statistics.median(values) for name, values in samples.items()}


def machine_notes() -> str:
    """One line describing the interpreter and machine, printed above each table."""
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs{load}"
    )


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as printed beside the figures."""
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def source_note() -> str:
    """Which sources were measured: the checkout's commit, and whether its tree had changes."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=7"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"sources from {ROOT} (not a git checkout)"
    described = done.stdout.strip()
    if described.endswith("-dirty"):
        return f"commit {described[: -len('-dirty')]} with uncommitted changes in the tree"
    return f"commit {described}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table (pipes aligned), so the output can be pasted into docs/performance.md."""
    rows = [list(headers), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def ms(seconds: float) -> str:
    """Seconds as whole milliseconds."""
    return f"{seconds * 1000:.0f} ms"


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the results."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
