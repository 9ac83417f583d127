"""docs/operating.md shows `connector serve --help` exactly as the command prints it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.support.venvs import ROOT


def test_operating_doc_shows_the_real_help() -> None:
    text = (ROOT / "docs" / "operating.md").read_text()
    shown = re.search(r"<!-- serve-help:start -->\n```text\n(.*?)\n```\n<!-- serve-help:end -->", text, re.S)
    assert shown is not None
    environ = {**os.environ, "COLUMNS": "100"}
    real = subprocess.run(
        [sys.executable, "-m", "connector", "serve", "--help"],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.group(1) == real.stdout.rstrip("\n"), (
        "regenerate the block with: COLUMNS=100 connector serve --help"
    )
