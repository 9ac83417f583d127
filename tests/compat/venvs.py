"""Virtualenvs with the real peers (flytekit, flyte), built once and cached under the nox folder.

A cached virtualenv lives in ``<cache>/<name>-<python X.Y>-<spec hash>/``; the hash covers the
requirements, the interpreter (its full version and base prefix) and ``FORMAT``, so a change of any
of them builds a new one and an unchanged spec reuses the old one. ``<cache>`` is
``$CONNECTOR_COMPAT_CACHE`` (the nox session sets it to ``.nox/_compat``), else ``.nox/_compat`` of
this checkout: plain pytest and every nox session share the same virtualenvs and pip's wheel cache
(``<cache>/pip-cache``).

Two processes that need the same virtualenv at once take turns on ``<folder>.lock`` (an exclusive
file lock): the first builds it, the second finds it ready. A folder is ready only once its
``compat-ready.json`` is written, last, so a build that died half way is removed and redone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE_VARIABLE = "CONNECTOR_COMPAT_CACHE"
READY = "compat-ready.json"
# Bump to rebuild every cached virtualenv (a change in how they are built).
FORMAT = 2
# flytekit 1.16 supports Python < 3.13; the peers run on the newest interpreter below that.
PEER_PYTHONS = ("3.12", "3.11", "3.10")

FLYTEKIT = ("flytekit[connector]>=1.16,<1.17",)
FLYTE = ("flyte[connector]>=2,<3",)

_FREEZE = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
)


def cache_root() -> Path:
    """Where the cached virtualenvs and pip's wheel cache live."""
    configured = os.environ.get(CACHE_VARIABLE, "").strip()
    return Path(configured) if configured else ROOT / ".nox" / "_compat"


def peer_python() -> str:
    """An interpreter the peers support: this one if it is older than 3.13, else python3.12/11/10."""
    if sys.version_info < (3, 13):
        return sys.executable
    for version in PEER_PYTHONS:
        found = shutil.which(f"python{version}")
        if found and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0:
            return found
    raise RuntimeError(
        f"the compatibility tests need Python {', '.join(PEER_PYTHONS)} for flytekit 1.16 (it supports "
        f"Python < 3.13); this is {sys.version.split()[0]} and none of python3.12, python3.11, python3.10 "
        "runs: install one, or run `python -m nox -s compat`"
    )


@dataclass(frozen=True)
class Interpreter:
    """What identifies a base interpreter: its X.Y, its full version and its base prefix."""

    executable: str
    short: str
    full: str
    base_prefix: str

    @classmethod
    def inspect(cls, executable: str) -> Interpreter:
        probe = "import json, sys; print(json.dumps([sys.version.split()[0], sys.base_prefix]))"
        out = subprocess.run([executable, "-c", probe], capture_output=True, text=True, check=True).stdout
        full, base_prefix = json.loads(out)
        return cls(executable, ".".join(full.split(".")[:2]), full, base_prefix)


@dataclass(frozen=True)
class CachedVenv:
    """A ready virtualenv: ``python`` runs inside it; ``info`` is what ``compat-ready.json`` says."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def info(self) -> dict[str, object]:
        return json.loads((self.path / READY).read_text())  # type: ignore[no-any-return]

    def version_of(self, distribution: str) -> str:
        """The installed version of ``distribution`` (as pip froze it when the venv was built)."""
        frozen = self.info["frozen"]
        assert isinstance(frozen, dict)
        return str(frozen[distribution.lower()])


def spec_hash(name: str, requirements: Sequence[str], interpreter: Interpreter) -> str:
    text = json.dumps([FORMAT, name, list(requirements), interpreter.full, interpreter.base_prefix])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def venv_folder(name: str, requirements: Sequence[str], interpreter: Interpreter, root: Path) -> Path:
    return root / f"{name}-{interpreter.short}-{spec_hash(name, requirements, interpreter)}"


def cached_venv(
    name: str, requirements: Sequence[str], *, python: str | None = None, root: Path | None = None
) -> CachedVenv:
    """The ready virtualenv ``name`` with ``requirements`` installed, built first if it is not yet."""
    interpreter = Interpreter.inspect(python or peer_python())
    root = root or cache_root()
    folder = venv_folder(name, requirements, interpreter, root)
    venv = CachedVenv(folder)
    if (folder / READY).exists():
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with _locked(folder.with_name(folder.name + ".lock")):
        if (folder / READY).exists():  # another process built it while this one waited
            return venv
        if folder.exists():  # a build that died half way
            shutil.rmtree(folder)
        _build(folder, requirements, interpreter, root / "pip-cache")
    return venv


def _build(folder: Path, requirements: Sequence[str], interpreter: Interpreter, pip_cache: Path) -> None:
    # Without pip of its own (ensurepip costs seconds): this process's pip installs into it.
    subprocess.run([interpreter.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = CachedVenv(folder).python
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    subprocess.run([*pip, "--cache-dir", str(pip_cache), "install", "--quiet", *requirements], check=True)
    listed = subprocess.run([str(python), "-c", _FREEZE], capture_output=True, text=True, check=True)
    frozen = json.loads(listed.stdout)
    ready = {
        "requirements": list(requirements),
        "python": interpreter.full,
        "base_prefix": interpreter.base_prefix,
        "format": FORMAT,
        "build": os.urandom(8).hex(),  # tells one build from another (the race test compares them)
        "frozen": frozen,
    }
    # Written whole, then renamed: a reader sees no file or a complete one.
    partial = folder / (READY + ".partial")
    partial.write_text(json.dumps(ready, indent=1, sort_keys=True))
    partial.replace(folder / READY)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a+") as handle:
        if os.name == "nt":  # pragma: no cover - the lock of Windows
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
