"""Record the terminal sessions shown in docs/running.md from the real `connector` command.

Run from the repository root: ``python -m tests.runner.record_running_doc`` (needs tmux). It builds
connector-core and the test suite's connector-fakejobs wheel, installs both into a throwaway
virtualenv, runs each session below (plain lines through a pipe; the live display inside a tmux
pane, captured as the terminal shows it) and rewrites the blocks between
``<!-- session: NAME -->`` and ``<!-- /session -->`` in docs/running.md.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from connector import JobJournal, JobState
from connector.runner._journal import JOURNAL_FILE
from tests.runner.conftest import ENTRY_POINTS, PLUGIN_SOURCE
from tests.support.venvs import ROOT, Venv, build_local_wheel
from tests.support.wheels import build_wheel

DOC = ROOT / "docs" / "running.md"
RUN = "connector run fakejob --custom root=jobs"
TMUX_SOCKET = "connector-record-doc"


@dataclasses.dataclass(frozen=True)
class Session:
    """One recorded block: shell commands, and whether they run in a terminal (tmux) or a pipe."""

    name: str
    commands: tuple[str, ...]
    terminal: bool = False
    #: For terminal sessions: capture the pane once this returns true (else when the command ends).
    capture_when: str | None = None
    #: Keys sent to the pane once ``capture_when`` holds, before waiting for the command to end.
    keys: str | None = None
    #: Before each command: a shell snippet run first and not shown (e.g. to release a job).
    setup: str | None = None


SESSIONS = (
    Session(
        "plain",
        (f"{RUN} --custom polls=4 --input table=sales --input limit=10 --poll-interval 0.2",),
    ),
    Session("json", (f"{RUN} --custom polls=2 --input limit=10 --poll-interval 0.2 --json",)),
    Session(
        "failed",
        (
            f"{RUN} --custom final=FAILED --custom 'message=quota exceeded' --poll-interval 0.2; "
            'echo "exit $?"',
        ),
    ),
    Session(
        "live-running",
        (f"{RUN} --custom polls=8 --input table=sales --poll-interval 0.5 --max-poll-interval 1",),
        True,
        "polls=3",
    ),
    Session("live-done", (f"{RUN} --custom polls=3 --input table=sales --poll-interval 0.2",), True),
    Session(
        "live-interrupted",
        (f'{RUN} --custom wait_for_release=true --poll-interval 0.5; echo "exit $?"',),
        True,
        "polls=2",
        "C-c",
    ),
    Session("jobs-list", ("connector jobs list",)),
    Session(
        "killed-and-resumed",
        (
            f"{RUN} --custom wait_for_release=true --poll-interval 0.2 & sleep 2; kill -KILL $!",
            "connector jobs list --state running",
            "touch jobs/release  # the fake job system finishes the job",
            "connector jobs resume {running} --poll-interval 0.2",
        ),
    ),
)


def _tmux(*args: str) -> str:
    done = subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True, check=True)
    return done.stdout


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _polls(work: Path) -> int:
    log = work / "jobs" / "events.log"
    if not log.exists():
        return 0
    counts = [int(line.split()[2]) for line in log.read_text().splitlines() if line.startswith("get ")]
    return max(counts, default=0)


def _record_terminal(session: Session, work: Path, env: dict[str, str]) -> str:
    (command,) = session.commands
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k in ("PATH", "CONNECTOR_HOME"))
    shell = (
        f"cd {shlex.quote(str(work))} && export {exports} TERM=xterm-256color && clear && {command}; "
        "echo '<<done>>'"
    )
    (work / "jobs" / "events.log").unlink(missing_ok=True)  # count this session's polls only
    _tmux(
        "new-session",
        "-d",
        "-s",
        session.name,
        "-x",
        "100",
        "-y",
        "16",
        "bash",
        "--norc",
        "-c",
        shell + "; sleep 600",
    )
    try:
        if session.capture_when:
            wanted = int(session.capture_when.split("=")[1])
            _wait(lambda: _polls(work) >= wanted, f"{session.name}: poll {wanted}")
            time.sleep(0.4)  # let the display draw the poll: this is a picture, not a test
        screen = _tmux("capture-pane", "-p", "-t", session.name)
        if session.keys:
            _tmux("send-keys", "-t", session.name, session.keys)
        # Always let the command end: a run killed with its pane would leave its job in the journal.
        _wait(lambda: "<<done>>" in _tmux("capture-pane", "-p", "-t", session.name), f"{session.name}: end")
        if session.keys or not session.capture_when:
            screen = _tmux("capture-pane", "-p", "-t", session.name)
    finally:
        _tmux("kill-session", "-t", session.name)
    lines = [line.rstrip() for line in screen.replace("<<done>>", "").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join([f"$ {command.split('; echo')[0]}", *lines])


def _record_plain(session: Session, work: Path, env: dict[str, str]) -> str:
    shown = []
    for command in session.commands:
        if "{running}" in command:  # the id of the job the killed run left behind
            journal = JobJournal(work / env["CONNECTOR_HOME"] / JOURNAL_FILE)
            (record,) = journal.list(state=JobState.RUNNING)
            command = command.replace("{running}", record.id)
        done = subprocess.run(
            ["bash", "--norc", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )
        shown.append(f"$ {command}")
        shown.append((done.stderr + done.stdout).rstrip("\n"))
    return "\n".join(line for line in shown if line)


def record() -> dict[str, str]:
    """Run every session in a fresh venv and return its text by name."""
    if shutil.which("tmux") is None:
        raise SystemExit("recording the live display needs tmux (apt-get install tmux)")
    with tempfile.TemporaryDirectory(prefix="connector-doc-") as scratch:
        base = Path(scratch)
        wheels = base / "wheels"
        wheels.mkdir()
        core = build_local_wheel(ROOT / "core", wheels)
        plugin = build_wheel(
            wheels,
            "connector-fakejobs",
            "1.0",
            {"connector_fakejobs/__init__.py": PLUGIN_SOURCE.read_text()},
            entry_points=ENTRY_POINTS,
        )
        venv = Venv(base / "venv")
        venv.install(core, plugin)
        work = base / "demo"
        (work / "jobs").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
        env.pop("PYTHONPATH", None)
        env["PATH"] = f"{venv.bin}{os.pathsep}{env['PATH']}"
        env["CONNECTOR_HOME"] = "home"
        env["COLUMNS"] = "100"
        texts = {}
        for session in SESSIONS:
            recorder = _record_terminal if session.terminal else _record_plain
            texts[session.name] = recorder(session, work, env)
            print(f"recorded {session.name}", file=sys.stderr)
        return texts


def rewrite(doc: Path, texts: dict[str, str]) -> str:
    """The doc with each session block replaced by its recording."""
    text = doc.read_text()
    for name, recorded in texts.items():
        pattern = re.compile(
            rf"(<!-- session: {re.escape(name)} -->\n```console\n)"
            r"(?:(?!<!-- /session -->).)*?(```\n<!-- /session -->)",
            re.S,
        )
        if not pattern.search(text):
            raise SystemExit(f"{doc}: no block for session {name!r}")
        text = pattern.sub(lambda m, r=recorded: m.group(1) + r + "\n" + m.group(2), text)
    return text


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    DOC.write_text(rewrite(DOC, record()))
    print(f"rewrote {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
