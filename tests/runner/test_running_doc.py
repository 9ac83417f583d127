"""docs/running.md shows, in each recorded block, exactly the commands its recorder runs, and real Python."""

from __future__ import annotations

import ast
import dataclasses
import re

import pytest

import connector
from connector import RunOptions
from tests.runner.record_running_doc import DOC, SESSIONS, Session, rewrite


def _block(name: str) -> str:
    match = re.search(
        rf"<!-- session: {re.escape(name)} -->\n```console\n(.*?)```\n<!-- /session -->",
        DOC.read_text(),
        re.S,
    )
    assert match is not None, f"docs/running.md has no recorded block {name!r}"
    return match.group(1)


@pytest.mark.parametrize("session", SESSIONS, ids=[s.name for s in SESSIONS])
def test_each_block_was_recorded_from_its_commands(session: Session) -> None:
    block = _block(session.name)
    shown = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    expected = [c.split("; echo")[0] if session.terminal else c for c in session.commands]
    assert len(shown) == len(expected)
    for line, command in zip(shown, expected, strict=True):
        # {running} is the id of the job the killed run left, filled in when recorded.
        assert re.fullmatch(re.escape(command).replace(r"\{running\}", "[0-9a-f]{12}"), line), line
    assert block.count("\n") > len(shown), "a block shows the command's output too"


def test_rewrite_replaces_only_the_named_blocks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "doc.md"
    doc.write_text(
        "a\n<!-- session: one -->\n```console\nold\n```\n<!-- /session -->\nb\n"
        "<!-- session: two -->\n```console\n```\n<!-- /session -->\n"
    )
    assert rewrite(doc, {"two": "$ new\nout"}) == (
        "a\n<!-- session: one -->\n```console\nold\n```\n<!-- /session -->\nb\n"
        "<!-- session: two -->\n```console\n$ new\nout\n```\n<!-- /session -->\n"
    )
    with pytest.raises(SystemExit, match="no block for session 'three'"):
        rewrite(doc, {"three": "x"})


def test_python_examples_are_valid_and_import_real_names() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and node.module == "connector":
                assert [a.name for a in node.names if not hasattr(connector, a.name)] == []


def test_the_options_table_lists_every_field_with_its_default() -> None:
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", DOC.read_text(), re.M)
    defaults = {f.name: repr(f.default) for f in dataclasses.fields(RunOptions)}
    assert dict(rows) == defaults
