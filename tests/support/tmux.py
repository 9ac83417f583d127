"""tmux for the terminal tests: found on PATH or installed from Debian's archive, never skipped.

A test that drives a real terminal (``connector run``'s live display, Ctrl-C) runs its command in a
tmux pane of a chosen size and reads the screen with ``tmux capture-pane``. CI's fresh machine may
not have tmux: ``find_tmux`` installs it with ``apt-get install -y tmux`` (as root, or through
``sudo -n``), and fails the test loudly when it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest


def _apt_get(*args: str) -> list[str]:
    if os.geteuid() == 0:
        return ["apt-get", *args]
    return ["sudo", "-n", "apt-get", *args]


def find_tmux() -> str:
    """The tmux executable; installed with apt-get when missing. Fails the test when it cannot be had."""
    found = shutil.which("tmux")
    if found is not None:
        return found
    if shutil.which("apt-get") is None:
        pytest.fail("tmux is not installed and this machine has no apt-get to install it; install tmux")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = _apt_get("install", "-y", "--no-install-recommends", "tmux")
    done = subprocess.run(install, capture_output=True, text=True, env=env)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(_apt_get("update"), capture_output=True, text=True, env=env)
        done = subprocess.run(install, capture_output=True, text=True, env=env)
    found = shutil.which("tmux")
    if done.returncode != 0 or found is None:
        pytest.fail(f"tmux is not installed and `{' '.join(install)}` failed:\n{done.stdout}{done.stderr}")
    return found


# What a pane runs: the command as its child, as a shell would, and the child's exit status into a
# file. Like an interactive shell it ignores Ctrl-C itself; the child gets the default handling. (A
# pane whose own process ended by os._exit was at times never reaped by tmux 3.3a, which then
# reported it dead without a status.)
_LAUNCHER = """
import os, signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
done = subprocess.run(sys.argv[2:], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
with open(sys.argv[1] + ".tmp", "w") as status:
    status.write(str(done.returncode))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
"""


class Tmux:
    """A private tmux server (its own socket) holding one pane per session; ``close`` ends it."""

    def __init__(self, executable: str, env: Mapping[str, str], scratch: Path) -> None:
        self.executable = executable
        self.socket = f"connector-test-{uuid.uuid4().hex[:8]}"
        #: The server's environment: only this, so no COLUMNS or TMUX of the caller leaks in.
        self.env = dict(env)
        #: Where each pane's exit status is written.
        self.scratch = scratch

    def __call__(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [self.executable, "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self, name: str, command: Sequence[str], *, width: int, height: int) -> None:
        """Run ``command`` (no shell) in a new ``width`` x ``height`` pane that stays after it exits."""
        launcher = [sys.executable, "-c", _LAUNCHER, str(self.scratch / f"{name}.status"), *command]
        self(
            "new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), *launcher,
            ";", "set-option", "-t", name, "remain-on-exit", "on",
        )  # fmt: skip

    def keys(self, name: str, *keys: str) -> None:
        """Type ``keys`` (tmux key names such as ``C-c``); a pane whose command has ended ignores them."""
        self("send-keys", "-t", name, *keys, check=False)

    def screen(self, name: str) -> str:
        """The pane's text, its scrollback first, without trailing blanks or tmux's "Pane is dead" line."""
        text = self("capture-pane", "-p", "-J", "-S", "-", "-t", name)
        lines = [line.rstrip() for line in text.splitlines() if not line.startswith("Pane is dead")]
        return "\n".join(lines).strip("\n")

    def exit_status(self, name: str, *, timeout: float = 60) -> int:
        """Wait for the pane's command to end and return its exit status (minus a signal's number)."""
        status = self.scratch / f"{name}.status"
        wait_until(status.exists, timeout, what=f"the command in pane {name} to end")
        wait_until(lambda: self("display-message", "-p", "-t", name, "#{pane_dead}").strip() == "1", timeout)
        return int(status.read_text())

    def close(self) -> None:
        self("kill-server", check=False)


def wait_until(predicate: Callable[[], bool], timeout: float = 60, what: str = "the terminal") -> None:
    """Poll ``predicate``; fail after ``timeout`` seconds (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
