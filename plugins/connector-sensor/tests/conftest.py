"""Fixtures: CONNECTOR_SENSOR_ROOTS set to each test's tmp dir, and recorders of what the sensor touches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from touched import Touched


@pytest.fixture(autouse=True)
def sensor_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tmp dir the sensor may watch, with ``memory://bucket/``; no sensor class allowed.

    Autouse, so a connector built by any fixture or by the contract suite reads it.
    """
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", f"{tmp_path}{os.pathsep}memory://bucket/")
    monkeypatch.delenv("CONNECTOR_SENSORS", raising=False)
    return tmp_path


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> Touched:
    """A ``Touched`` recorder; use ``with touched.recording(): ...`` around the calls to watch."""
    return Touched(monkeypatch)
