"""The attacks of issue 9 through a real loopback `ConnectorService` and the generated flyteidl stubs.

Two walls stand between a caller and the targets: the service checks the signature of every meta
before decoding it, and connector-http's egress policy checks every request it would send, also
for metas the operator lets through unsigned during a switch-over. Each attack is answered with
the exact status and message, and the target server records nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from connector_http import HttpJob, Webhook
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, tasks_pb2
from flyteidl.service import agent_pb2_grpc
from google.protobuf import struct_pb2
from localhttp import Answer, LocalServer

from connector.registry._signing import MetaSigner
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of

KEYS = {"CONNECTOR_META_KEYS": "k1=" + "s" * 32}


class Running:
    def __init__(self, service: ConnectorService) -> None:
        self.service = service
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
        self.tasks = agent_pb2_grpc.AsyncAgentServiceStub(self.channel)
        self.sync = agent_pb2_grpc.SyncAgentServiceStub(self.channel)


@pytest.fixture
async def start() -> AsyncIterator[Any]:
    started: list[Running] = []

    async def run(**environ: str) -> Running:
        signer = MetaSigner.from_environ({**KEYS, **environ})
        service = ConnectorService(
            registry_of(HttpJob, Webhook), ServiceOptions(port=0, prometheus_port=None), signer=signer
        )
        await service.start()
        await service.ready.wait()
        running = Running(service)
        started.append(running)
        return running

    yield run
    for running in started:
        await running.channel.close()
        await running.service.stop(0)


def forged_meta(url: str, **fields: Any) -> bytes:
    """The bytes an attacker sends as a GetTask's resource meta: plain JSON of HttpJobMeta's fields."""
    data = {"job_id": "job-1", "status": {"method": "GET", "url": url, "headers": {}}, "state_field": "state"}
    return json.dumps({"v": 1, "data": {**data, **fields}}).encode()


async def _get(running: Running, meta: bytes) -> grpc.aio.AioRpcError:
    request = agent_pb2.GetTaskRequest(
        task_category=agent_pb2.TaskCategory(name="http_job"), resource_meta=meta
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.tasks.GetTask(request)
    return info.value


def _template(task_type: str, custom: dict[str, Any]) -> tasks_pb2.TaskTemplate:
    struct = struct_pb2.Struct()
    struct.update(custom)
    return tasks_pb2.TaskTemplate(type=task_type, custom=struct)


async def _execute(running: Running, custom: dict[str, Any]) -> Any:
    header = agent_pb2.CreateRequestHeader(template=_template("webhook", custom))
    responses = running.sync.ExecuteTaskSync(iter([agent_pb2.ExecuteTaskSyncRequest(header=header)]))
    return [response async for response in responses]


async def test_a_forged_meta_is_refused_by_its_signature(
    start: Any, forbidden_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_DB_PASSWORD", "hunter2")
    running = await start()
    meta = forged_meta(f"{forbidden_server.url}/internal", auth_secret="db_password")
    error = await _get(running, meta)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the resource meta of task type http_job@0 is not signed by this service; if another service wrote "
        "it before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it",
    )
    assert forbidden_server.seen == []


async def test_an_unsigned_meta_let_through_for_a_switch_over_still_meets_the_egress_policy(
    start: Any, forbidden_server: LocalServer
) -> None:
    running = await start(CONNECTOR_ACCEPT_UNSIGNED_META="1")
    url = f"{forbidden_server.url}/internal"
    error = await _get(running, forged_meta(url))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"http_job: GET {url} is refused: 127.0.0.1 is a loopback address; to allow it, add "
        f"{forbidden_server.url} to CONNECTOR_HTTP_ALLOW",
    )
    error = await _get(running, forged_meta("file:///etc/passwd"))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "http_job: the resource meta field 'status.url' must be an http:// or https:// URL; "
        "got 'file:///etc/passwd'",
    )
    assert forbidden_server.seen == []


async def test_a_webhook_cannot_send_a_secret_to_an_origin_not_allowed_for_it(
    start: Any, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_API_TOKEN", "t0ken")
    running = await start()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _execute(running, {"url": f"{server.url}/steal", "auth_secret": "api_token"})
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"webhook: GET {server.url}/steal is refused: the secret 'api_token' may not be sent to "
        f"{server.url}; to allow it, add api_token={server.url} to CONNECTOR_HTTP_SECRET_ORIGINS",
    )
    assert server.seen == []


async def test_a_huge_answer_is_a_failed_task_not_a_full_memory(
    start: Any, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_BODY", str(1024 * 1024))
    piece = b"x" * (64 * 1024)
    server.route("GET", "/big", Answer(200, stream=lambda: (piece for _ in range(3200))))  # 200 MiB
    running = await start()
    (response,) = await _execute(running, {"url": f"{server.url}/big"})
    resource = response.header.resource
    assert resource.phase == execution_pb2.TaskExecution.FAILED
    assert resource.message == (
        f"webhook: GET {server.url}/big answered 200 OK with a body over the limit of 1048576 bytes; "
        "reading stopped there (the limit is set by CONNECTOR_HTTP_MAX_BODY)"
    )
    assert server.streamed < 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("custom", "refused"),
    [
        (
            {"headers": "Authorization: Bearer s3cr3t-token"},
            "'headers' must be an object; got a string of 34 characters",
        ),
        (
            {"headers": ["Authorization: Bearer s3cr3t-token"]},
            "'headers' must be an object; got an array of 1 item",
        ),
        (
            {"auth_secret": {"token": "s3cr3t-token"}},
            "'auth_secret' must be a string; got an object of 1 key",
        ),
    ],
)
async def test_a_refused_custom_field_never_quotes_its_value(
    start: Any, server: LocalServer, custom: dict[str, Any], refused: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The value may be a credential: the client's status and the server log name its kind and size only.
    running = await start()
    with caplog.at_level("DEBUG"), pytest.raises(grpc.aio.AioRpcError) as info:
        await _execute(running, {"url": f"{server.url}/x", **custom})
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"webhook: the custom field {refused}",
    )
    assert "s3cr3t" not in caplog.text
    assert server.seen == []
