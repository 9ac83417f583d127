"""Discovery benchmark: `connector list --json` against a bare entry-point scan and pluggy's eager loading.

For each N in 0, 100 and 1000 it keeps a virtualenv under bench/.work with connector-core from this
checkout (non-editable) and N synthetic connector distributions pip-installed from real wheels,
then prints the median wall-clock time of fresh processes for each command, and the ratios the
issue sets targets for (issue 2: list within 2x of the bare scan, at least 3x faster than eager).

Run: ``python bench/discovery.py`` or ``python -m nox -s bench -- bench/discovery.py``.
Options: ``--runs R`` (default 5), ``--sizes 0,100,1000``, ``--rebuild`` (rebuild the venvs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import WORK, BenchVenv, log, machine_notes, median_times, ms, run_once, table

from tests.support.wheels import build_wheel

CACHE_HOME = WORK / "connector-home"

# A realistic small plugin: a sync connector written as a module of hooks, importing a few stdlib
# modules and the core's marker, as a first-party plugin would. Eager loading must import it.
PLUGIN_MODULE = '''\
"""Synthetic connector {index} of the discovery benchmark: a sync connector as a module of hooks."""

from __future__ import annotations

import dataclasses
import json
import logging

from connector import Phase, Resource, hookimpl

name = "Synthetic connector {index}"
task_type_name = "{task_type}"
task_type_version = 0

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the task template's custom fields may set."""

    greeting: str = "hello"
    repeat: int = 1


@hookimpl
def do(task_template, inputs):
    """Echo the inputs back, greeted."""
    settings = Settings(**task_template.custom)
    logger.debug("%s: %d inputs", task_type_name, len(inputs))
    message = json.dumps({{"greeting": settings.greeting * settings.repeat, "inputs": dict(inputs)}})
    return Resource(phase=Phase.SUCCEEDED, message=message)
