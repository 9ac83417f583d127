"""httpcore's network stream on asyncio's own transports, for the connections ``_CheckedBackend`` dials.

httpcore's own asyncio backend goes through anyio, which opens a cancel scope around every read,
write and connect (``fail_after``) and checks for cancellation at each: about a dozen scopes per
request on a new connection, a fifth of connector-http's Python per webhook call under 1000
concurrent calls (issue 13). Here a read that finds data buffered returns it at once, a write hands
the bytes to the transport, and only a wait (for data, for the transport to drain, for the
connection or the TLS handshake) runs under a timeout. On uvloop the transports are uvloop's.

What httpcore sees is what ``httpcore.AnyIOStream`` gives it: the same exceptions for the same
failures (``ReadTimeout``, ``WriteError``, ``ConnectError``, ... with the ``OSError`` chained),
``b""`` at the end of the stream, and the same ``get_extra_info`` keys.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import httpcore

T = TypeVar("T")

#: Reading pauses while this many bytes wait unread (a body nobody reads stays bounded).
_PAUSE_AT = 256 * 1024
_RESUME_AT = 64 * 1024

if sys.version_info >= (3, 11):

    async def _within(awaitable: Awaitable[T], timeout: float | None) -> T:
        async with asyncio.timeout(timeout):
            return await awaitable

else:  # asyncio.timeout is 3.11's

    async def _within(awaitable: Awaitable[T], timeout: float | None) -> T:
        return await asyncio.wait_for(awaitable, timeout)


class _Connection(asyncio.Protocol):
    """What the transport delivers: the bytes not read yet, the end of the stream, flow control."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False  # the peer closed its side, or the connection was lost
        self.lost: Exception | None = None  # why the connection was lost, when it failed
        self.reading_paused = False
        self.writing_paused = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= _PAUSE_AT and self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self.ended = True
        self._wake_reader()
        return None  # close the transport: HTTP/1.1 sends nothing after the peer's end

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.lost = exc
        self._wake_reader()
        self.writing_paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    def readable(self) -> asyncio.Future[None]:
        self._readable = asyncio.get_running_loop().create_future()
        return self._readable

    def writable(self) -> asyncio.Future[None]:
        self._writable = asyncio.get_running_loop().create_future()
        return self._writable

    def take(self, max_bytes: int) -> bytes:
        buffer = self.buffer
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if self.reading_paused and len(buffer) <= _RESUME_AT and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return data


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, plain or TLS, as httpcore reads and writes it."""

    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        if not connection.buffer and not connection.ended:
            try:
                await _within(connection.readable(), timeout)
            except asyncio.TimeoutError:  # TimeoutError itself from 3.11
                raise httpcore.ReadTimeout("timed out waiting for data") from None
        if connection.buffer:
            return connection.take(max_bytes)
        if connection.lost is not None:
            raise httpcore.ReadError(str(connection.lost)) from connection.lost
        return b""  # the end of the stream

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        connection = self._connection
        if connection.ended or self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed") from connection.lost
        self._transport.write(buffer)
        if connection.writing_paused:  # the transport's buffer is full: wait until it drains
            try:
                await _within(connection.writable(), timeout)
            except asyncio.TimeoutError:
                raise httpcore.WriteTimeout("timed out sending data") from None
            if connection.lost is not None:
                raise httpcore.WriteError(str(connection.lost)) from connection.lost

    async def aclose(self) -> None:
        # As anyio closes its streams: close, one turn of the loop for the transport to let its socket
        # go, then abort what is left (a TLS close_notify the peer never answers, unsent bytes).
        # Without the turn, a loop stopped right after leaves the socket to the garbage collector.
        transport = self._transport
        if not transport.is_closing():
            transport.close()
            await asyncio.sleep(0)
        transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            handshake = loop.start_tls(
                self._transport, self._connection, ssl_context, server_hostname=server_hostname
            )
            transport = await _within(handshake, timeout)
        except asyncio.TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (ssl.SSLError, OSError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # typed as optional; asyncio and uvloop return a transport or raise
            self._transport.close()
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._connection.transport = transport
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":  # an idle connection the peer closed or wrote to: not reusable
            return bool(self._connection.buffer) or self._connection.ended
        return None


async def connect_tcp(
    address: str,
    port: int,
    timeout: float | None,
    local_address: str | None,
    socket_options: Iterable[Any] | None,
) -> AsyncioStream:
    """A TCP connection to the IP ``address`` (already checked: no lookup here), as httpcore dials it."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        for option in socket_options or ():
            sock.setsockopt(*option)
        if local_address is not None:
            sock.bind((local_address, 0))
        await _within(loop.sock_connect(sock, (address, port)), timeout)
        transport, connection = await loop.create_connection(_Connection, sock=sock)
    except asyncio.TimeoutError:  # before OSError: from 3.11 TimeoutError is one
        sock.close()
        raise httpcore.ConnectTimeout("timed out connecting") from None
    except OSError as exc:
        sock.close()
        raise httpcore.ConnectError(str(exc)) from exc
    except BaseException:  # cancelled
        sock.close()
        raise
    return AsyncioStream(transport, connection)
