"""Keys across real `connector serve` processes: replicas sharing keys, a rotation, a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2

from tests.server.conftest import v1_category, v1_inputs, v1_template

pytestmark = pytest.mark.e2e

OLD = "old=" + "o" * 32
NEW = "new=" + "n" * 32


def _create(served: Any, store: Path, steps: int = 2) -> bytes:
    template = v1_template("filejob", custom={"store": str(store), "steps": steps})
    created = served.v1.CreateTask(agent_pb2.CreateTaskRequest(template=template, inputs=v1_inputs(x=1)))
    return created.resource_meta  # type: ignore[no-any-return]


def _get(served: Any, meta: bytes) -> Any:
    request = agent_pb2.GetTaskRequest(task_category=v1_category("filejob"), resource_meta=meta)
    return served.v1.GetTask(request).resource


def test_a_rotation_keeps_the_jobs_in_flight(serve: Any, tmp_path: Path) -> None:
    before = serve(env={"CONNECTOR_META_KEYS": OLD})
    first, second = _create(before, tmp_path), _create(before, tmp_path)
    assert first.startswith(b"cm1\nold\n")
    assert before.stop() == 0
    # The new key signs; the old one still verifies what was handed out before the rotation.
    after = serve(env={"CONNECTOR_META_KEYS": f"{NEW},{OLD}"})
    assert _get(after, first).phase == execution_pb2.TaskExecution.RUNNING
    assert _get(after, first).phase == execution_pb2.TaskExecution.SUCCEEDED
    after.v1.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=v1_category("filejob"), resource_meta=second)
    )
    assert _create(after, tmp_path).startswith(b"cm1\nnew\n")
    # Once the old key is retired, its metas are refused.
    retired = serve(env={"CONNECTOR_META_KEYS": NEW})
    with pytest.raises(grpc.RpcError) as info:
        _get(retired, first)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert info.value.details() == (  # type: ignore[attr-defined]
        "the resource meta of task type filejob@0 is signed with key 'old', which this service does not have"
    )
    assert after.stop() == 0
    assert retired.stop() == 0


def test_replicas_sharing_a_keys_file_serve_each_others_jobs(serve: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{NEW}\n")
    env = {"CONNECTOR_META_KEYS_FILE": str(keys)}
    one, two = serve(env=env), serve(env=env)
    (tmp_path / "jobs").mkdir()
    meta = _create(one, tmp_path / "jobs", steps=1)
    assert _get(two, meta).phase == execution_pb2.TaskExecution.SUCCEEDED
    assert one.stop() == 0
    assert two.stop() == 0


def test_a_restart_without_configured_keys_keeps_accepting_what_it_signed(serve: Any, tmp_path: Path) -> None:
    home = {"CONNECTOR_HOME": str(tmp_path / "home")}
    first = serve(env=home)
    (tmp_path / "jobs").mkdir()
    meta = _create(first, tmp_path / "jobs", steps=1)
    assert meta.startswith(b"cm1\nlocal-")
    assert first.stop() == 0
    assert "unsigned metas are refused" in "\n".join(first.stderr)
    again = serve(env=home)
    assert _get(again, meta).phase == execution_pb2.TaskExecution.SUCCEEDED
    assert again.stop() == 0
    # Another machine's home has another key: its service refuses the meta.
    elsewhere = serve(env={"CONNECTOR_HOME": str(tmp_path / "elsewhere")})
    with pytest.raises(grpc.RpcError) as info:
        _get(elsewhere, meta)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert elsewhere.stop() == 0