'''

# (b) What any consumer of the entry points pays at least: the interpreter, importlib.metadata,
# and a scan of every distribution's entry_points.txt. The list is materialized.
BARE_SCAN = (
    "from importlib.metadata import entry_points\n"
    "eps = list(entry_points(group='connector'))\n"
    "print(len(eps))\n"
)

# (c) The approach the design replaces: every plugin imported at startup, as pluggy does it.
EAGER = (
    "import pluggy\n"
    "from connector import hookspecs\n"
    "pm = pluggy.PluginManager('connector')\n"
    "pm.add_hookspecs(hookspecs)\n"
    "print(pm.load_setuptools_entrypoints('connector'))\n"
)


def _synthetic_wheels(count: int, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    wheels = []
    for index in range(count):
        package = f"connector_synth_{index:04d}"
        task_type = f"synth{index:04d}"
        wheels.append(
            build_wheel(
                directory,
                f"connector-synth-{index:04d}",
                "1.0.0",
                {f"{package}/__init__.py": PLUGIN_MODULE.format(index=index, task_type=task_type)},
                entry_points={"connector": {task_type: package}},
                requires=("connector-core",),
            )
        )
    return wheels


def _populate(count: int) -> Callable[[BenchVenv], None]:
    def populate(venv: BenchVenv) -> None:
        if count == 0:
            return
        with tempfile.TemporaryDirectory(dir=WORK) as tmp:
            wheels = _synthetic_wheels(count, Path(tmp))
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text("\n".join(str(w) for w in wheels) + "\n")
            log(f"pip-installing {count} synthetic connector wheels in one pip command (slow once)")
            venv.pip("install", "--no-deps", "--no-index", "-r", str(requirements))

    return populate


def _stamp(count: int) -> str:
    template = hashlib.sha256(PLUGIN_MODULE.encode()).hexdigest()[:12]
    return f"synthetic connectors: {count}, template {template}\n"


def _commands(venv: BenchVenv) -> dict[str, tuple[list[str], dict[str, str]]]:
    # The discovery cache goes under bench/.work, not the user's cache directory.
    env = venv.environ({"CONNECTOR_HOME": str(CACHE_HOME)})
    no_cache = {**env, "CONNECTOR_DISCOVERY_CACHE": "0"}
    python = str(venv.python)
    connector = str(venv.bin / "connector")
    return {
        "python -c pass": ([python, "-c", "pass"], env),
        "import connector": ([python, "-c", "import connector"], env),
        "connector --help": ([connector, "--help"], env),
        "bare scan": ([python, "-c", BARE_SCAN], env),
        "list --json": ([connector, "list", "--json"], env),
        "list, cache off": ([connector, "list", "--json"], no_cache),
        "eager pluggy": ([python, "-c", EAGER], env),
    }


def _warm_cache(commands: dict[str, tuple[list[str], dict[str, str]]]) -> None:
    """Run `connector list` until its discovery cache is written, so "list --json" measures a hit.

    A cache is not written while the newest metadata is under 2 s old (as right after an install),
    hence the pause.
    """
    args, env = commands["list --json"]
    time.sleep(2.1)
    run_once(args, env)  # writes the cache (a miss)
    if not list(CACHE_HOME.glob("cache/discovery-*.json")):
        raise SystemExit(f"connector list wrote no discovery cache under {CACHE_HOME}")


def _check_outputs(commands: dict[str, tuple[list[str], dict[str, str]]], count: int) -> None:
    """One unmeasured run of each command, which also warms the file cache, checking they did the work."""
    for name, (args, env) in commands.items():
        _, out = run_once(args, env)
        if name.startswith("list"):
            entries = json.loads(out)
            states = {e["state"] for e in entries}
            if len(entries) != count or states - {"available"}:
                raise SystemExit(
                    f"list --json returned {len(entries)} entries in states {states}, expected {count}"
                )
        elif name in ("bare scan", "eager pluggy") and int(out) != count:
            raise SystemExit(f"{name} found {out.strip()} entry points, expected {count}")


def main(argv: list[str] | None = None) -> None:
    """Build (or reuse) the virtualenvs, measure, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command and N (median)")
    parser.add_argument("--sizes", default="0,100,1000", help="numbers of synthetic connectors")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the virtualenvs")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    WORK.mkdir(parents=True, exist_ok=True)
    results = {}
    for count in sizes:
        venv = BenchVenv(f"discovery-n{count}")
        if args.rebuild and venv.path.exists():
            shutil.rmtree(venv.path)
        venv.ensure(_stamp(count), _populate(count))
        commands = _commands(venv)
        log(f"N={count}: warming up and checking outputs")
        _check_outputs(commands, count)
        _warm_cache(commands)
        log(f"N={count}: measuring {args.runs} fresh processes per command")
        results[count] = median_times(commands, args.runs)

    names = list(next(iter(results.values())))
    rows = []
    for count, medians in results.items():
        rows.append(
            [
                str(count),
                *(ms(medians[name]) for name in names),
                f"{medians['list --json'] / medians['bare scan']:.2f}x",
                f"{medians['list, cache off'] / medians['bare scan']:.2f}x",
                f"{medians['eager pluggy'] / medians['list --json']:.2f}x",
            ]
        )
    print(f"Discovery: median of {args.runs} fresh processes per cell. {machine_notes()}")
    print()
    print(table(["N", *names, "list/bare", "list cache off/bare", "eager/list"], rows))
    if 1000 not in results:
        print("\nThe targets are set at N=1000; add it to --sizes to check them.")
        return
    medians = results[1000]
    list_vs_bare = medians["list --json"] / medians["bare scan"]
    eager_vs_list = medians["eager pluggy"] / medians["list --json"]
    verdict = "met" if list_vs_bare <= 2 and eager_vs_list >= 3 else "NOT met"
    print()
    print(
        f"Target at N=1000 (list within 2x of bare scan, eager at least 3x list): {verdict} "
        f"(list/bare {list_vs_bare:.2f}x, eager/list {eager_vs_list:.2f}x)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
