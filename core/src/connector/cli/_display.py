"""How ``connector run`` shows a run: nothing but notes (``--json``), plain lines, or a live panel."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, NoReturn

import click

from .._model import Phase, TaskCategory, TaskLog
from ..runner._options import RunEvent, RunEventKind

_PHASE_STYLES = {
    Phase.SUCCEEDED: "bold green",
    Phase.FAILED: "bold red",
    Phase.RETRYABLE_FAILED: "bold red",
    Phase.ABORTED: "bold yellow",
    Phase.RUNNING: "bold cyan",
}


class Display:
    """Shows a run's events: the base shows nothing (``--json``) but notes on stderr."""

    def __init__(self, category: TaskCategory) -> None:
        self.category = category
        self.started = time.monotonic()

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle(self, event: RunEvent) -> None:
        """Take one event of the run; every display shows a journal failure as a warning on stderr."""
        if event.kind is RunEventKind.JOURNAL_FAILED:
            self.warn(event.message)

    def note(self, text: str) -> None:
        """Say something outside the run's own events (a signal was received)."""
        click.echo(text, err=True)

    def warn(self, text: str) -> None:
        """Print one warning line on stderr."""
        click.echo(f"Warning: {text}", err=True)

    def stop(self) -> None:
        """End the display (the live one leaves its last frame)."""


class PlainDisplay(Display):
    """One line on stderr per change: for logs, pipes and CI."""

    def __init__(self, category: TaskCategory) -> None:
        super().__init__(category)
        self._last: tuple[Phase, str] | None = None
        self._links: set[tuple[str, str]] = set()

    def _line(self, elapsed: float, text: str) -> None:
        click.echo(f"[{elapsed:7.2f}s] {text}", err=True)

    def handle(self, event: RunEvent) -> None:
        super().handle(event)
        if event.kind is RunEventKind.STARTED:
            self._line(event.elapsed, f"{event.category}: starting")
        elif event.kind is RunEventKind.CREATED:
            what = "resumed" if event.message == "resumed" else "created"
            self._line(event.elapsed, f"job {event.job_id} {what}")
        elif event.kind is RunEventKind.POLLED and event.resource is not None:
            resource = event.resource
            if self._last != (resource.phase, resource.message):
                self._last = (resource.phase, resource.message)
                self._line(event.elapsed, f"{resource.phase.name}  {resource.message}".rstrip())
            for link in resource.log_links:
                if (link.name, link.uri) not in self._links:
                    self._links.add((link.name, link.uri))
                    self._line(event.elapsed, f"{link.name or 'log'}: {link.uri}")
        elif (
            event.kind in (RunEventKind.CANCELLING, RunEventKind.TIMEOUT, RunEventKind.DELETE_FAILED)
            and event.message
        ):
            self._line(event.elapsed, event.message)
        elif event.kind is RunEventKind.DELETED:
            self._line(event.elapsed, f"job {event.job_id} deleted")


