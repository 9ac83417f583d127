"""The test session never writes into the user's real home (issue 12): HOME is a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from connector._settings import connector_home


def test_home_is_a_temporary_folder_of_this_session() -> None:
    home = Path.home()
    assert home == Path(os.environ["CONNECTOR_TEST_HOME"])
    assert home.name.startswith("connector-test-home-")
    assert home.parent == Path(tempfile.gettempdir())


def test_xdg_folders_are_unset_so_state_and_caches_fall_under_that_home() -> None:
    for name in ("XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        assert name not in os.environ
    # Without the session's CONNECTOR_HOME, the runner's journal and outputs would go here.
    without = {key: value for key, value in os.environ.items() if key != "CONNECTOR_HOME"}
    expected = Path(os.environ["CONNECTOR_TEST_HOME"]) / ".local" / "state" / "connector"
    assert connector_home(without) == expected


def test_a_process_a_test_starts_sees_the_same_home() -> None:
    printed = subprocess.run(
        [sys.executable, "-c", "import pathlib; print(pathlib.Path.home())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == os.environ["CONNECTOR_TEST_HOME"]


def test_hypothesis_keeps_its_database_under_that_home() -> None:
    # It would write ./.hypothesis into the checkout (issue 12: tests write only into temporary folders).
    assert os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] == str(Path.home() / ".hypothesis")
