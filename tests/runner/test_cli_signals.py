"""`connector run`'s signal handling once the run has its result, in process: a late Ctrl-C is ignored."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector import JobState, RunEvent, RunEventKind, TaskCategory, prepare_run
from connector.cli._run import Display, execute
from connector.testing import registry_of
from tests.runner.fakejobs.connector_fakejobs import Echo


@pytest.fixture(autouse=True)
def _signal_handlers() -> Iterator[None]:
    """`execute` leaves SIGINT and SIGTERM ignored (the command is about to exit): put them back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class InterruptedLate(Display):
    """A display that gets a SIGINT as the run finishes, or as it is stopped (the report comes next)."""

    def __init__(self, *, at: str) -> None:
        super().__init__(TaskCategory("echo"))
        self.at = at

    def handle(self, event: RunEvent) -> None:
        if self.at == "finished" and event.kind is RunEventKind.FINISHED:
            os.kill(os.getpid(), signal.SIGINT)

    def stop(self) -> None:
        if self.at == "stop":
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("at", ["finished", "stop"])
def test_a_ctrl_c_once_the_run_has_its_result_is_ignored(tmp_path: Path, at: str) -> None:
    # Before issue 12 the event loop's handler was gone by then, and Python's raised
    # KeyboardInterrupt into click: "Aborted!" and exit 1 instead of the run's own exit code.
    run = prepare_run(registry_of(Echo()), "echo", output_prefix=str(tmp_path))
    display = InterruptedLate(at=at)
    run.on_event = display.handle
    result = execute(run, display)
    assert (result.state, result.exit_code) == (JobState.SUCCEEDED, 0)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
