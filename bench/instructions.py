"""Instructions per CreateTask+GetTask pair in process: the service's own work, counted, not timed (issue 13).

The CPU time per pair that ``bench/service.py --in-process-only`` prints moves by a third with the
load of a shared machine. The number of instructions the CPU executes for the same loop does not:
this script counts them with valgrind's callgrind, for the service's handlers and for a bare
servicer returning canned answers, each as the difference between a process that runs ``--pairs``
pairs and one that runs none (start-up and imports cancel out). The handlers are those
``connector serve`` runs by default (metrics on, metas signed), with the no-op async connector of
``bench/service.py`` registered in process.

Run: ``python bench/instructions.py [--pairs N] [--core PATH]`` (valgrind must be installed:
``apt-get install valgrind``). ``--core`` measures another checkout's ``core/src`` (for before/after
figures: ``git worktree add /tmp/before <commit>``, then ``--core /tmp/before/core/src``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CORE, load_average, source_note, table

LOOP_MODE = "loop"


def run_pairs(pairs: int, which: str) -> float:
    """Run ``pairs`` pairs through the service's handlers (``ours``) or canned ones (``bare``).

    Returns the CPU seconds of the pairs alone (``bench/per_pair.py`` times them; this file counts
    the instructions of the whole process).
    """
    import dataclasses
    import time

    from flyteidl.admin import agent_pb2
    from service import create_request, get_request

    from connector import AsyncConnector, Phase, Resource, ResourceMeta
    from connector.registry._registry import ConnectorRegistry
    from connector.server import ConnectorService, ServiceOptions
    from connector.server._metrics import ServiceMetrics
    from connector.server._servicers import AsyncAgentServicer

    @dataclasses.dataclass
    class NoopJob(ResourceMeta):
        job_id: str

    class NoopConnector(AsyncConnector):
        task_type_name = "benchnoop"
        metadata_type = NoopJob

        async def create(self, task_template: Any, inputs: Any) -> NoopJob:
            return NoopJob(job_id=f"job-{inputs.get('x', 0)}")

        async def get(self, resource_meta: NoopJob) -> Resource:
            return Resource(phase=Phase.SUCCEEDED, outputs={"o": int(resource_meta.job_id[4:])})

        async def delete(self, resource_meta: NoopJob) -> None:
            return None

    class Context:
        def time_remaining(self) -> float:
            return 30.0

        async def abort(self, code: Any, details: str) -> None:
            raise RuntimeError(f"{code}: {details}")

    async def main() -> float:
        registry = ConnectorRegistry([])
        registry.register(NoopConnector())
        service = ConnectorService(registry, ServiceOptions(port=0))
        service.operations.metrics = ServiceMetrics(registry)
        ours = AsyncAgentServicer(service.operations, service.v1)
        context = Context()
        create_bytes = create_request(7).SerializeToString()
        created = await ours.CreateTask(agent_pb2.CreateTaskRequest.FromString(create_bytes), context)
        get_bytes = get_request(created.resource_meta).SerializeToString()
        got = await ours.GetTask(agent_pb2.GetTaskRequest.FromString(get_bytes), context)

        class Bare:
            async def CreateTask(self, request: Any, context: Any) -> Any:
                return created

            async def GetTask(self, request: Any, context: Any) -> Any:
                return got

        servicer: Any = ours if which == "ours" else Bare()
        began = time.process_time()
        for _ in range(pairs):
            answer = await servicer.CreateTask(agent_pb2.CreateTaskRequest.FromString(create_bytes), context)
            answer.SerializeToString()
            answer = await servicer.GetTask(agent_pb2.GetTaskRequest.FromString(get_bytes), context)
            answer.SerializeToString()
        return time.process_time() - began

    return asyncio.run(main())


def loop_environ(core: Path) -> dict[str, str]:
    """The environment of a ``LOOP_MODE`` process measuring the core at ``core`` (its ``core/src``)."""
    return {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": os.pathsep.join([str(core), str(Path(__file__).resolve().parent)]),
    }


def _count(core: Path, pairs: int, which: str) -> int:
    """Instructions of a whole process running ``pairs`` pairs (callgrind's total)."""
    env = loop_environ(core)
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    done = subprocess.run(
        [*valgrind, sys.executable, __file__, LOOP_MODE, str(pairs), which],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"the counted loop failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=2000, help="pairs in the counted process")
    parser.add_argument("--core", type=Path, default=CORE / "src", help="the core/src to measure")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    per_pair = {}
    for which in ("ours", "bare"):
        total = _count(args.core, args.pairs, which) - _count(args.core, 0, which)
        per_pair[which] = total / args.pairs
    print(f"{source_note()}; load average {load_average()} (instructions do not depend on it)")
    rows = [
        ("connector serve's handlers (AsyncAgentServicer)", f"{per_pair['ours']:,.0f}"),
        ("bare canned servicer, same loop", f"{per_pair['bare']:,.0f}"),
        ("the project's own work per pair (difference)", f"{per_pair['ours'] - per_pair['bare']:,.0f}"),
    ]
    print(table(["CreateTask+GetTask pair, in process", "instructions per pair"], rows))
    return 0


if __name__ == "__main__" and sys.argv[1:2] == [LOOP_MODE]:
    # loop PAIRS WHICH [WARM]: WARM untimed pairs first (bench/per_pair.py), then the timed ones.
    if sys.argv[4:5]:
        run_pairs(int(sys.argv[4]), sys.argv[3])
    print(run_pairs(int(sys.argv[2]), sys.argv[3]))
    sys.exit(0)

if __name__ == "__main__":
    sys.exit(main())
