"""The pytest plugin (entry point ``pytest11``): fixtures of the test kit, available in every test.

Importing it costs what importing ``connector`` costs, and it has no side effects: it only defines
fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ..registry._loaded import LoadedConnector
from ..registry._registry import ConnectorRegistry
from ._clock import FakeClock
from ._lifecycle import LifecycleDriver
from ._registry import registry_of


@pytest.fixture
def connector_registry() -> ConnectorRegistry:
    """An empty ``ConnectorRegistry`` of this test alone; ``register()`` connector objects into it."""
    return registry_of()


@pytest.fixture
def connector_clock() -> FakeClock:
    """A ``FakeClock``: time moves only by ``advance``/``sleep``, so polling and timeouts never wait."""
    return FakeClock()


@pytest.fixture
def connector_lifecycle(connector_clock: FakeClock) -> Callable[..., LifecycleDriver]:
    """A factory of ``LifecycleDriver``: ``connector_lifecycle(connector, poll_interval=..., max_polls=...)``.

    The drivers sleep on the test's ``connector_clock``.
    """

    def make(connector: LoadedConnector | object, **options: Any) -> LifecycleDriver:
        options.setdefault("clock", connector_clock)
        return LifecycleDriver(connector, **options)

    return make
