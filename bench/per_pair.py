"""The project's own CPU per CreateTask+GetTask pair in process, before issue 13 and now, in one run.

Issue 13 asks for half the per-call Python. ``bench/service.py --in-process-only`` prints today's
figure alone, and it moves with the machine (the same code measured 57 µs here and 108 µs on another
machine of the same kind): a figure from an earlier day cannot be its reference. This script measures
both sides in the same run, interleaved: the handlers of this checkout's ``core/src`` and those of
the core at ``--before`` (by default ec597d9, the first commit of issue 13, before any of its per-call
work), each against the bare canned servicer of the same loop, in fresh processes of this
interpreter. The loop is ``bench/instructions.py``'s (the no-op async connector registered in
process, metrics on, metas signed, requests parsed and answers serialized), timed with
``time.process_time`` after 200 warm-up pairs; medians of ``--runs`` rounds.

Run: ``python bench/per_pair.py [--runs N] [--pairs N] [--before REV]`` from a virtualenv with the
core's dependencies (CONTRIBUTING's development virtualenv). The older core is extracted once with
``git archive`` under ``bench/.work/``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

from _common import ROOT, WORK, load_average, log, machine_notes, source_note, table
from instructions import LOOP_MODE, loop_environ

#: The first commit of issue 13: admission hooks only, none of the per-call work.
BEFORE = "ec597d9"
TARGET_US = 50.0
_WARM_UP_PAIRS = 200
_INSTRUCTIONS = Path(__file__).resolve().parent / "instructions.py"


def core_at(revision: str) -> Path:
    """``core/src`` as it was at ``revision``, extracted once under ``bench/.work``."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = WORK / f"core-{commit[:12]}"
    if not target.is_dir():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "core/src"], capture_output=True, check=True
        ).stdout
        # Extracted beside it and renamed: an interrupted run leaves no half tree behind the name.
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        partial.rename(target)
    return target / "core" / "src"


def cpu_per_pair(core: Path, which: str, pairs: int) -> float:
    """CPU seconds per pair of ``which`` (``ours`` or ``bare``), ``core`` on the path, in a fresh process."""
    command = [sys.executable, str(_INSTRUCTIONS), LOOP_MODE, str(pairs), which, str(_WARM_UP_PAIRS)]
    done = subprocess.run(command, env=loop_environ(core), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the loop with {core} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1]) / pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="interleaved rounds (medians are printed)")
    parser.add_argument("--pairs", type=int, default=3000, help="timed pairs per process")
    parser.add_argument("--before", default=BEFORE, help="the commit whose core is the reference")
    args = parser.parse_args(argv)
    cores = {"before": core_at(args.before), "now": ROOT / "core" / "src"}
    started_load = load_average()
    figures: dict[tuple[str, str], list[float]] = {
        (side, which): [] for side in cores for which in ("ours", "bare")
    }
    for round_number in range(1, args.runs + 1):
        # Alternate which side goes first, so a drift of the machine's load favours neither.
        order = list(cores.items()) if round_number % 2 else list(cores.items())[::-1]
        for side, core in order:
            for which in ("ours", "bare"):
                figures[(side, which)].append(cpu_per_pair(core, which, args.pairs) * 1e6)
        log(f"round {round_number}/{args.runs} done")
    median = {key: statistics.median(values) for key, values in figures.items()}
    own = {side: median[(side, "ours")] - median[(side, "bare")] for side in cores}
    ratio = own["now"] / own["before"]
    print(
        f"In process, CPU per pair ({machine_notes()} at the end, {started_load} at the start; "
        f"{source_note()}; median of {args.runs} interleaved rounds of {args.pairs} pairs):"
    )
    print()
    print(
        table(
            [
                "CreateTask+GetTask pair, parse and serialize included",
                f"before ({args.before})",
                "now",
                "now / before",
            ],
            [
                (
                    "connector serve's handlers",
                    f"{median[('before', 'ours')]:.1f} us",
                    f"{median[('now', 'ours')]:.1f} us",
                    f"{median[('now', 'ours')] / median[('before', 'ours')]:.2f}x",
                ),
                (
                    "bare canned servicer, same loop",
                    f"{median[('before', 'bare')]:.1f} us",
                    f"{median[('now', 'bare')]:.1f} us",
                    "",
                ),
                (
                    "the project's own Python per pair (difference)",
                    f"{own['before']:.1f} us",
                    f"{own['now']:.1f} us",
                    f"{ratio:.2f}x",
                ),
            ],
        )
    )
    print()
    verdicts = [
        (ratio <= 0.5, f"half the per-call Python: {ratio:.2f}x of before"),
        (
            own["now"] <= TARGET_US,
            f"project CPU per pair in process <= {TARGET_US:.0f} us: {own['now']:.1f} us",
        ),
    ]
    for met, text in verdicts:
        print(f"{'met   ' if met else 'MISSED'} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
