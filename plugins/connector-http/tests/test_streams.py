"""The network stream on asyncio's transports (``_streams``): what httpcore sees from it, on both loops.

Each test runs once on asyncio's own loop and once on uvloop (``connector serve``'s loop), against
a real loopback server started in the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpcore
import pytest
import uvloop
from connector_http._streams import AsyncioStream, connect_tcp
from localtls import certificates

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    """Runs a coroutine to its end on a new loop of the parameter's kind."""
    return asyncio.run if request.param == "asyncio" else uvloop.run  # type: ignore[return-value]


async def _serving(handler: Handler, context: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def _connected(handler: Handler) -> AsyncIterator[AsyncioStream]:
    """A stream connected to a loopback server running ``handler``; both closed on the way out."""
    server, port = await _serving(handler)
    try:
        stream = await connect_tcp("127.0.0.1", port, 5.0, None, None)
        try:
            yield stream
        finally:
            await stream.aclose()
    finally:
        server.close()


def _closing_after(data: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()

    return handler


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.sleep(30)  # says nothing and reads nothing: cancelled when the test's loop ends
    finally:
        writer.close()


def test_a_read_takes_what_arrived_at_most_max_bytes_then_empty_at_the_end(run: Any) -> None:
    async def main() -> list[bytes]:
        async with _connected(_closing_after(b"hello world")) as stream:
            got = [await stream.read(5, timeout=5.0)]
            while chunk := await stream.read(65536, timeout=5.0):
                got.append(chunk)
            got.append(await stream.read(65536, timeout=5.0))  # still the end
            return got

    got = run(main())
    assert got[0] == b"hello"
    assert b"".join(got) == b"hello world"
    assert got[-1] == b""


def test_a_read_with_nothing_coming_is_a_read_timeout(run: Any) -> None:
    async def main() -> None:
        async with _connected(_silent) as stream:
            with pytest.raises(httpcore.ReadTimeout, match=r"^timed out waiting for data$"):
                await stream.read(100, timeout=0.2)

    run(main())


def test_a_refused_connection_is_a_connect_error_with_the_os_error_chained(run: Any) -> None:
    with socket.socket() as unused:  # a port nobody listens on: bound, never listening
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

        async def main() -> None:
            with pytest.raises(httpcore.ConnectError) as caught:
                await connect_tcp("127.0.0.1", port, 5.0, None, None)
            assert isinstance(caught.value.__cause__, OSError)
            assert caught.value.__cause__.errno == errno.ECONNREFUSED

        run(main())


def test_writing_to_a_peer_that_does_not_read_is_a_write_timeout(run: Any) -> None:
    async def flood(stream: AsyncioStream) -> None:
        for _ in range(64):  # far more than the socket buffers hold
            await stream.write(b"x" * (1024 * 1024), timeout=0.2)

    async def main() -> None:
        async with _connected(_silent) as stream:
            with pytest.raises(httpcore.WriteTimeout, match=r"^timed out sending data$"):
                await flood(stream)

    run(main())


def test_writing_after_the_peer_closed_is_a_write_error(run: Any) -> None:
    async def main() -> None:
        async with _connected(_closing_after(b"")) as stream:
            assert await stream.read(100, timeout=5.0) == b""
            with pytest.raises(httpcore.WriteError, match=r"^the connection is closed$"):
                await stream.write(b"GET / HTTP/1.1\r\n\r\n", timeout=5.0)

    run(main())


def test_reading_pauses_while_a_quarter_mebibyte_waits_unread(run: Any) -> None:
    body = b"y" * (1024 * 1024)

    async def main() -> None:
        async with _connected(_closing_after(body)) as stream:
            connection = stream._connection
            for _ in range(500):  # until the transport has paused reading
                if connection.reading_paused:
                    break
                await asyncio.sleep(0.01)
            assert connection.reading_paused
            assert 256 * 1024 <= len(connection.buffer) < len(body)
            received = bytearray()
            while chunk := await stream.read(65536, timeout=5.0):
                received += chunk
            assert bytes(received) == body  # reading resumed and nothing was lost
            assert not connection.reading_paused

    run(main())


def test_an_idle_connection_is_readable_once_the_peer_closed_it(run: Any) -> None:
    async def main() -> None:
        done = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await done.wait()
            writer.close()

        async with _connected(handler) as stream:
            assert stream.get_extra_info("is_readable") is False
            assert stream.get_extra_info("server_addr")[0] == "127.0.0.1"
            assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
            assert stream.get_extra_info("ssl_object") is None
            done.set()
            for _ in range(500):
                if stream.get_extra_info("is_readable"):
                    break
                await asyncio.sleep(0.01)
            assert stream.get_extra_info("is_readable") is True

    run(main())


@pytest.fixture
def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for ``hooks.test`` and a client context trusting its CA."""
    trust, chain = certificates(tmp_path, "hooks.test")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain)
    return server, ssl.create_default_context(cafile=str(trust))


def test_tls_starts_on_the_connection_for_the_name_given(
    run: Any, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = tls_contexts

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    async def main() -> bytes:
        server, port = await _serving(echo, server_context)
        stream = await connect_tcp("127.0.0.1", port, 5.0, None, None)
        try:
            secure = await stream.start_tls(client_context, server_hostname="hooks.test", timeout=5.0)
            assert secure.get_extra_info("ssl_object").server_hostname == "hooks.test"
            await secure.write(b"over tls", timeout=5.0)
            got = await secure.read(100, timeout=5.0)
            await secure.aclose()
            return got
        finally:
            server.close()

    assert run(main()) == b"over tls"


def test_a_certificate_for_another_name_is_a_connect_error(
    run: Any, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = tls_contexts

    async def main() -> None:
        server, port = await _serving(_silent, server_context)
        stream = await connect_tcp("127.0.0.1", port, 5.0, None, None)
        try:
            with pytest.raises(httpcore.ConnectError) as caught:
                await stream.start_tls(client_context, server_hostname="other.test", timeout=5.0)
            assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
        finally:
            server.close()

    run(main())


def test_a_handshake_nobody_answers_is_a_connect_timeout(
    run: Any, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    _server_context, client_context = tls_contexts

    async def main() -> None:
        server, port = await _serving(_silent)  # plain TCP: the ClientHello goes unanswered
        stream = await connect_tcp("127.0.0.1", port, 5.0, None, None)
        try:
            with pytest.raises(httpcore.ConnectTimeout, match=r"^timed out in the TLS handshake$"):
                await stream.start_tls(client_context, server_hostname="hooks.test", timeout=0.2)
        finally:
            server.close()

    run(main())
