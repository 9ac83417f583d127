"""The examples in docs/cli.md, run for real: every block after an ``<!-- example: COMMAND -->`` marker
is the output of COMMAND in a virtualenv holding the end-to-end test plugins.

    python -m tests.e2e.cli_docs     # build wheels and a venv, run every example, rewrite docs/cli.md

``tests/e2e/test_cli_docs.py`` runs the same examples and fails when the page differs.
"""

from __future__ import annotations

import re
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.support.venvs import ROOT, Venv, build_local_wheel

DOC = ROOT / "docs" / "cli.md"
# The examples show what a terminal 100 columns wide shows, on every machine: rich takes the terminal
# layout with TTY_COMPATIBLE=1, without colour or bold under TERM=dumb (which then needs LINES too
# for COLUMNS to count).
TERMINAL = {"COLUMNS": "100", "LINES": "50", "TTY_COMPATIBLE": "1", "TERM": "dumb"}
_EXAMPLE = re.compile(r"<!-- example: (?P<command>.+?) -->\n```console\n.*?```\n", re.DOTALL)


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """``VAR=value ... program args`` as a shell reads it: the environment and the arguments."""
    words = shlex.split(command)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


def run_example(venv: Venv, command: str) -> str:
    """The console block for ``command``: the prompt, the output, and the exit code when it is not 0."""
    env, args = split_command(command)
    done = venv.run(args, env={**TERMINAL, **env})
    output = "".join(line.rstrip() + "\n" for line in (done.stdout + done.stderr).splitlines())
    block = f"$ {command}\n{output}"
    if done.returncode:
        block += f"$ echo $?\n{done.returncode}\n"
    return block


def render(text: str, run: Callable[[str], str]) -> str:
    """``text`` with every example block replaced by ``run(command)``."""

    def replace(match: re.Match[str]) -> str:
        command = match["command"]
        return f"<!-- example: {command} -->\n```console\n{run(command)}```\n"

    return _EXAMPLE.sub(replace, text)


def commands(text: str) -> list[str]:
    """The commands of the example blocks in ``text``."""
    return [match["command"] for match in _EXAMPLE.finditer(text)]


def main() -> None:
    """Rewrite docs/cli.md from a fresh virtualenv."""
    from tests.e2e.conftest import install_plugins

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "core").mkdir()
        venv = install_plugins(root, build_local_wheel(ROOT / "core", root / "core"))
        text = DOC.read_text(encoding="utf-8")
        DOC.write_text(render(text, lambda command: run_example(venv, command)), encoding="utf-8")
    print(f"rewrote {len(commands(text))} examples in {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
