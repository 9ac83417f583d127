"""``import connector_flyte`` imports no part of flyte: the core imports providers to list and load them."""

from __future__ import annotations

import json
import subprocess
import sys


def test_importing_the_plugin_imports_no_flyte() -> None:
    probe = (
        "import json, sys; import connector_flyte; roots = ('flyte', 'flyteidl2', 'grpc'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in roots)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_loading_imports_flyte() -> None:
    """The probe above can fail: the same process sees flyte once a connector is asked for."""
    probe = (
        "import json, sys; from connector_flyte._flyte import flyte_sdk; flyte_sdk(); "
        "print(json.dumps('flyte.connectors' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) is True
