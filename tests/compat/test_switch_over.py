"""A switch-over: jobs flytekit's service created are finished by ``connector serve``.

flytekit's own service creates two FileSensor jobs (its metas are plain JSON) and is stopped, as
an operator replacing ``pyflyte serve connector`` would. ``connector serve`` with
``CONNECTOR_ACCEPT_UNSIGNED_META=1`` polls the first to SUCCEEDED once its file appears and deletes
the second; without the variable the same requests are refused, and the message names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from tests.compat.peers import Driver, FlytekitService, b64decode
from tests.compat.venvs import CachedVenv
from tests.compat.wire import create_task, delete_task, get_task
from tests.server.served import Served

pytestmark = pytest.mark.compat

FILE_SENSOR = {"kind": "file_sensor", "name": "compat.wait_for_file"}
REFUSED = (
    "the resource meta of task type sensor@0 is not signed by this service; if another service wrote "
    "it before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it"
)


@pytest.fixture(scope="module")
def flytekit_jobs(
    flytekit_venv: CachedVenv, serializer: Driver, sensor_root: Path
) -> dict[str, tuple[Path, bytes]]:
    """Two FileSensor jobs created by flytekit's service, which is then stopped: name -> (path, meta)."""
    service = FlytekitService(flytekit_venv)
    jobs = {}
    try:
        for name in ("first", "second"):
            path = sensor_root / f"{name}.ready"
            made = serializer.ask("serialize", task=FILE_SENSOR, inputs={"path": str(path)})
            created = create_task(service.v1, b64decode(made["template"]), b64decode(made["inputs"]))
            assert created.code == grpc.StatusCode.OK, created.details
            jobs[name] = (path, created.response.resource_meta)
    finally:
        service.close()
    assert service.process.returncode is not None
    return jobs


def test_flytekit_metas_are_plain_json(flytekit_jobs: dict[str, tuple[Path, bytes]]) -> None:
    """What the switch-over has to read: flytekit's SensorMetadata as a bare JSON object."""
    path, meta = flytekit_jobs["first"]
    assert json.loads(meta) == {
        "sensor_module": "flytekit.sensor.file_sensor",
        "sensor_name": "FileSensor",
        "sensor_config": None,
        "inputs": {"path": str(path)},
    }


def test_accepted_with_the_opt_in(flytekit_jobs: dict[str, tuple[Path, bytes]], accepting: Served) -> None:
    path, meta = flytekit_jobs["first"]
    waiting = get_task(accepting.v1, meta, "sensor")
    assert waiting.code == grpc.StatusCode.OK, waiting.details
    assert waiting.response.resource.phase == TaskExecution.RUNNING

    path.write_text("done")
    done = get_task(accepting.v1, meta, "sensor")
    assert done.code == grpc.StatusCode.OK, done.details
    assert done.response.resource.phase == TaskExecution.SUCCEEDED

    _, second = flytekit_jobs["second"]
    deleted = delete_task(accepting.v1, second, "sensor")
    assert deleted.code == grpc.StatusCode.OK, deleted.details


def test_refused_without_the_opt_in(flytekit_jobs: dict[str, tuple[Path, bytes]], refusing: Served) -> None:
    _, first = flytekit_jobs["first"]
    _, second = flytekit_jobs["second"]
    polled = get_task(refusing.v1, first, "sensor")
    assert (polled.code, polled.details) == (grpc.StatusCode.INVALID_ARGUMENT, REFUSED)
    deleted = delete_task(refusing.v1, second, "sensor")
    assert (deleted.code, deleted.details) == (grpc.StatusCode.INVALID_ARGUMENT, REFUSED)
