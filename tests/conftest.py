"""Fixtures shared by the core's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.venvs import ROOT, build_local_wheel


@pytest.fixture(scope="session")
def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of connector-core built from this checkout, once per test session."""
    return build_local_wheel(ROOT / "core", tmp_path_factory.mktemp("core-wheel"))
