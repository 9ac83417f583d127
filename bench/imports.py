"""Where ``connector serve``'s cold start goes: its imports before the port is bound, by group (issue 13).

``bench/service.py`` measures the cold start, process start to the first ListAgents answer, against
a bare ``grpc.aio`` server; the bare server's time is nearly all the Python start and its imports.
This script splits ``connector serve``'s imports into the bare server's own (asyncio, grpc, the
flyteidl v1 stubs) and what the service adds on top of them, in the order it imports them: the
command line (click and ``connector.cli``), the model and settings, the flyteidl2 stubs (the second
protocol), the registry and signing, the rest of the service, and uvloop. Each group is timed in
the same fresh process after the groups before it (so a module two groups share counts once, in the
first), in the service's virtualenv (``bench/.work/service-pyX.Y``, kept up to date by
``bench/service.py``'s builder); medians of ``--runs`` processes.

Run: ``python bench/imports.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from _common import log, machine_notes, table
from service import service_venv

BARE = "the bare server's imports"
#: (group, modules), in the order ``connector serve`` imports them before binding its port.
GROUPS: list[tuple[str, list[str]]] = [
    (BARE, ["asyncio", "grpc", "grpc.aio", "flyteidl.admin.agent_pb2", "flyteidl.service.agent_pb2_grpc"]),
    ("click and connector.cli", ["click", "connector.cli"]),
    ("the model and settings (connector.cli._serve)", ["connector._model", "connector.cli._serve"]),
    ("the flyteidl2 stubs", ["flyteidl.service.agent_pb2", "flyteidl2.connector.service_pb2"]),
    ("the registry and signing", ["connector.registry._registry", "connector.registry._signing"]),
    ("the rest of connector.server", ["connector.server._service"]),
    ("uvloop", ["uvloop"]),
]

_TIMER = """
import importlib, json, sys, time
groups = json.loads(sys.argv[1])
spent = []
for modules in groups:
    began = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    spent.append(time.perf_counter() - began)
print(json.dumps(spent))
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per figure (median)")
    args = parser.parse_args(argv)
    venv = service_venv(rebuild=False)
    environ = venv.environ()
    groups = json.dumps([modules for _, modules in GROUPS])
    starts: list[float] = []
    runs: list[list[float]] = []
    log(f"{args.runs} fresh processes of each kind")
    for _ in range(args.runs):
        began = time.perf_counter()
        subprocess.run([str(venv.python), "-c", "pass"], env=environ, cwd=venv.bin, check=True)
        starts.append(time.perf_counter() - began)
        done = subprocess.run(
            [str(venv.python), "-c", _TIMER, groups],
            env=environ,
            cwd=venv.bin,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    medians = [statistics.median(run[index] for run in runs) * 1000 for index in range(len(GROUPS))]
    start_ms = statistics.median(starts) * 1000
    bare_ms = start_ms + medians[0]
    added = sum(medians[1:])
    rows = [["Python's own start (python -c pass)", f"{start_ms:.1f} ms", ""]]
    for (name, _), spent in zip(GROUPS, medians, strict=True):
        share = "" if name == BARE else f"{spent / added:.0%} of what is added"
        rows.append([name, f"{spent:.1f} ms", share])
    rows.append(["start and the bare server's imports", f"{bare_ms:.1f} ms", "1.00x"])
    ours_ms = bare_ms + added
    rows.append(["start and connector serve's imports", f"{ours_ms:.1f} ms", f"{ours_ms / bare_ms:.2f}x"])
    print(f"\n{machine_notes()}\n")
    print(table(["imports before the port is bound", "time (median)", ""], rows))
    print(
        "\nThe ratio counts imports only: the cold start of bench/service.py also counts each server's"
        " start and its first ListAgents answer."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
