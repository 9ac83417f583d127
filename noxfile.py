"""Every check a developer or CI runs: `python -m nox` runs the default sessions, `-s NAME` one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
CORE = ROOT / "core"
PLUGINS = sorted(p.name for p in (ROOT / "plugins").glob("connector-*") if (p / "pyproject.toml").exists())
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")

nox.options.sessions = ["tests", "lint", "typecheck", "plugins", "compat"]
nox.options.reuse_existing_virtualenvs = True
# On CI every supported Python must be there: a missing one fails the run instead of being skipped.
# Locally the tests session runs on the Pythons found and says which are missing (PRESENT below).
ON_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")
nox.options.error_on_missing_interpreters = ON_CI


def _supported_pythons() -> list[str]:
    """The Python versions connector-core declares, read from its classifiers."""
    text = (CORE / "pyproject.toml").read_text()
    return re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text)


def _expose_pyenv_interpreters() -> None:
    """Put pyenv's interpreters on PATH, so `python3.X` resolves for every version installed.

    A pyenv machine's shims only answer for the global version; nox looks interpreters up by
    `python3.X` on PATH.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return
    root = Path(subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip())
    bins = sorted(str(p) for p in (root / "versions").glob("3.*/bin") if p.is_dir())
    os.environ["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])


_expose_pyenv_interpreters()
PYTHONS = _supported_pythons()
# The supported Pythons this machine has: lint, typecheck, plugins and compat run on these.
PRESENT = [python for python in PYTHONS if shutil.which(f"python{python}")]
MISSING = [python for python in PYTHONS if python not in PRESENT]
if MISSING:
    print(
        f"nox: Python {', '.join(MISSING)} not found; the tests session runs on "
        f"{', '.join(PRESENT) or 'no Python'} only (install the others, e.g. with pyenv, to test on them)",
        file=sys.stderr,
    )


def _version(python: str) -> tuple[int, ...]:
    return tuple(int(part) for part in python.split("."))


def _newest(pythons: list[str]) -> str | None:
    return max(pythons, key=_version) if pythons else None


def _cannot_run(session: nox.Session, why: str) -> None:
    """Fail a required session that has no Python to run on: a skipped check must not pass quietly."""
    session.error(f"{session.name} cannot run: {why}")


# The tests run with HOME in a temporary folder (conftest.py); the virtualenvs they build share one
# pip cache under .nox instead, so wheels are downloaded once, not once per session.
_PIP_CACHE = {"PIP_CACHE_DIR": str(ROOT / ".nox" / "_pip-cache")}


def _install_core(session: nox.Session, *groups: str) -> None:
    session.install("--upgrade", "pip")
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group))
    session.install("-e", f"{CORE}[server]")


@nox.session(python=PYTHONS if ON_CI or not PRESENT else PRESENT)
def tests(session: nox.Session) -> None:
    """Run the core's tests, including the end-to-end tests against real installed wheels."""
    _install_core(session, "test")
    # tests/compat runs in its own session (compat): it needs an interpreter flytekit supports.
    # One pytest worker per CPU (pytest-xdist): the end-to-end tests mostly wait on pip and on the
    # processes they serve, so two workers halve the session on a 2-core machine. `-- -n 0` runs
    # them in this process (for pdb, or to rule out an interaction between workers).
    session.run("pytest", "--ignore=tests/compat", "--numprocesses=auto", *session.posargs, env=_PIP_CACHE)


@nox.session(python=_newest(PRESENT) or False)
def lint(session: nox.Session) -> None:
    """Check lint rules and formatting with ruff (fix locally with `ruff check --fix; ruff format`)."""
    if not PRESENT:
        _cannot_run(session, f"none of Python {', '.join(PYTHONS)} was found")
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


# mypy checks for Python 3.10 (pyproject's python_version) whichever Python it runs on.
@nox.session(python=min(PRESENT, key=_version) if PRESENT else False)
def typecheck(session: nox.Session) -> None:
    """Run mypy in strict mode on core/src."""
    if not PRESENT:
        _cannot_run(session, f"none of Python {', '.join(PYTHONS)} was found")
    _install_core(session, "typecheck")
    session.run("mypy", *session.posargs)


def _plugin_pythons(plugin: str) -> tuple[list[str], str]:
    """The Pythons of PYTHONS that the plugin's ``requires-python`` allows, and that specifier."""
    from packaging.specifiers import SpecifierSet  # nox depends on packaging

    project = nox.project.load_toml(ROOT / "plugins" / plugin / "pyproject.toml")["project"]
    allowed = SpecifierSet(project.get("requires-python", ""))
    fitting = [python for python in PYTHONS if allowed.contains(f"{python}.0")]
    if not fitting:
        raise ValueError(f"plugins/{plugin}: requires-python {allowed} allows none of {', '.join(PYTHONS)}")
    return fitting, str(allowed)


def _plugin_python(plugin: str) -> str | bool:
    """The newest present Python the plugin allows (connector-flytekit: below 3.13); False if none is."""
    fitting, _ = _plugin_pythons(plugin)
    return _newest([python for python in fitting if python in PRESENT]) or False