class LiveDisplay(Display):
    """A rich live panel on the terminal (stderr): phase, message, log links, elapsed time."""

    def __init__(self, category: TaskCategory) -> None:
        super().__init__(category)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.job_id: str | None = None
        self.phase: Phase | None = None
        self.message = "starting"
        self.links: list[TaskLog] = []
        self.polls = 0
        self.status: list[str] = []
        self.finished_at: float | None = None
        self._lock = threading.Lock()
        self.live = Live(
            console=self.console, get_renderable=self._render, refresh_per_second=4, transient=False
        )
        _quiet_terminal()
        self.live.start()

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            end = self.finished_at or time.monotonic()
            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column(overflow="fold")
            title = Text(str(self.category), style="bold")
            if self.job_id:
                title.append(f"  job {self.job_id}", style="dim")
            grid.add_row("Task", title)
            phase = self.phase.name if self.phase is not None else "CREATING"
            grid.add_row(
                "Phase", Text(phase, style=_PHASE_STYLES.get(self.phase, "bold")) if self.phase else phase
            )
            grid.add_row("Message", Text(self.message or "-"))
            for link in self.links:
                grid.add_row(
                    "Log",
                    Text(f"{link.name}: {link.uri}" if link.name else link.uri, style=f"link {link.uri}"),
                )
            grid.add_row(
                "Elapsed", f"{end - self.started:.1f}s ({self.polls} poll{'s' if self.polls != 1 else ''})"
            )
            for n, line in enumerate(self.status):
                grid.add_row("Status" if n == 0 else "", Text(line, style="bold yellow"))
            return grid

    def handle(self, event: RunEvent) -> None:
        super().handle(event)
        with self._lock:
            self.job_id = event.job_id or self.job_id
            if event.kind is RunEventKind.CREATED:
                self.message = "resumed" if event.message == "resumed" else "job created"
            elif event.kind is RunEventKind.POLLED and event.resource is not None:
                self.polls += 1
                self.phase = event.resource.phase
                self.message = event.resource.message
                self.links = list(event.resource.log_links)
            elif event.kind in (RunEventKind.TIMEOUT, RunEventKind.DELETE_FAILED) or (
                event.kind is RunEventKind.CANCELLING and not self.status
            ):
                self.status.append(event.message)
            elif event.kind is RunEventKind.DELETED:
                self.status.append("job deleted")
            elif event.kind is RunEventKind.FINISHED:
                self.finished_at = time.monotonic()
        self.live.refresh()

    def note(self, text: str) -> None:
        with self._lock:
            self.status.append(text)
        self.live.refresh()

    def warn(self, text: str) -> None:
        from rich.text import Text

        # Printed above the panel, so it stays once the panel is redrawn.
        self.console.print(Text(f"Warning: {text}", style="bold yellow"))

    def stop(self) -> None:
        self.live.stop()


def _quiet_terminal() -> None:
    """Stop stderr's terminal echoing typed keys until the process exits.

    The terminal echoes Ctrl-C as ``^C`` where the cursor is: at the end of the live panel's last
    line, which at narrow widths fills the line, so the echo wraps and the next redraw starts one
    line low, showing the panel's first line twice (issue 12). Echo comes back at exit, after the
    last line is printed, so a late Ctrl-C cannot land in it either.
    """
    try:
        import termios
    except ImportError:  # Windows: no echo of ^C to undo
        return
    import atexit

    fd = sys.stderr.fileno()
    try:
        if not _in_foreground(fd):
            return
        settings = termios.tcgetattr(fd)
        cleared = settings[3] & (termios.ECHO | getattr(termios, "ECHOCTL", 0))
        if not cleared:
            return
        settings[3] &= ~cleared
        termios.tcsetattr(fd, termios.TCSANOW, settings)
    except (termios.error, OSError):
        return

    def restore() -> None:
        with suppress(termios.error, OSError):  # the terminal is gone: nothing to restore
            if not _in_foreground(fd):  # put in the background meanwhile (Ctrl-Z, bg)
                return
            # The settings as they are now, with only this process's bits back: a shell or `stty`
            # may have changed others since (issue 12).
            now = termios.tcgetattr(fd)
            now[3] |= cleared
            termios.tcsetattr(fd, termios.TCSANOW, now)

    _AT_EXIT.append(restore)
    atexit.register(restore)


def _in_foreground(fd: int) -> bool:
    """Whether this process's group owns the terminal: changing it from the background (``run ... &``)
    sends SIGTTOU, which stops the process (issue 12)."""
    return os.tcgetpgrp(fd) == os.getpgrp()


#: What must run even when the process ends with ``os._exit`` (the terminal's echo coming back).
_AT_EXIT: list[Callable[[], None]] = []


def exit_now(code: int) -> NoReturn:
    """Flush, give the terminal back, and end the process at once (threads still running or not)."""
    sys.stdout.flush()
    sys.stderr.flush()
    for undo in _AT_EXIT:
        undo()
    os._exit(code)


def make_display(category: TaskCategory, *, as_json: bool) -> Display:
    """The display for this terminal: none with ``--json``, live on a TTY, plain lines otherwise."""
    if as_json:
        return Display(category)
    if sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
        return LiveDisplay(category)
    return PlainDisplay(category)
