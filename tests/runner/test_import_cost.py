"""`import connector` stays cheap: the runner's heavier modules load only when a run needs them."""

from __future__ import annotations

import subprocess
import sys

from tests.support.venvs import ROOT


def test_import_connector_loads_no_asyncio_sqlite_or_yaml() -> None:
    code = (
        "import sys, connector; "
        "print(sorted(m for m in ('asyncio', 'concurrent.futures', 'sqlite3', 'yaml') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout == "[]\n"
