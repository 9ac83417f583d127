"""Connections are pooled (issue 13): concurrent calls share a bounded pool over HTTP/1.1 (also where a
server offers HTTP/2), a cancelled call closes its connection, and each event loop has its own
client, closed with the loop.

Every server is real and on loopback. Counts are asserted (connections opened, requests seen),
never timings.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpcore
import pytest
from connector_http import HttpJob, HttpJobMeta, Webhook
from connector_http._httpx import DEFAULT_MAX_CONNECTIONS, _Pool, max_connections
from localh2 import H2Server
from localhttp import Answer, LocalServer
from localtls import certificates

import connector
from connector.testing import registry_of

Phase = connector.Phase
Allow = Callable[[str], None]


def webhook_calls(webhook: Webhook, *, timeout: float | None = None) -> connector.ConnectorCalls:
    """The core's call layer around ``webhook``, as the service calls it."""
    return connector.ConnectorCalls(registry_of(webhook).get("webhook"), timeout=timeout)


def template(url: str, **custom: Any) -> connector.TaskTemplate:
    return connector.TaskTemplate("webhook", custom={"url": url, **custom})


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Whether ``condition`` holds within ``seconds`` (polled): for what another thread does."""
    done = threading.Event()
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        done.wait(0.02)
    return condition()


@pytest.fixture
def no_resource_warnings() -> Iterator[None]:
    """Fail the test if an unclosed socket or transport is collected during it or right after."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# Many calls, one pool.


def test_fifty_concurrent_calls_to_a_slow_server_all_succeed_and_reuse_their_connections(
    keep_alive_server: LocalServer, no_resource_warnings: None
) -> None:
    server = keep_alive_server
    server.route("GET", "/slow", Answer(200, {"ok": True}, delay=0.5))
    webhook = Webhook()
    calls = webhook_calls(webhook)

    async def main() -> tuple[list[connector.Resource], int, list[connector.Resource], int]:
        first = await asyncio.gather(*(calls.do(template(f"{server.url}/slow")) for _ in range(50)))
        opened = server.connections
        again = await asyncio.gather(*(calls.do(template(f"{server.url}/slow")) for _ in range(10)))
        return first, opened, again, webhook._clients.open_connections()

    first, opened, again, kept = asyncio.run(main())
    assert [r.phase for r in first + again] == [Phase.SUCCEEDED] * 60
    assert len(server.seen) == 60
    # HTTP/1.1 carries one request at a time: 50 at once need up to 50 connections, and the next
    # 10 calls find idle ones.
    assert 1 <= opened <= 50
    assert server.connections == opened
    assert kept == opened  # all kept for the next calls (up to CONNECTOR_HTTP_MAX_CONNECTIONS)
    assert webhook._clients.loops() == 0  # closed with the loop
    assert wait_until(lambda: server.closed == server.connections)


def test_calls_beyond_the_pool_wait_for_a_connection(
    keep_alive_server: LocalServer, monkeypatch: pytest.MonkeyPatch, no_resource_warnings: None
) -> None:
    server = keep_alive_server
    server.route("GET", "/slow", Answer(200, {"ok": True}, delay=0.5))
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_CONNECTIONS", "10")
    calls = webhook_calls(Webhook())

    async def main() -> list[connector.Resource]:
        return await asyncio.gather(*(calls.do(template(f"{server.url}/slow")) for _ in range(30)))

    assert [r.phase for r in asyncio.run(main())] == [Phase.SUCCEEDED] * 30
    assert len(server.seen) == 30
    # All 30 start before any answer comes: the first 10 open the pool's connections, the other 20
    # wait and reuse them.
    assert server.connections == 10


def test_more_concurrent_calls_than_the_former_cap_of_100_each_get_a_connection(
    keep_alive_server: LocalServer,
) -> None:
    # Issue 13: with 100 connections, 1000 calls to an endpoint that takes a second took 10 s.
    server = keep_alive_server
    server.route("GET", "/slow", Answer(200, {"ok": True}, delay=1.0))
    calls = webhook_calls(Webhook())

    async def main() -> list[connector.Resource]:
        return await asyncio.gather(*(calls.do(template(f"{server.url}/slow")) for _ in range(120)))

    assert [r.phase for r in asyncio.run(main())] == [Phase.SUCCEEDED] * 120
    assert len(server.seen) == 120
    assert server.connections == 120  # none waited for another's connection


