"""Fixtures shared by the core's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.venvs import ROOT, build_local_wheel


@pytest.fixture(scope="session")
def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of connector-core built from this checkout, once per test session."""
    return build_local_wheel(ROOT / "core", tmp_path_factory.mktemp("core-wheel"))


@pytest.fixture(autouse=True, scope="session")
def _connector_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point CONNECTOR_HOME at a temporary folder for the session, unless a test sets its own.

    The service and ``connector run`` keep state there (the resource-meta key made on first use,
    the journal, run outputs): no test may write into the user's real home.
    """
    home = str(tmp_path_factory.mktemp("connector-home"))
    before = os.environ.get("CONNECTOR_HOME")
    os.environ["CONNECTOR_HOME"] = home
    yield
    if before is None:
        os.environ.pop("CONNECTOR_HOME", None)
    else:
        os.environ["CONNECTOR_HOME"] = before


@pytest.fixture(autouse=True)
def _signal_handlers_unchanged() -> Iterator[None]:
    """Fail a test that leaves SIGINT or SIGTERM handled differently than it found them, and put
    them back: a handler left behind changes every later test, and an ignored signal is inherited by
    every process they start (issue 12)."""
    import signal

    signals = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.getsignal(sig) for sig in signals}
    yield
    after = {sig: signal.getsignal(sig) for sig in signals}
    changed = {sig.name: (before[sig], after[sig]) for sig in signals if after[sig] != before[sig]}
    for sig in signals:
        if after[sig] != before[sig] and before[sig] is not None:
            signal.signal(sig, before[sig])
    assert not changed, f"the test left signal handlers changed (before, after): {changed}"
