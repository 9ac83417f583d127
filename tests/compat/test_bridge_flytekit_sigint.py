"""Ctrl-C after bridged calls: ``connector serve`` with connector-flytekit still drains and exits 0.

connector-core imports flytekit in a background thread, so flytekit's context is unset where
requests run; were it built again there (``FlyteContextManager.initialize``, in the main thread),
flytekit's SIGINT handler (``exit(1)`` at once) would replace the service's own.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from tests.compat.bridge_support import BridgeVenv, bridge_driver, bridge_venv
from tests.compat.peers import Driver
from tests.compat.test_bridge_flytekit import FILE_SENSOR, OPT_IN, serialize
from tests.compat.wire import create_task, get_task

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> BridgeVenv:
    return bridge_venv(tmp_path_factory.mktemp("bridge-sigint"), core_wheel)


@pytest.fixture(scope="module")
def driver(bridge: BridgeVenv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    started = bridge_driver(bridge.layer, tmp_path_factory.mktemp("bridge-sigint-driver"))
    yield started
    started.close()


def test_sigint_after_bridged_calls_drains_and_exits_0(
    bridge: BridgeVenv, driver: Driver, tmp_path: Path
) -> None:
    served = bridge.serve(**OPT_IN)
    try:
        path = tmp_path / "landed.csv"
        path.write_text("a,b\n")
        template, inputs = serialize(driver, FILE_SENSOR, path=str(path))
        for _ in range(2):
            created = create_task(served.v1, template, inputs)
            assert created.code == grpc.StatusCode.OK, created.details
            done = get_task(served.v1, created.response.resource_meta, "sensor")
            assert done.code == grpc.StatusCode.OK, done.details
            assert done.response.resource.phase == TaskExecution.SUCCEEDED
    finally:
        code = served.stop(signal.SIGINT)
    log = "\n".join(served.stderr)
    assert code == 0, log
    assert "draining: waiting up to" in log
    assert log.rstrip().endswith("INFO connector.server: stopped"), log
