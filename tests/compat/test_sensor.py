"""flytekit's FileSensor, created and polled on flytekit's own service and on ``connector serve``.

The template and inputs are flytekit's (a real ``FileSensor`` serialized by flytekit); the same
CreateTask, GetTask and DeleteTask requests go to both services, and their answers are compared
field by field before and after the file appears.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.core.execution_pb2 import TaskExecution

from tests.compat.peers import Driver, FlytekitService, b64decode
from tests.compat.wire import Answer, create_task, delete_task, get_task, resource_fields, template_of
from tests.server.served import Served

pytestmark = pytest.mark.compat

FILE_SENSOR = {"kind": "file_sensor", "name": "compat.wait_for_file"}


def _serialize(serializer: Driver, path: Path) -> tuple[bytes, bytes]:
    made = serializer.ask("serialize", task=FILE_SENSOR, inputs={"path": str(path)})
    return b64decode(made["template"]), b64decode(made["inputs"])


def _meta_fields(meta: bytes) -> dict[str, Any]:
    """The JSON fields of a meta: flytekit's as they are, ours inside the signature envelope."""
    payload = meta.split(b"\n", 4)[4] if meta.startswith(b"cm1\n") else meta
    fields = json.loads(payload)
    # Ours wraps the fields as {"v": 1, "data": {...}}; flytekit's are the object itself.
    return fields["data"] if set(fields) == {"v", "data"} else fields  # type: ignore[no-any-return]


def _same(mine: Answer, theirs: Answer) -> None:
    assert (mine.code, mine.details) == (theirs.code, theirs.details)
    assert theirs.code == grpc.StatusCode.OK, theirs.details
    assert resource_fields(mine.response.resource) == resource_fields(theirs.response.resource)
    assert mine.response.resource.HasField("outputs") == theirs.response.resource.HasField("outputs")
    assert mine.response.resource.outputs == theirs.response.resource.outputs


def test_flytekit_serializes_a_sensor_template(serializer: Driver, sensor_root: Path) -> None:
    template, _ = _serialize(serializer, sensor_root / "any")
    parsed = template_of(template)
    assert (parsed.type, parsed.task_type_version) == ("sensor", 0)
    assert dict(parsed.custom) == {
        "sensor_module": "flytekit.sensor.file_sensor",
        "sensor_name": "FileSensor",
        "sensor_config": None,
        "inputs": None,
    }
    assert list(parsed.interface.inputs.variables) == ["path"]


def test_running_then_succeeded_like_flytekit(
    serializer: Driver, flytekit_service: FlytekitService, ours: Served, sensor_root: Path
) -> None:
    path = sensor_root / "incoming" / "ready.csv"
    template, inputs = _serialize(serializer, path)

    theirs, mine = create_task(flytekit_service.v1, template, inputs), create_task(ours.v1, template, inputs)
    assert (theirs.code, mine.code) == (grpc.StatusCode.OK, grpc.StatusCode.OK), (
        theirs.details,
        mine.details,
    )
    their_meta, my_meta = theirs.response.resource_meta, mine.response.resource_meta
    # The same job state: flytekit's four fields with the same values (ours is signed around them).
    assert (
        _meta_fields(my_meta)
        == _meta_fields(their_meta)
        == {
            "sensor_module": "flytekit.sensor.file_sensor",
            "sensor_name": "FileSensor",
            "sensor_config": None,
            "inputs": {"path": str(path)},
        }
    )

    before = get_task(flytekit_service.v1, their_meta, "sensor"), get_task(ours.v1, my_meta, "sensor")
    assert before[0].response.resource.phase == TaskExecution.RUNNING, before[0]
    _same(before[1], before[0])

    path.parent.mkdir()
    path.write_text("a,b\n")
    after = get_task(flytekit_service.v1, their_meta, "sensor"), get_task(ours.v1, my_meta, "sensor")
    assert after[0].response.resource.phase == TaskExecution.SUCCEEDED, after[0]
    _same(after[1], after[0])

    deleted = delete_task(flytekit_service.v1, their_meta, "sensor"), delete_task(ours.v1, my_meta, "sensor")
    assert [answer.code for answer in deleted] == [grpc.StatusCode.OK, grpc.StatusCode.OK]


def test_outside_the_roots_refused_where_flytekit_answers(
    serializer: Driver,
    flytekit_service: FlytekitService,
    ours: Served,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An intended difference: flytekit's service tells anyone whether any path exists; ours refuses."""
    outside = tmp_path_factory.mktemp("outside-the-roots") / "secret.txt"
    outside.write_text("exists")
    template, inputs = _serialize(serializer, outside)

    theirs = create_task(flytekit_service.v1, template, inputs)
    assert theirs.code == grpc.StatusCode.OK, theirs.details
    polled = get_task(flytekit_service.v1, theirs.response.resource_meta, "sensor")
    assert polled.response.resource.phase == TaskExecution.SUCCEEDED  # flytekit confirms it exists

    mine = create_task(ours.v1, template, inputs)
    assert mine.code == grpc.StatusCode.INVALID_ARGUMENT
    # The service shortens server paths in status messages (DESIGN 7) to their last component.
    assert mine.details == (
        "sensor: the path '\u2026/secret.txt' is outside the roots it may watch; to allow it, add a "
        "directory or URL prefix that contains it to CONNECTOR_SENSOR_ROOTS"
    )
