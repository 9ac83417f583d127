"""Python bytecodes per CreateTask+GetTask pair in a *served* process, counted, not timed (issues 11 and 13).

``bench/instructions.py`` and ``bench/service.py --in-process-only`` call the handlers directly, so
they cannot see what grpc.aio's server loop runs around them. This script starts each server as
the other benchmarks do, with a tracer loaded at start-up (a ``sitecustomize`` on its
``PYTHONPATH``), drives warm-up pairs, then counts every bytecode the server's threads run while
``--pairs`` pairs are driven from one client thread (``SIGUSR1`` starts the count, ``SIGUSR2``
writes it out). The count does not depend on the machine's load, only on the code that runs.

- default: ``connector serve`` with ``bench/service.py``'s no-op connector against its bare
  grpc.aio server (canned answers);
- ``--bridged``: ``connector serve`` bridging flytekit's sensor against ``pyflyte serve
  connector``, as ``bench/bridges.py`` runs them.

For each server: bytecodes per pair, then the functions with the largest difference between the
first server and the other (``--top N``).

Run: ``python bench/served_python.py [--bridged] [--pairs N] [--top N]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, log, source_note, table
from service import Target, measure_pairs, service_targets, service_venv, start, wait_until_idle

# Loaded by the server at start-up; counts per function (file:line:name) while on.
TRACER = """\
import collections, json, os, signal, sys, threading

_counts = collections.Counter()


def _trace(frame, event, arg):
    frame.f_trace_opcodes = True
    if event == "opcode":
        code = frame.f_code
        _counts[f"{code.co_filename}:{code.co_firstlineno}:{code.co_name}"] += 1
    return _trace


def _start(signum, frame):
    _counts.clear()
    threading.settrace(_trace)
    sys.settrace(_trace)
    while frame is not None:  # the frames already running on this thread (the event loop's)
        frame.f_trace = _trace
        frame = frame.f_back


def _stop(signum, frame):
    sys.settrace(None)
    threading.settrace(None)
    done = os.environ["SERVED_PYTHON_OUT"]
    with open(done + ".part", "w") as out:
        json.dump(dict(_counts), out)
    os.replace(done + ".part", done)  # whole, or not there


signal.signal(signal.SIGUSR1, _start)
signal.signal(signal.SIGUSR2, _stop)
"""


def counted(
    target: Target, pairs: int, folder: Path, requests: dict[str, Callable[..., Any]]
) -> dict[str, float]:
    """Bytecodes per pair of each function ``target``'s server runs while ``pairs`` pairs are driven."""
    out = folder / f"{target.name.replace(' ', '-')}.json"
    out.unlink(missing_ok=True)
    env = {**target.env, "PYTHONPATH": str(folder), "SERVED_PYTHON_OUT": str(out)}
    running, _ = start(Target(target.name, target.command, env, target.cwd, target.protocol))
    try:
        pid = running.process.pid
        measure_pairs(running.address, 1, 50, pid, **requests)  # warm: first-use paths, caches
        wait_until_idle(pid)
        os.kill(pid, signal.SIGUSR1)
        time.sleep(0.5)
        measure_pairs(running.address, 1, pairs, pid, **requests)
        os.kill(pid, signal.SIGUSR2)
        for _ in range(100):
            if out.exists():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{target.name} wrote no count; see {running.log_path}")
        counts: dict[str, int] = json.loads(out.read_text())
    finally:
        running.stop()
    # measure_pairs drives 20 warm-up pairs of its own on its fresh channel first.
    return {name: count / (pairs + 20) for name, count in counts.items()}


def _short(name: str) -> str:
    path, _line, function = name.rsplit(":", 2)
    return f"{'/'.join(Path(path).parts[-2:])}:{function}"


def servers(bridged: bool) -> tuple[list[Target], dict[str, Callable[..., Any]]]:
    """The two servers to count, first ``connector serve``, and the requests to drive them with."""
    if bridged:
        import bridges

        bin_folder, _ = bridges.bridges_venv(False)
        ours, _, theirs = bridges.targets(bin_folder)
        create, get = bridges.sensor_requests(bin_folder)
        return [ours, theirs], {"create": create, "get": get}
    ours, bare = service_targets(service_venv(False))
    return [ours, bare], {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridged", action="store_true", help="flytekit's sensor, bridged, against pyflyte")
    parser.add_argument("--pairs", type=int, default=200, help="pairs counted per server")
    parser.add_argument("--top", type=int, default=15, help="functions listed by their difference")
    args = parser.parse_args(argv)
    targets, requests = servers(args.bridged)
    per_pair: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="served-python-") as folder:
        (Path(folder) / "sitecustomize.py").write_text(TRACER)
        for target in targets:
            log(f"counting {target.name} over {args.pairs} pairs")
            per_pair[target.name] = counted(target, args.pairs, Path(folder), requests)
    ours, other = (per_pair[t.name] for t in targets)
    print(
        f"Python bytecodes per CreateTask+GetTask pair, the whole server process, one client thread "
        f"({source_note()}; {args.pairs} pairs; load average {load_average()}, which the counts do not "
        "depend on):\n"
    )
    totals = [(name, f"{sum(counts.values()):,.0f}") for name, counts in per_pair.items()]
    print(table(["server", "bytecodes per pair"], totals))
    by_function: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for index, counts in enumerate((ours, other)):
        for name, count in counts.items():
            by_function[_short(name)][index] += count
    largest = sorted(by_function.items(), key=lambda item: -abs(item[1][0] - item[1][1]))[: args.top]
    first, second = targets[0].name, targets[1].name
    print(f"\nThe {args.top} functions whose counts differ most ({first} minus {second}):\n")
    rows = [(name, f"{a:,.0f}", f"{b:,.0f}", f"{a - b:+,.0f}") for name, (a, b) in largest]
    print(table(["function", first, second, "difference"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