def test_the_pool_does_not_look_at_every_connection_for_each_request(
    keep_alive_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpcore asked every connection whether it had expired at each request's start and end, and
    # scanned them all for each queued request (issue 13): here a free connection is found among
    # those a request finished with, and all are looked at only every SWEEP_SECONDS (an hour here).
    server = keep_alive_server
    server.route("GET", "/slow", Answer(200, {"ok": True}, delay=0.3))
    server.route("GET", "/ok", Answer(200, {"ok": True}))
    monkeypatch.setattr(_Pool, "SWEEP_SECONDS", 3600.0)
    sweeps: list[int] = []
    sweep = _Pool._sweep

    def counted(pool: _Pool, closing: list[Any]) -> None:
        sweeps.append(len(pool.connections))
        sweep(pool, closing)

    monkeypatch.setattr(_Pool, "_sweep", counted)
    calls = webhook_calls(Webhook())

    async def main() -> list[connector.Resource]:
        first = await asyncio.gather(*(calls.do(template(f"{server.url}/slow")) for _ in range(30)))
        then = [await calls.do(template(f"{server.url}/ok")) for _ in range(20)]
        again = await asyncio.gather(*(calls.do(template(f"{server.url}/slow")) for _ in range(30)))
        return first + then + again

    assert [r.phase for r in asyncio.run(main())] == [Phase.SUCCEEDED] * 80
    assert len(server.seen) == 80
    assert sweeps == [0]  # once, at the first request
    # The 20 calls one after another took a connection the first 30 had finished with; the last 30,
    # the 30 kept.
    assert server.connections == 30


def test_a_burst_does_not_pile_onto_an_idle_http_connection(
    keep_alive_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle HTTP/1.1 connection says it is available until the request given it starts: httpcore
    # gave it to every request of a burst, and sent all but one back to be assigned again
    # (ConnectionNotAvailable), a pass over the pool each (issue 13).
    server = keep_alive_server
    server.route("GET", "/slow", Answer(200, {"ok": True}, delay=0.5))
    passes: list[int] = []
    assign = _Pool._assign_requests_to_connections

    def counted(pool: _Pool) -> list[Any]:
        passes.append(len(pool.connections))
        return assign(pool)

    monkeypatch.setattr(_Pool, "_assign_requests_to_connections", counted)
    calls = webhook_calls(Webhook())

    async def main() -> list[connector.Resource]:
        first = await calls.do(template(f"{server.url}/slow"))
        return [first, *await asyncio.gather(*(calls.do(template(f"{server.url}/slow")) for _ in range(20)))]

    assert [r.phase for r in asyncio.run(main())] == [Phase.SUCCEEDED] * 21
    assert len(passes) == 2 * 21  # one as each request starts, one as it ends: none sent back
    assert server.connections == 20  # the first call's connection, then 19 new ones


@pytest.mark.parametrize("scheme", [b"http", b"https"])
def test_the_pools_connections_are_never_false(scheme: bytes) -> None:
    # The pool finds its queued requests as those whose connection is false (in C, not a Python
    # loop): a connection that were false would be taken for no connection at all.
    pool = _Pool()
    connection = pool.create_connection(httpcore.Origin(scheme, b"example.com", 80))
    assert bool(connection) is True


def test_max_connections_defaults_to_a_thousand() -> None:
    assert DEFAULT_MAX_CONNECTIONS == 1000
    assert max_connections({}) == 1000
    assert max_connections({"CONNECTOR_HTTP_MAX_CONNECTIONS": ""}) == 1000
    assert max_connections({"CONNECTOR_HTTP_MAX_CONNECTIONS": " 2_000 "}) == 2000
    assert max_connections({"CONNECTOR_HTTP_MAX_CONNECTIONS": "65535"}) == 65535


@pytest.mark.parametrize("value", ["0", "-5", "65536", "many", "1.5", "1e3"])
def test_a_bad_max_connections_names_the_variable(value: str) -> None:
    message = (
        f"CONNECTOR_HTTP_MAX_CONNECTIONS: {value!r} is not a whole number of connections from 1 to 65535 "
        "(for example CONNECTOR_HTTP_MAX_CONNECTIONS=200; the default is 1000)"
    )
    with pytest.raises(connector.ConfigurationError, match=f"^{re.escape(message)}$"):
        max_connections({"CONNECTOR_HTTP_MAX_CONNECTIONS": value})


@pytest.mark.parametrize("connector_class", [Webhook, HttpJob])
def test_a_bad_max_connections_breaks_the_connector_at_load(
    connector_class: type[Webhook] | type[HttpJob], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_CONNECTIONS", "0")
    with pytest.raises(connector.ConfigurationError) as info:
        connector_class()
    assert str(info.value) == (
        "CONNECTOR_HTTP_MAX_CONNECTIONS: '0' is not a whole number of connections from 1 to 65535 "
        "(for example CONNECTOR_HTTP_MAX_CONNECTIONS=200; the default is 1000)"
    )


def test_a_client_is_not_shared_across_pool_sizes(
    keep_alive_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = keep_alive_server
    server.route("GET", "/ok", Answer(200, {"ok": True}))
    webhook = Webhook()
    calls = webhook_calls(webhook)

    async def main() -> int:
        await calls.do(template(f"{server.url}/ok"))
        monkeypatch.setenv("CONNECTOR_HTTP_MAX_CONNECTIONS", "5")
        await calls.do(template(f"{server.url}/ok"))
        return webhook._clients.open_connections()

    assert asyncio.run(main()) == 2  # one in each client
    assert server.connections == 2


def test_http_job_calls_share_the_pool(keep_alive_server: LocalServer) -> None:
    server = keep_alive_server
    server.route("POST", "/jobs", Answer(201, {"id": "j"}))
    server.route("GET", "/jobs/j", Answer(200, {"state": "done"}))
    job = HttpJob()
    calls = connector.ConnectorCalls(registry_of(job).get("http_job"))
    custom = {"submit": {"url": f"{server.url}/jobs"}, "status": {"url": f"{server.url}/jobs/{{job_id}}"}}

    async def main() -> list[connector.Resource]:
        meta = await calls.create(connector.TaskTemplate("http_job", custom=custom))
        return [await calls.get(meta) for _ in range(5)]

    assert [r.phase for r in asyncio.run(main())] == [Phase.SUCCEEDED] * 5
    assert [seen.method for seen in server.seen] == ["POST"] + ["GET"] * 5
    assert server.connections == 1


# A server that offers HTTP/2 (see test_shared_client.py for why it is not used).


@pytest.fixture
def h2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow: Allow) -> Iterator[H2Server]:
    trust, chain = certificates(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(trust))  # what ssl.create_default_context() trusts
    server = H2Server(chain, delay=0.5).start()
    allow(server.url)
    try:
        yield server
    finally:
        server.close()


def test_a_server_offering_http2_is_spoken_to_in_http_1_1(h2: H2Server, no_resource_warnings: None) -> None:
    calls = webhook_calls(Webhook())

    async def main() -> list[connector.Resource]:
        return await asyncio.gather(*(calls.do(template(f"{h2.url}/h2")) for _ in range(50)))

    results = asyncio.run(main())
    assert [r.phase for r in results] == [Phase.SUCCEEDED] * 50
    assert {json.dumps(r.outputs["body"]) for r in results} == {'{"http_version": "1.1"}'}  # type: ignore[index]
    assert len(h2.seen) == 50
    assert {seen.http_version for seen in h2.seen} == {"1.1"}
    assert h2.connections() == 50  # one per call in flight: HTTP/1.1 does not multiplex


# Cancellation: a server that reads the request and never answers.


class Silent:
    """A TCP server on 127.0.0.1 that reads one request per connection and never answers.

    ``received`` is set once a request arrived, ``closed`` once the client closed that connection.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = threading.Event()
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:  # closed before anyone connected
            return
        with conn:
            if conn.recv(65536):
                self.received.set()
            while conn.recv(65536):
                pass
            self.closed.set()


@pytest.fixture
def silent(allow: Allow) -> Iterator[Silent]:
    server = Silent()
    server.thread.start()
    allow(server.url)
    try:
        yield server
    finally:
        server.listener.close()
        server.thread.join(10)


def test_a_call_cancelled_at_the_services_limit_closes_its_connection(
    silent: Silent, no_resource_warnings: None
) -> None:
    webhook = Webhook()
    calls = webhook_calls(webhook, timeout=0.5)  # the service's limit; the template allows 60 s

    async def main() -> tuple[bool, int]:
        with pytest.raises(connector.CallTimeoutError):
            await calls.do(template(f"{silent.url}/never", timeout=60))
        # Closed by the cancellation itself, while the loop still runs (not at its shutdown).
        closed = await asyncio.to_thread(silent.closed.wait, 10)
        return closed, webhook._clients.open_connections()

    closed, still_open = asyncio.run(main())
    assert silent.received.is_set()
    assert closed
    assert still_open == 0


def test_a_call_the_caller_cancels_closes_its_connection(silent: Silent, no_resource_warnings: None) -> None:
    job = HttpJob()
    calls = connector.ConnectorCalls(registry_of(job).get("http_job"))
    meta = HttpJobMeta.decode(
        json.dumps(
            {
                "v": 1,
                "data": {
                    "job_id": "j",
                    "status": {"method": "GET", "url": f"{silent.url}/jobs/{{job_id}}", "headers": {}},
                    "state_field": "state",
                    "timeout": 60,
                },
            }
        ).encode()
    )

    async def main() -> tuple[bool, int]:
        # As grpc cancels the RPC's task at the client's deadline.
        task = asyncio.ensure_future(calls.get(meta))
        assert await asyncio.to_thread(silent.received.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        closed = await asyncio.to_thread(silent.closed.wait, 10)
        return closed, job._clients.open_connections()

    closed, still_open = asyncio.run(main())
    assert closed
    assert still_open == 0


# One client per event loop.


def test_each_event_loop_has_its_own_client_closed_with_the_loop(
    keep_alive_server: LocalServer, no_resource_warnings: None
) -> None:
    server = keep_alive_server
    server.route("GET", "/ok", Answer(200, {"ok": True}))
    webhook = Webhook()
    calls = webhook_calls(webhook)

    async def twice() -> int:
        for _ in range(2):
            assert (await calls.do(template(f"{server.url}/ok"))).phase is Phase.SUCCEEDED
        return webhook._clients.loops()

    assert asyncio.run(twice()) == 1
    assert server.connections == 1  # the second call reused the first one's connection
    assert webhook._clients.loops() == 0
    assert wait_until(lambda: server.closed == 1)  # closed when its loop shut down

    assert asyncio.run(twice()) == 1
    assert server.connections == 2  # a new loop: a new client and connection
    assert wait_until(lambda: server.closed == 2)


def test_loops_in_threads_at_once_each_get_a_client(keep_alive_server: LocalServer) -> None:
    server = keep_alive_server
    server.route("GET", "/slow", Answer(200, {"ok": True}, delay=0.3))
    webhook = Webhook()
    calls = webhook_calls(webhook)
    results: list[Phase] = []

    def run() -> None:
        results.append(asyncio.run(calls.do(template(f"{server.url}/slow"))).phase)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [Phase.SUCCEEDED] * 4
    assert server.connections == 4
    assert webhook._clients.loops() == 0


def test_a_client_is_not_shared_across_allowed_origins(
    keep_alive_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pooled connection was opened under the CONNECTOR_HTTP_ALLOW of its time: once the setting
    # changes, calls go through a client of their own, whose connections are checked anew.
    server = keep_alive_server
    server.route("GET", "/ok", Answer(200, {"ok": True}))
    webhook = Webhook()
    calls = webhook_calls(webhook)
    allowed = f"{server.url},http://other.example"

    async def main() -> list[Phase]:
        phases = [(await calls.do(template(f"{server.url}/ok"))).phase]
        monkeypatch.setenv("CONNECTOR_HTTP_ALLOW", allowed)
        phases.append((await calls.do(template(f"{server.url}/ok"))).phase)
        monkeypatch.setenv("CONNECTOR_HTTP_ALLOW", "")
        with pytest.raises(connector.BadRequestError) as info:
            await calls.do(template(f"{server.url}/ok"))
        assert str(info.value) == (
            f"webhook: GET {server.url}/ok is refused: 127.0.0.1 is a loopback address; to allow it, "
            f"add {server.url} to CONNECTOR_HTTP_ALLOW"
        )
        return phases

    assert asyncio.run(main()) == [Phase.SUCCEEDED, Phase.SUCCEEDED]
    assert server.connections == 2
    assert len(server.seen) == 2


# Through the service: the case of issue 13.


async def test_a_hundred_concurrent_webhook_calls_through_the_service_all_succeed(
    keep_alive_server: LocalServer,
) -> None:
    # With urllib each call held one of the service's worker threads for the second the server
    # takes: with 8 of them (4 for one connector) and no queue, all but 4 of these calls were refused
    # with RESOURCE_EXHAUSTED. The async hook holds no thread.
    from flyteidl.admin import agent_pb2
    from flyteidl.core import execution_pb2, tasks_pb2
    from flyteidl.service import agent_pb2_grpc
    from google.protobuf import struct_pb2

    from connector.server import ConnectorService, ServiceOptions

    server = keep_alive_server
    server.route("POST", "/slow", Answer(200, {"ok": True}, delay=1.0))
    webhook = Webhook()
    service = ConnectorService(
        registry_of(webhook), ServiceOptions(port=0, prometheus_port=None, max_workers=8, queue_size=0)
    )
    await service.start()
    await service.ready.wait()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        stub = agent_pb2_grpc.SyncAgentServiceStub(channel)
        custom = struct_pb2.Struct()
        custom.update({"url": f"{server.url}/slow", "body": {"n": 1}})
        header = agent_pb2.CreateRequestHeader(template=tasks_pb2.TaskTemplate(type="webhook", custom=custom))

        async def call() -> int:
            request = agent_pb2.ExecuteTaskSyncRequest(header=header)
            responses = [response async for response in stub.ExecuteTaskSync(iter([request]))]
            return int(responses[0].header.resource.phase)

        phases = await asyncio.gather(*(call() for _ in range(100)))
        assert phases == [execution_pb2.TaskExecution.SUCCEEDED] * 100
        assert len(server.seen) == 100
        assert server.connections <= 100
    finally:
        await channel.close()
        await service.stop(0)
