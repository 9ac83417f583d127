"""docs/cli.md shows the real output of the commands it shows (regenerate: python -m tests.e2e.cli_docs)."""

from __future__ import annotations

import pytest

from tests.e2e.cli_docs import DOC, commands, render, run_example
from tests.support.venvs import Venv

pytestmark = pytest.mark.e2e


def test_every_example_is_the_real_output(plugin_venv: Venv) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(commands(text)) >= 8
    regenerated = render(text, lambda command: run_example(plugin_venv, command))
    # On failure the diff shows what changed; `python -m tests.e2e.cli_docs` rewrites the page.
    assert text == regenerated


def test_the_examples_cover_every_exit_code(plugin_venv: Venv) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "$ echo $?\n1\n" in text
    assert "$ echo $?\n2\n" in text
    assert any(command.startswith("connector check") for command in commands(text))
