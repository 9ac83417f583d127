"""`connector run` on a real terminal (a pty in a session of its own): a background run leaves it alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.venvs import ROOT

from .conftest import Cli

# A session leader with a pty as its controlling terminal, its own process group in the foreground.
SESSION = textwrap.dedent(
    """
    import fcntl, os, pty, signal, subprocess, sys, termios, threading

    os.setsid()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    threading.Thread(target=lambda: [os.read(master, 4096) for _ in iter(int, 1)], daemon=True).start()

    def echo():
        return bool(termios.tcgetattr(slave)[3] & termios.ECHO)

    if sys.argv[1] == "background":  # `connector run ... &`: a process group that is not the foreground
        # preexec_fn rather than process_group=0, which needs Python 3.11.
        child = subprocess.Popen(
            sys.argv[2:], stdin=slave, stdout=slave, stderr=slave, preexec_fn=lambda: os.setpgid(0, 0)
        )
        _, status = os.waitpid(child.pid, os.WUNTRACED)
        if os.WIFSTOPPED(status):
            print("stopped by", signal.Signals(os.WSTOPSIG(status)).name)
            os.kill(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
        else:
            print("exit", os.waitstatus_to_exitcode(status))
        print("echo", echo())
    else:  # in the foreground: echo goes off, and only it comes back
        from connector.cli import _display

        sys.stderr = open(slave, "w", closefd=False)
        _display._quiet_terminal()
        quiet = echo()
        settings = termios.tcgetattr(slave)
        settings[3] &= ~termios.ICANON  # changed meanwhile (`stty -icanon` in another process)
        termios.tcsetattr(slave, termios.TCSANOW, settings)
        for restore in _display._AT_EXIT:
            restore()
        print("echo", quiet, echo(), "icanon", bool(termios.tcgetattr(slave)[3] & termios.ICANON))
    """
)


def _session(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SESSION, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_background_run_never_touches_the_terminal(cli: Cli) -> None:
    # Before issue 12's review, the live display turned echo off from the background process
    # group: the terminal driver answers with SIGTTOU, which stopped `connector run ... &`.
    env = {**cli.env(), "TERM": "xterm"}
    out = _session("background", str(cli.venv.bin / "connector"), "run", "echo", env=env)
    assert out == "exit 0\necho True\n"


def test_the_foreground_run_gives_back_only_the_echo_it_took() -> None:
    assert _session("foreground") == "echo False True icanon False\n"
