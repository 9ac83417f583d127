"""Test-session isolation for every test suite in this repository (the core's and each plugin's).

For the whole session HOME is an empty temporary folder and the XDG base directories are unset, so
no test (nor any process a test starts) can write into the user's real home: state, caches and run
outputs all land under that folder, which is removed at the end (issue 12).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_ISOLATED = ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
_saved: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="connector-test-home-")
    for name in _ISOLATED:
        _saved[name] = os.environ.pop(name, None)
    os.environ["HOME"] = home
    # pytest-xdist workers or nested runs see the same folder through this variable.
    os.environ["CONNECTOR_TEST_HOME"] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    home = os.environ.pop("CONNECTOR_TEST_HOME", None)
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if home:
        shutil.rmtree(home, ignore_errors=True)
