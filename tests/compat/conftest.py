"""Fixtures of the compatibility tests: the peers' cached virtualenvs, their drivers and services.

The virtualenvs are built once and cached (``venvs.py``); the drivers live for the session; each
test module gets one flytekit service, one ``connector serve`` and one loopback HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.peers import Driver, FlytekitService, Recorder, connector_serve
from tests.compat.venvs import FLYTE, FLYTEKIT, CachedVenv, cached_venv
from tests.server.served import Served


@pytest.fixture(scope="session")
def flytekit_venv() -> CachedVenv:
    """Real flytekit 1.16.x (with its connector extra) from PyPI, in a cached virtualenv."""
    return cached_venv("flytekit", FLYTEKIT)


@pytest.fixture(scope="session")
def flyte_venv() -> CachedVenv:
    """Real flyte 2 (with its connector extra) from PyPI, in a cached virtualenv."""
    return cached_venv("flyte", FLYTE)


@pytest.fixture(scope="session")
def serializer(flytekit_venv: CachedVenv) -> Iterator[Driver]:
    """``drivers/flytekit_serialize.py``: task templates and inputs as flytekit makes them."""
    driver = Driver(flytekit_venv, "flytekit_serialize.py")
    yield driver
    driver.close()


@pytest.fixture(scope="session")
def decoder(flytekit_venv: CachedVenv) -> Iterator[Driver]:
    """``drivers/flytekit_decode.py``: outputs decoded by flytekit's TypeEngine."""
    driver = Driver(flytekit_venv, "flytekit_decode.py")
    yield driver
    driver.close()


@pytest.fixture(scope="session")
def flyte_driver(flyte_venv: CachedVenv) -> Iterator[Driver]:
    """``drivers/flyte_driver.py``: Flyte 2's resource metas, templates and inputs."""
    driver = Driver(flyte_venv, "flyte_driver.py")
    yield driver
    driver.close()


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture(scope="module")
def sensor_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one directory ``connector serve`` lets sensors watch (CONNECTOR_SENSOR_ROOTS)."""
    return tmp_path_factory.mktemp("sensor-root")


@pytest.fixture(scope="module")
def flytekit_service(flytekit_venv: CachedVenv) -> Iterator[FlytekitService]:
    service = FlytekitService(flytekit_venv)
    yield service
    service.close()


@pytest.fixture(scope="module")
def ours(recorder: Recorder, sensor_root: Path) -> Iterator[Served]:
    """``connector serve`` allowed to reach the loopback server and to watch ``sensor_root``."""
    served = connector_serve(CONNECTOR_HTTP_ALLOW=recorder.origin, CONNECTOR_SENSOR_ROOTS=str(sensor_root))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def accepting(sensor_root: Path) -> Iterator[Served]:
    """``connector serve`` watching ``sensor_root`` that accepts unsigned metas (a switch-over)."""
    served = connector_serve(CONNECTOR_SENSOR_ROOTS=str(sensor_root), CONNECTOR_ACCEPT_UNSIGNED_META="1")
    yield served
    served.stop()


@pytest.fixture(scope="module")
def refusing(sensor_root: Path) -> Iterator[Served]:
    """``connector serve`` watching ``sensor_root`` that refuses unsigned metas (the default)."""
    served = connector_serve(CONNECTOR_SENSOR_ROOTS=str(sensor_root))
    yield served
    served.stop()
