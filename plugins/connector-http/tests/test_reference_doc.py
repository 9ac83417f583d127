"""docs/connectors/ matches connector-http: its pages are what its declared fields generate (issue 12)."""

from __future__ import annotations

import runpy
from pathlib import Path

# The generator is a script of the repository, not a module of any distribution: run it by path.
GENERATOR = runpy.run_path(str(Path(__file__).resolve().parents[3] / "docs" / "gen_connector_reference.py"))


def test_the_pages_are_what_the_declarations_generate_and_a_stale_one_is_caught(tmp_path: Path) -> None:
    GENERATOR["check_pages"]("connector-http", tmp_path)
