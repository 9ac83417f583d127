"""Signed resource meta through a real loopback server: a caller holds a job's state but cannot change it."""

from __future__ import annotations

import dataclasses
import logging
import urllib.request
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl2.connector import connector_pb2

import connector
from connector.registry._signing import MetaSigner
from connector.testing import registry_of
from tests.server.conftest import v1_category, v1_template, v2_category

KEYS = {"CONNECTOR_META_KEYS": "k1=" + "a" * 32}


@dataclasses.dataclass
class RecordMeta(connector.ResourceMeta):
    job_id: str


class Recorder(connector.AsyncConnector):
    """Records every meta its hooks receive: a refused meta must reach none of them."""

    task_type_name = "recorder"
    metadata_type = RecordMeta

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, RecordMeta]] = []

    async def create(self) -> RecordMeta:
        return RecordMeta("j1")

    async def get(self, resource_meta: RecordMeta) -> connector.Resource:
        self.seen.append(("get", resource_meta))
        return connector.Resource(connector.Phase.SUCCEEDED)

    async def delete(self, resource_meta: RecordMeta) -> None:
        self.seen.append(("delete", resource_meta))


class Other(Recorder):
    task_type_name = "other"


async def _start(start_service: Any, **environ: str) -> tuple[Any, Recorder]:
    recorder = Recorder()
    signer = MetaSigner.from_environ({**KEYS, **environ})
    running = await start_service(registry_of(recorder, Other()), signer=signer, prometheus_port=0)
    return running, recorder


async def _refusal(running: Any, meta: bytes) -> list[tuple[grpc.StatusCode, str]]:
    """The answers of v1 GetTask and v2 DeleteTask for ``meta`` of task type recorder."""
    answers = []
    for call in (
        running.v1.GetTask(
            agent_pb2.GetTaskRequest(task_category=v1_category("recorder"), resource_meta=meta)
        ),
        running.v2.DeleteTask(
            connector_pb2.DeleteTaskRequest(task_category=v2_category("recorder"), resource_meta=meta)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        answers.append((info.value.code(), info.value.details()))
    return answers


async def test_a_created_meta_is_signed_and_comes_back(start_service: Any) -> None:
    running, recorder = await _start(start_service)
    created = await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("recorder")))
    assert created.resource_meta.startswith(b"cm1\nk1\nrecorder@0\n")
    category = v1_category("recorder")
    got = await running.v1.GetTask(
        agent_pb2.GetTaskRequest(task_category=category, resource_meta=created.resource_meta)
    )
    assert got.resource.phase == connector.Phase.SUCCEEDED
    assert recorder.seen == [("get", RecordMeta("j1"))]


async def test_a_changed_byte_anywhere_is_invalid_argument_and_reaches_no_hook(start_service: Any) -> None:
    running, recorder = await _start(start_service)
    created = await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("recorder")))
    data = created.resource_meta
    for index in range(len(data)):
        changed = data[:index] + bytes([data[index] ^ 0x20]) + data[index + 1 :]
        request = agent_pb2.GetTaskRequest(task_category=v1_category("recorder"), resource_meta=changed)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await running.v1.GetTask(request)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, index
    assert recorder.seen == []


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (
            RecordMeta("j1").encode(),
            "the resource meta of task type recorder@0 is not signed by this service; if another service "
            "wrote it before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it",
        ),
        (
            MetaSigner.from_environ({"CONNECTOR_META_KEYS": "k9=" + "z" * 32}).sign(
                connector.TaskCategory("recorder"), RecordMeta("j1").encode()
            ),
            "the resource meta of task type recorder@0 is signed with key 'k9', which this service does "
            "not have",
        ),
        (
            MetaSigner.from_environ(KEYS).sign(connector.TaskCategory("other"), RecordMeta("j1").encode()),
            "the resource meta is for task type other@0, not recorder@0",
        ),
        (
            MetaSigner.from_environ(KEYS).sign(connector.TaskCategory("recorder"), RecordMeta("j1").encode())[
                :20
            ],
            "the resource meta of task type recorder@0 has a malformed signature",
        ),
    ],
    ids=["unsigned", "unknown-key", "other-task-type", "truncated"],
)
async def test_forged_metas_are_invalid_argument_in_both_protocols(
    start_service: Any, meta: bytes, message: str
) -> None:
    running, recorder = await _start(start_service)
    assert await _refusal(running, meta) == [(grpc.StatusCode.INVALID_ARGUMENT, message)] * 2
    assert recorder.seen == []


async def test_unsigned_metas_when_the_operator_allows_them(
    start_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running, recorder = await _start(start_service, CONNECTOR_ACCEPT_UNSIGNED_META="1")
    category = v1_category("recorder")
    with caplog.at_level(logging.WARNING, logger="connector.server"):
        for _ in range(3):
            await running.v1.GetTask(
                agent_pb2.GetTaskRequest(task_category=category, resource_meta=RecordMeta("old").encode())
            )
    assert recorder.seen == [("get", RecordMeta("old"))] * 3
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("accepted an unsigned")]
    assert warnings == [
        "accepted an unsigned resource meta for task type recorder@0 (CONNECTOR_ACCEPT_UNSIGNED_META); "
        "connector_unsigned_meta_total counts them"
    ]
    url = f"http://127.0.0.1:{running.service.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    assert 'connector_unsigned_meta_total{task_type="recorder"} 3.0' in text
    # Signed metas are still checked.
    assert (await _refusal(running, b"cm1\nk1\nrecorder@0\n" + b"A" * 43 + b"\n{}"))[0] == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the resource meta of task type recorder@0 has a bad signature",
    )


async def test_the_service_says_at_start_what_is_in_force(
    start_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="connector.server"):
        await _start(start_service)
    assert "resource meta is signed with key 'k1' from CONNECTOR_META_KEYS; unsigned metas are refused" in [
        r.getMessage() for r in caplog.records
    ]
