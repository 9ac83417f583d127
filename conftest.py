"""Test-session isolation for every test suite in this repository (the core's and each plugin's).

For the whole session HOME is an empty temporary folder and the XDG base directories are unset, so
no test (nor any process a test starts) can write into the user's real home: state, caches and run
outputs all land under that folder, which is removed at the end (issue 12). pip's cache goes there
too, unless PIP_CACHE_DIR says otherwise (nox points it at a folder under .nox, kept between runs).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_ISOLATED = ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")
_saved: dict[str, str | None] = {}


def _user_pip_config() -> str | None:
    """The user's pip configuration file, if any: read (never written) by the pip the tests run."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    for path in (os.path.join(config, "pip", "pip.conf"), os.path.expanduser("~/.pip/pip.conf")):
        if os.path.isfile(path):
            return path
    return None


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="connector-test-home-")
    pip_config = _user_pip_config()
    if pip_config and "PIP_CONFIG_FILE" not in os.environ:
        # The user's index and find-links settings still apply to the virtualenvs tests build.
        _saved["PIP_CONFIG_FILE"] = None
        os.environ["PIP_CONFIG_FILE"] = pip_config
    for name in _ISOLATED:
        _saved[name] = os.environ.pop(name, None)
    os.environ["HOME"] = home
    # Hypothesis keeps its example database and caches in ./.hypothesis unless told otherwise.
    _saved.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"))
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = os.path.join(home, ".hypothesis")
    # What tests/test_isolation.py compares Path.home() with.
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
