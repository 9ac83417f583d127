"""`connector run`'s signal handling, in process: a late Ctrl-C is ignored, and nothing is left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector import JobState, RunEvent, RunEventKind, TaskCategory, prepare_run
from connector.cli._display import Display
from connector.cli._run import execute, signals_ignored
from connector.testing import registry_of
from tests.runner.fakejobs.connector_fakejobs import Echo


class InterruptedLate(Display):
    """A display that gets a SIGINT as the run finishes, or as it is stopped (the report comes next)."""

    def __init__(self, *, at: str, thread: threading.Thread | None) -> None:
        super().__init__(TaskCategory("echo"))
        self.at = at
        self.thread = thread

    def interrupt(self) -> None:
        if self.thread is None:
            os.kill(os.getpid(), signal.SIGINT)
        else:  # to a thread that does not block it, as the kernel may choose
            signal.pthread_kill(self.thread.ident or 0, signal.SIGINT)
            time.sleep(0.1)  # a bound for it to arrive: the handler runs in the main thread after

    def handle(self, event: RunEvent) -> None:
        if self.at == "finished" and event.kind is RunEventKind.FINISHED:
            self.interrupt()

    def stop(self) -> None:
        if self.at == "stop":
            self.interrupt()


@pytest.fixture
def other_thread() -> Iterator[threading.Thread]:
    """A thread that does not block SIGINT, as rich's refresh thread or a hook's worker."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("to", ["process", "thread"])
@pytest.mark.parametrize("at", ["finished", "stop"])
def test_a_ctrl_c_once_the_run_has_its_result_is_ignored(
    tmp_path: Path, at: str, to: str, other_thread: threading.Thread
) -> None:
    # Before issue 12 the event loop's handler was gone by then, and Python's raised
    # KeyboardInterrupt into click: "Aborted!" and exit 1 instead of the run's own exit code.
    run = prepare_run(registry_of(Echo()), "echo", output_prefix=str(tmp_path))
    display = InterruptedLate(at=at, thread=other_thread if to == "thread" else None)
    run.on_event = display.handle
    with signals_ignored():
        result = execute(run, display)
    assert (result.state, result.exit_code) == (JobState.SUCCEEDED, 0)


def test_a_ctrl_c_as_the_event_loop_closes_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_thread: threading.Thread
) -> None:
    # loop.close() put the default handlers back for those the loop had installed, and the main
    # thread's blocked SIGINT went to another thread: KeyboardInterrupt out of execute (review of
    # issue 12). The signal is sent to that thread the moment the loop has closed.
    loop_class = asyncio.unix_events._UnixSelectorEventLoop
    close = loop_class.close

    def close_then_interrupt(loop: Any) -> None:
        close(loop)
        signal.pthread_kill(other_thread.ident or 0, signal.SIGINT)
        time.sleep(0.1)  # a bound for the signal to arrive; the handler runs at the next bytecode

    monkeypatch.setattr(loop_class, "close", close_then_interrupt)
    run = prepare_run(registry_of(Echo()), "echo", output_prefix=str(tmp_path))
    with signals_ignored():
        result = execute(run, Display(TaskCategory("echo")))
    assert (result.state, result.exit_code) == (JobState.SUCCEEDED, 0)


def test_execute_puts_the_callers_handlers_back(tmp_path: Path) -> None:
    # It left SIGINT and SIGTERM ignored, which every child process then inherited (issue 12).
    def mine(signum: int, frame: object) -> None:
        raise AssertionError("not expected")

    saved = {sig: signal.signal(sig, mine) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        run = prepare_run(registry_of(Echo()), "echo", output_prefix=str(tmp_path))
        execute(run, Display(TaskCategory("echo")))
        assert {signal.getsignal(s) for s in saved} == {mine}
        with signals_ignored():
            assert {signal.getsignal(s) for s in saved} != {mine}
            # Ignored by a Python handler, not SIG_IGN: a process started meanwhile does not inherit it.
            child = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import signal; print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        assert {signal.getsignal(s) for s in saved} == {mine}
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert child.stdout == "True\n"
