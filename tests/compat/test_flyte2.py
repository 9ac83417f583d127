"""Flyte 2 (the ``flyte`` package from PyPI) against ``connector serve`` over flyteidl2.

What Flyte 2 offers is read from the installed package (``drivers/flyte_driver.py``, op
``facts``): it has a connector service in Python (``flyte.connectors.ConnectorService.run``) but no
command that serves connectors, and no webhook or sensor task type of its own. What it can make is
sent here: a meta written by its own ``ResourceMeta.encode`` (a switch-over from a Flyte 2
connector service), and a ``sensor`` task template serialized by its own ``get_proto_task``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl2.connector import connector_pb2
from flyteidl2.core import tasks_pb2
from flyteidl2.core.execution_pb2 import TaskExecution
from flyteidl2.task import common_pb2
from google.protobuf import json_format

from tests.compat.peers import Driver, b64decode
from tests.compat.wire import OUTPUT_PREFIX, call, delete_task_v2, get_task_v2
from tests.server.served import Served

pytestmark = pytest.mark.compat

REFUSED = (
    "the resource meta of task type sensor@0 is not signed by this service; if another service wrote "
    "it before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it"
)


def _fields(path: Path) -> dict[str, Any]:
    return {
        "sensor_module": "flytekit.sensor.file_sensor",
        "sensor_name": "FileSensor",
        "sensor_config": None,
        "inputs": {"path": str(path)},
    }


@pytest.fixture(scope="module")
def facts(flyte_driver: Driver) -> dict[str, Any]:
    return flyte_driver.ask("facts")  # type: ignore[no-any-return]


def test_what_flyte2_offers(facts: dict[str, Any]) -> None:
    """The facts docs/compatibility.md reports; a new flyte that changes one fails here first."""
    assert facts["version"].startswith("2.")
    # A connector service in Python, loading connectors from entry points ...
    assert "ConnectorService" in facts["connectors_all"]
    assert facts["service_run"].startswith("(cls, port: int, prometheus_port: int, worker: int")
    assert facts["entry_point_group"] == "flyte.connectors"
    # ... but no command serves it: `flyte serve` serves apps.
    assert "connector" not in facts["cli"]
    assert facts["serve_help"].startswith("Serve an app")
    # No webhook or sensor task type of its own.
    assert not {"webhook", "sensor", "file_sensor"} & set(facts["task_types"]), facts["task_types"]


def test_flyte2_meta_is_plain_json(flyte_driver: Driver, sensor_root: Path) -> None:
    made = flyte_driver.ask("meta", fields=_fields(sensor_root / "x"))
    assert json.loads(b64decode(made["meta"])) == _fields(sensor_root / "x")
    assert made["decoded"] == _fields(sensor_root / "x")


def test_flyte2_meta_polled_and_deleted(flyte_driver: Driver, accepting: Served, sensor_root: Path) -> None:
    """A job a Flyte 2 connector service wrote, finished by ours (with the opt-in) over flyteidl2."""
    path = sensor_root / "flyte2-meta.ready"
    meta = b64decode(flyte_driver.ask("meta", fields=_fields(path))["meta"])

    _running_then_done_then_deleted(accepting, meta, path)


def test_flyte2_meta_refused_without_the_opt_in(
    flyte_driver: Driver, refusing: Served, sensor_root: Path
) -> None:
    meta = b64decode(flyte_driver.ask("meta", fields=_fields(sensor_root / "never"))["meta"])
    polled = get_task_v2(refusing.v2, meta, "sensor")
    assert (polled.code, polled.details) == (grpc.StatusCode.INVALID_ARGUMENT, REFUSED)
    deleted = delete_task_v2(refusing.v2, meta, "sensor")
    assert (deleted.code, deleted.details) == (grpc.StatusCode.INVALID_ARGUMENT, REFUSED)


def test_flyte2_sensor_template_over_flyteidl2(
    flyte_driver: Driver, refusing: Served, sensor_root: Path
) -> None:
    """A ``sensor`` template serialized by Flyte 2 itself, created and polled over flyteidl2.

    Served by the service that refuses unsigned metas: the meta it hands out is its own, signed.
    """
    path = sensor_root / "flyte2-template.ready"
    made = flyte_driver.ask("sensor_task", path=str(path))
    template = tasks_pb2.TaskTemplate.FromString(b64decode(made["template"]))
    assert (template.type, json_format.MessageToDict(template.custom)) == (
        "sensor",
        {**_fields(path), "inputs": None},
    )
    request = connector_pb2.CreateTaskRequest(
        template=template,
        inputs=common_pb2.Inputs.FromString(b64decode(made["inputs"])),
        output_prefix=OUTPUT_PREFIX,
    )
    created = call(refusing.v2.CreateTask, request)
    assert created.code == grpc.StatusCode.OK, created.details
    meta = created.response.resource_meta

    _running_then_done_then_deleted(refusing, meta, path)


def _running_then_done_then_deleted(served: Served, meta: bytes, path: Path) -> None:
    """GetTask says RUNNING, then SUCCEEDED once ``path`` exists; DeleteTask succeeds (flyteidl2)."""
    waiting = get_task_v2(served.v2, meta, "sensor")
    assert waiting.code == grpc.StatusCode.OK, waiting.details
    assert waiting.response.resource.phase == TaskExecution.RUNNING

    path.write_text("done")
    done = get_task_v2(served.v2, meta, "sensor")
    assert done.code == grpc.StatusCode.OK, done.details
    assert done.response.resource.phase == TaskExecution.SUCCEEDED

    deleted = delete_task_v2(served.v2, meta, "sensor")
    assert deleted.code == grpc.StatusCode.OK, deleted.details
