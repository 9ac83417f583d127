"""The virtualenv the end-to-end tests share: connector-core and every test plugin, from real wheels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.plugins import PLUGINS
from tests.support.venvs import Venv


def install_plugins(root: Path, core_wheel: Path) -> Venv:
    """Build the test plugins' wheels under ``root`` and install them with connector-core into a new venv."""
    wheels = root / "wheels"
    wheels.mkdir()
    venv = Venv(root / "venv")
    venv.install(core_wheel, *(plugin.wheel(wheels) for plugin in PLUGINS))
    return venv


@pytest.fixture(scope="session")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> Venv:
    """One virtualenv for the whole session (creating one costs seconds; the tests only read it)."""
    return install_plugins(tmp_path_factory.mktemp("e2e-plugins"), core_wheel)
