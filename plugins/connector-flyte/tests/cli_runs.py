"""``connector`` commands run as a user runs them: a process of their own, with sample sites on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def connector(
    args: list[str], sites: list[Path], home: Path, **environ: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update(PYTHONPATH=os.pathsep.join(str(site) for site in sites), CONNECTOR_HOME=str(home), **environ)
    return subprocess.run(
        [sys.executable, "-m", "connector", *args], capture_output=True, text=True, env=env, timeout=120
    )
