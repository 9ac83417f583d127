"""Fixtures: the sample distributions installed as real wheels, put on ``sys.path`` one test at a time.

``install("acme", "broken", ...)`` makes those distributions visible to ``importlib.metadata`` for
the test; afterwards ``sys.path``, the modules imported from them and Flyte 2's global
``ConnectorRegistry`` are as before, so each test discovers from scratch, as the core's discovery
process does.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flyte_wheels import (
    acme_wheel,
    broken_wheel,
    other_wheel,
    pip_install_into,
    unsupported_flyte_wheel,
)

SITES = {"acme": acme_wheel, "broken": broken_wheel, "other": other_wheel, "flyte3": unsupported_flyte_wheel}


@pytest.fixture(scope="session")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One directory per sample distribution, each installed into it by pip from its wheel."""
    wheels = tmp_path_factory.mktemp("wheels")
    installed = {}
    for name, make in SITES.items():
        target = tmp_path_factory.mktemp(f"site-{name}")
        pip_install_into(make(wheels), target)
        installed[name] = target
    return installed


@pytest.fixture
def install(sites: dict[str, Path]) -> Iterator[Callable[..., None]]:
    """``install(*names)``: put those sample distributions first on ``sys.path`` for this test."""
    from flyte.connectors import ConnectorRegistry

    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    saved_connectors = dict(ConnectorRegistry._REGISTRY)
    saved_metadata = copy.deepcopy(ConnectorRegistry._METADATA)

    def put(*names: str) -> None:
        for name in names:
            sys.path.insert(0, str(sites[name]))
        importlib.invalidate_caches()

    try:
        yield put
    finally:
        sys.path[:] = saved_path
        roots = tuple(str(path) + os.sep for path in sites.values())
        for name in set(sys.modules) - saved_modules:
            if (getattr(sys.modules[name], "__file__", None) or "").startswith(roots):
                del sys.modules[name]
        importlib.invalidate_caches()
        ConnectorRegistry._REGISTRY.clear()
        ConnectorRegistry._REGISTRY.update(saved_connectors)
        ConnectorRegistry._METADATA.clear()
        ConnectorRegistry._METADATA.update(saved_metadata)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """The acme connectors' ``state_dir`` config: where their jobs leave files."""
    path = tmp_path / "acme-state"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _connector_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys, caches and journals of the core go to a temporary folder, never the user's home."""
    monkeypatch.setenv("CONNECTOR_HOME", str(tmp_path_factory.getbasetemp() / "connector-home"))
