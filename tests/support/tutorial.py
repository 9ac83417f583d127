"""docs/tutorial.md read as the tests run it: its fenced blocks, in order, with their markers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.support.venvs import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"

# A fenced block, with the `<!-- tutorial: MARKER -->` comment right above it when there is one.
_BLOCK = re.compile(
    r"(?:^<!-- tutorial: (?P<marker>[^>]*?) -->\n)?^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```$", re.M | re.S
)


@dataclass(frozen=True)
class Block:
    """One fenced block: its info string (``sh``, ``text``, ...), its marker ("" if none) and its text."""

    info: str
    marker: str
    body: str

    @property
    def commands(self) -> list[str]:
        """The commands of an ``sh`` block, one per line; a line ending in ``\\`` continues on the next."""
        joined = self.body.replace("\\\n", " ")
        return [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def blocks(path: Path = TUTORIAL) -> list[Block]:
    """Every fenced block of the page, in order."""
    return [
        Block(found["info"].strip(), (found["marker"] or "").strip(), found["body"])
        for found in _BLOCK.finditer(path.read_text())
    ]


def marked(marker: str, path: Path = TUTORIAL) -> Block:
    """The one block whose marker is ``marker`` (the tests fail when there are none or several)."""
    found = [block for block in blocks(path) if block.marker == marker]
    if len(found) != 1:
        raise AssertionError(f"{path.name} has {len(found)} blocks marked '<!-- tutorial: {marker} -->'")
    return found[0]