def _has_mypy_config(plugin: str) -> bool:
    return "mypy" in nox.project.load_toml(ROOT / "plugins" / plugin / "pyproject.toml").get("tool", {})


# Python and plugin are parametrized together, so each plugin runs on the newest Python it supports;
# the ids keep the session names as they were: plugins(plugin='connector-http'), ...
@nox.session
@nox.parametrize(
    ("python", "plugin"),
    [(_plugin_python(plugin), plugin) for plugin in PLUGINS],
    ids=[f"plugin='{plugin}'" for plugin in PLUGINS],
)
def plugins(session: nox.Session, plugin: str) -> None:
    """Run one first-party plugin's own tests against the core in this checkout, on its newest Python.

    The session of ``plugins/X`` is ``plugins(plugin='X')``; its Python is the newest of the core's
    that X's ``requires-python`` allows. A plugin whose pyproject.toml has a ``[tool.mypy]`` section
    is also type-checked with it (strict, on its src/).
    """
    if session.python is False:
        fitting, allowed = _plugin_pythons(plugin)
        found = ", ".join(fitting)
        _cannot_run(session, f"plugins/{plugin} needs Python {allowed} and none of {found} was found")
    session.install("--upgrade", "pip")
    # One pip call for the core and the plugin: the resolver sees both (flytekit caps protobuf).
    test = nox.project.dependency_groups(PYPROJECT, "test")
    session.install(*test, "-e", f"{CORE}[server]", "-e", f"plugins/{plugin}[test]")
    if _has_mypy_config(plugin):
        session.install(*nox.project.dependency_groups(PYPROJECT, "typecheck"))
        session.run("mypy", "--config-file", f"plugins/{plugin}/pyproject.toml", f"plugins/{plugin}/src")
    session.run(
        "pytest", f"plugins/{plugin}/tests", "-p", "no:cacheprovider", *session.posargs, env=_PIP_CACHE
    )


# flytekit 1.16 supports Python < 3.13: the compat session runs on the newest present one below that.
COMPAT_PYTHONS = [python for python in PYTHONS if _version(python) < (3, 13)]


@nox.session(python=_newest([python for python in COMPAT_PYTHONS if python in PRESENT]) or False)
def compat(session: nox.Session) -> None:
    """Run tests/compat: side by side with real flytekit 1.16 and flyte 2 (docs/compatibility.md).

    The peers' virtualenvs are built once under .nox/_compat (pip's wheel cache there too) and
    reused until their requirements change; see tests/compat/venvs.py.
    """
    if session.python is False:
        _cannot_run(session, f"flytekit needs one of Python {', '.join(COMPAT_PYTHONS)} and none was found")
    _install_core(session, "test")
    # The native plugins the side-by-side tests serve. Not the bridges: they bring flytekit and flyte
    # (whose own webhook and sensor would conflict here); their tests build virtualenvs of their own.
    native = ("connector-http", "connector-sensor")
    session.install(*(arg for plugin in native for arg in ("-e", str(ROOT / "plugins" / plugin))))
    cache = Path(session.virtualenv.location).parent / "_compat"
    # One worker per CPU, as in the tests session: the peers' virtualenvs are built once (under a lock).
    session.run(
        "pytest",
        "tests/compat",
        "-p",
        "no:cacheprovider",
        "--numprocesses=auto",
        *session.posargs,
        env={"CONNECTOR_COMPAT_CACHE": str(cache)},
    )


@nox.session(python=PYTHONS[-1], default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmarks in bench/ and print their tables (not part of the default run)."""
    _install_core(session)
    scripts = session.posargs or sorted(str(p) for p in (ROOT / "bench").glob("[!_]*.py"))
    for script in scripts:
        session.run("python", script)


@nox.session(python="3.12", default=False)
def bench_flytekit(session: nox.Session) -> None:
    """Run bench/service.py with flytekit's `pyflyte serve connector` as a third column (not in CI).

    flytekit is installed into this session's own virtualenv (it supports Python < 3.13 only) and
    never into connector-core's; the benchmark client runs from the same interpreter.
    """
    session.install("flytekit[connector]")
    python = Path(session.virtualenv.location) / "bin" / "python"
    session.run("python", "bench/service.py", "--flytekit", str(python), *session.posargs)


@nox.session(python=PYTHONS[-1], default=False)
def bench_issue13(session: nox.Session) -> None:
    """Issue 13's figures: bench/concurrency.py, bench/service.py --peers, bench/per_pair.py (not in CI).

    The first two build and reuse their virtualenvs under bench/.work (flytekit's and flyte's on a
    Python below 3.13); ``session.posargs`` (e.g. ``--runs 5``) go to all three.
    """
    _install_core(session)
    session.run("python", "bench/concurrency.py", *session.posargs)
    session.run("python", "bench/service.py", "--peers", *session.posargs)
    session.run("python", "bench/per_pair.py", *session.posargs)
