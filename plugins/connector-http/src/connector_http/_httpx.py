"""The httpx adapter: sends a ``Request`` on pooled connections whose every address the egress policy checked.

Thin on purpose: the decisions are the policy's (``_egress.py``). Here httpx is given a network
backend that looks each host up once, through the policy, and dials the address it checked (TLS
is still verified for the host name, which is also the SNI); one ``httpx.AsyncClient`` per event
loop and per set of allowed origins (``HttpClients``), so connections are reused across calls but
never across loops or policies; redirects httpx builds are followed only where the policy accepts
them, without reading their bodies; a body is read up to the limit and the deadline. Issue 13.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import os
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from email.message import Message
from itertools import filterfalse
from operator import attrgetter
from typing import Any

import anyio
import httpcore
import httpx
import sniffio

import connector

from ._egress import (
    MAX_BODY_VARIABLE,
    BodyTooLarge,
    Denied,
    EgressPolicy,
    Origin,
    OriginError,
    content_length,
    origin_of,
    read_bounded,
)
from ._exceptions import HttpConfigError, HttpRequestError, HttpResponseTooLargeError
from ._http import Credentials, Request, Response, parse_body, refused
from ._redact import is_credential_header
from ._streams import connect_tcp

#: Redirects followed for one request; the next 3xx is the answer.
MAX_REDIRECTS = 10
MAX_CONNECTIONS_VARIABLE = "CONNECTOR_HTTP_MAX_CONNECTIONS"
#: Connections open at once per client (to every origin together) unless CONNECTOR_HTTP_MAX_CONNECTIONS
#: says otherwise; a call beyond waits for one, up to its timeout. HTTP/1.1 carries one request at a
#: time, so this is also how many calls to one http:// origin are in flight at once: 1000 calls to an
#: endpoint that answers after a second take 10 s with 100 connections, 1 s with 1000 (issue 13).
DEFAULT_MAX_CONNECTIONS = 1000
#: The largest CONNECTOR_HTTP_MAX_CONNECTIONS accepted: each connection is a file descriptor.
MAX_CONNECTIONS_LIMIT = 65535
#: Seconds an idle connection is kept for the next call. Every idle connection is kept for that long
#: (up to the pool's size): a burst's connections are there for the next burst.
IDLE_SECONDS = 5.0

# The scheme of the request whose connection is being opened: httpcore tells a network backend the
# host and port only, and CONNECTOR_HTTP_ALLOW names origins (http://x:8443 is not https://x:8443).
# httpcore opens a connection in the task of the request that needs it, so the variable is that
# request's.
_SCHEME: contextvars.ContextVar[str] = contextvars.ContextVar("connector_http_scheme")


def max_connections(environ: Mapping[str, str] | None = None) -> int:
    """CONNECTOR_HTTP_MAX_CONNECTIONS: connections a client may have open at once (default 1000).

    Raises ``connector.ConfigurationError`` naming the variable when the value is not a whole number
    from 1 to 65535.
    """
    env = os.environ if environ is None else environ
    return _max_connections(env.get(MAX_CONNECTIONS_VARIABLE, ""))


@functools.lru_cache(maxsize=8)
def _max_connections(value: str) -> int:
    text = value.strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_CONNECTIONS
    if not text.isdigit() or not 1 <= int(text) <= MAX_CONNECTIONS_LIMIT:
        raise connector.ConfigurationError(
            f"{MAX_CONNECTIONS_VARIABLE}: {value!r} is not a whole number of connections from 1 to "
            f"{MAX_CONNECTIONS_LIMIT} (for example {MAX_CONNECTIONS_VARIABLE}=200; the default is "
            f"{DEFAULT_MAX_CONNECTIONS})"
        )
    return int(text)


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy resolved and checked.

    The name is looked up once, here, and every address it gives is checked before any is tried;
    the connection is made to the address, never to the name again (a second lookup could answer
    differently: DNS rebinding). TLS starts later, on the stream returned, for the host name.
    """

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        origin = Origin.of(_SCHEME.get(), host, port)
        resolve = functools.partial(self._policy.resolve, origin, host=host)
        try:
            if origin.address is not None:
                # An IP address: getaddrinfo only parses it, without a lookup, so the same checks run
                # here rather than in a thread. anyio lends 40 threads at once: a burst of a thousand
                # new connections queued for them, a thread hop each (issue 13).
                candidates = resolve()
            else:
                # In a thread: getaddrinfo blocks. Abandoned when the call is cancelled, since a
                # lookup cannot be interrupted. Not under the connect timeout, as before: the refusal
                # of a name that resolves to a refused address does not depend on how short a
                # timeout is.
                candidates = await anyio.to_thread.run_sync(resolve, abandon_on_cancel=True)
        except OSError as exc:  # the name does not resolve; Denied goes up as it is
            raise httpcore.ConnectError(str(exc)) from None
        error: Exception | None = None
        for _family, _kind, _proto, sockaddr in candidates:
            try:
                return await connect_tcp(str(sockaddr[0]), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # resolve() returns at least one address
        if isinstance(error, httpcore.ConnectTimeout):
            raise error
        raise httpcore.ConnectError(_root_cause(error)) from None

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("connector-http connects to checked TCP addresses only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _root_cause(error: BaseException) -> str:
    # anyio says "All connection attempts failed" and chains the OSError that says why; asyncio's
    # text for it names the address dialled ("Connect call failed ('127.0.0.1', 8080)"), so the
    # system's words for the errno are shown instead: "[Errno 111] Connection refused".
    while error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, OSError) and error.errno is not None:
        return f"[Errno {error.errno}] {os.strerror(error.errno)}"
    return str(error)


_OriginKey = tuple[bytes, bytes, int]  # httpcore.Origin is not hashable


def _key(origin: httpcore.Origin) -> _OriginKey:
    return (origin.scheme, origin.host, origin.port)


_connection_of = attrgetter("connection")


class _Requests(list):  # type: ignore[type-arg]
    """The pool's requests; one removed (its response closed, or it failed) frees its connection."""

    def __init__(self, pool: _Pool) -> None:
        super().__init__()
        self._pool = pool

    def remove(self, value: Any) -> None:
        super().remove(value)
        if value.connection is not None:
            self._pool._may_be_free(value.request.url.origin, value.connection)


class _Pool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool, doing work per request that does not grow with the pool.

    httpcore 1.0 reassigns requests to connections whenever a request arrives or ends: it asks every
    connection whether it has expired (for an idle HTTP/1.1 one, a poll of its socket), scans every
    connection for each queued request, and for each idle connection counts all of them again
    (encode/httpcore#1000). With a thousand connections that was most of the service's CPU (issue 13).
    The rules here are httpcore's, asked of fewer connections:

    - a queued request, oldest first, takes an available connection to its origin, once that one is
      checked not to have expired (the server closed it, or it was idle too long: it is closed and
      another is tried); else a new connection while the pool has room; else a new one in place of
      an idle connection to another origin; else it waits;
    - the available connections are looked for among those that may be: the ones a request has
      finished with, and new ones that may turn out HTTP/2 (``https://``), per origin; an
      ``http://`` one is given to one request, then waits until that request finishes with it;
    - every connection is looked at (closed ones dropped, expired ones closed, idle ones beyond
      ``max_keepalive_connections`` closed) at most every ``SWEEP_SECONDS``, and when the pool is
      full and a request needs room.
    """

    #: How often, at most, every connection is looked at for one to drop.
    SWEEP_SECONDS = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requests = _Requests(self)
        self._free: dict[_OriginKey, dict[int, httpcore.AsyncConnectionInterface]] = {}
        # http:// connections given to a request that has not finished with them: idle until it
        # starts, but not free.
        self._handed: set[int] = set()
        self._next_sweep = 0.0

    def _may_be_free(self, origin: httpcore.Origin, connection: httpcore.AsyncConnectionInterface) -> None:
        self._free.setdefault(_key(origin), {})[id(connection)] = connection
        self._handed.discard(id(connection))

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        if time.monotonic() >= self._next_sweep:
            self._sweep(closing)
        # The requests without a connection (AsyncPoolRequest.is_queued()), found in C: the pool's
        # requests are scanned twice a call, hundreds of them in a burst (issue 13). A connection
        # is never false (httpcore's define neither __bool__ nor __len__; a test checks ours).
        queued = list(filterfalse(_connection_of, self._requests))
        assigned: set[int] = set()
        swept = False
        for pool_request in queued:
            origin = pool_request.request.url.origin
            connection = self._available(origin, closing)
            if connection is None:
                if len(self._connections) >= self._max_connections and not swept:
                    self._sweep(closing)  # closed or expired connections may be holding the room
                    swept = True
                if len(self._connections) >= self._max_connections:
                    victim = next(
                        (
                            c
                            for c in self._connections
                            if c.is_idle()
                            and not c.can_handle_request(origin)
                            and id(c) not in assigned
                            and id(c) not in self._handed
                        ),
                        None,
                    )
                    if victim is None:
                        continue  # waits until a connection frees up
                    self._connections.remove(victim)
                    closing.append(victim)
                connection = self.create_connection(origin)
                self._connections.append(connection)
                if connection.is_available():  # an https:// one, which may turn out HTTP/2: shared
                    self._may_be_free(origin, connection)
            assigned.add(id(connection))
            pool_request.assign_to_connection(connection)
        return closing

    def _available(
        self, origin: httpcore.Origin, closing: list[httpcore.AsyncConnectionInterface]
    ) -> httpcore.AsyncConnectionInterface | None:
        free = self._free.get(_key(origin))
        while free:
            ident, connection = next(iter(free.items()))
            if connection.is_available() and connection.can_handle_request(origin):
                if not connection.has_expired():
                    if origin.scheme == b"http":
                        # HTTP/1.1 (no h2c): one request at a time. It still says it is available
                        # until its request starts, so each request of a burst would be given it
                        # and all but one sent back to queue again (ConnectionNotAvailable).
                        del free[ident]
                        self._handed.add(ident)
                    # An https:// one is kept: HTTP/2 takes more requests (one that turns out
                    # HTTP/1.1 sends the extra ones back, as in httpcore).
                    return connection
                self._connections.remove(connection)
                closing.append(connection)
            del free[ident]
        return None

    def _sweep(self, closing: list[httpcore.AsyncConnectionInterface]) -> None:
        self._next_sweep = time.monotonic() + self.SWEEP_SECONDS
        kept: list[httpcore.AsyncConnectionInterface] = []
        idle: list[httpcore.AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            if connection.has_expired():
                closing.append(connection)
                continue
            if connection.is_idle():
                idle.append(connection)
            kept.append(connection)
        limit = self._max_keepalive_connections
        if limit is not None and len(idle) > limit:
            surplus = {id(connection) for connection in idle[: len(idle) - limit]}
            closing.extend(connection for connection in kept if id(connection) in surplus)
            kept = [connection for connection in kept if id(connection) not in surplus]
        self._connections = kept
        ids = {id(connection) for connection in kept}
        self._handed &= ids
        for origin, free in list(self._free.items()):
            free = {ident: c for ident, c in free.items() if ident in ids}
            if free:
                self._free[origin] = free
            else:
                del self._free[origin]


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that dials through ``_CheckedBackend``."""

    def __init__(self, policy: EgressPolicy, tls: ssl.SSLContext, size: int) -> None:
        limits = httpx.Limits(
            max_connections=size, max_keepalive_connections=size, keepalive_expiry=IDLE_SECONDS
        )
        # HTTP/1.1 only: httpcore (1.0) leaves an HTTP/2 stream whose body is not read to its end
        # unacknowledged, so one abandoned answer (over the size limit, cancelled) can fill the
        # shared connection's window and stall every later call to that origin (issue 13 review).
        super().__init__(verify=tls, trust_env=False, http2=False, limits=limits)
        # httpx (0.28) takes no network backend: its pool is replaced by the same pool with ours.
        self._pool = _Pool(
            ssl_context=tls,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_CheckedBackend(policy),
        )

    def open_connections(self) -> int:
        """How many of the pool's connections are open, idle or busy (a closed one is dropped later)."""
        return sum(not connection.is_closed() for connection in self._pool.connections)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        token = _SCHEME.set(request.url.scheme)
        try:
            return await super().handle_async_request(request)
        finally:
            _SCHEME.reset(token)


class _KeepsNoCookies(httpx.Cookies):
    """No cookie, and none taken from a response: a template's own Cookie header is all that is sent.

    The client is shared by every call of the process, so a cookie one call's remote set must
    never ride along on another task's call (issue 13 review). httpx hands every response to its
    cookies' ``extract_cookies``, which wraps it for the standard library's cookie jar (a urllib
    request, an email message: about 1,000 bytecodes a call); here it reads nothing.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.AsyncClient):
    """httpx's client whose cookies are always ``_KeepsNoCookies`` (they cannot be replaced)."""

    _no_cookies = _KeepsNoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise AttributeError("the shared HTTP client keeps no cookies: send a Cookie header instead")


def _client(allow: frozenset[Origin], size: int) -> tuple[httpx.AsyncClient, _CheckedTransport]:
    # A context as urllib made one: the system's trust store, or SSL_CERT_FILE / SSL_CERT_DIR (httpx
    # would default to certifi's).
    transport = _CheckedTransport(EgressPolicy(allow=allow), ssl.create_default_context(), size)
    client = _Client(
        transport=transport,
        # No proxy from the environment: it would be connected to, and checked, instead of the
        # destination.
        trust_env=False,
        follow_redirects=False,  # send() follows them (see _exchange)
        # The body as sent is what CONNECTOR_HTTP_MAX_BODY counts: a compressed one could expand
        # past any bound in one chunk.
        headers={"Accept-Encoding": "identity"},
    )
    return client, transport


@dataclasses.dataclass
class _LoopClients:
    clients: dict[tuple[Any, ...], tuple[httpx.AsyncClient, _CheckedTransport]] = dataclasses.field(
        default_factory=dict
    )
    closer: AsyncGenerator[None, None] | None = None


class HttpClients:
    """The ``httpx.AsyncClient`` of each event loop, built at its first call and shared by the next ones.

    An AsyncClient's connections belong to the loop they were opened on, so each loop (the
    service's one, each ``asyncio.run`` of ``connector run`` or a test) gets its own. Clients are
    also kept apart by the allowed origins (``CONNECTOR_HTTP_ALLOW``), which decide which addresses
    a pooled connection may have been opened to, by ``CONNECTOR_HTTP_MAX_CONNECTIONS``, the size of
    its pool, and by ``SSL_CERT_FILE``/``SSL_CERT_DIR``, which decide what it trusts. A loop's
    clients are closed when it shuts down its async generators (as
    ``asyncio.run`` and ``asyncio.Runner`` do before closing it). Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loops: dict[asyncio.AbstractEventLoop, _LoopClients] = {}

    async def get(self, policy: EgressPolicy) -> httpx.AsyncClient:
        """The client of the running loop for ``policy``'s allowed origins (built now if there is none)."""
        loop = asyncio.get_running_loop()
        size = max_connections()
        key = (policy.allow, size, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        with self._lock:
            # A loop closed without shutting down its async generators: nothing can close its
            # clients any more; forget them.
            for closed in [other for other in self._loops if other.is_closed()]:
                del self._loops[closed]
            entry = self._loops.setdefault(loop, _LoopClients())
            if key not in entry.clients:
                entry.clients[key] = _client(policy.allow, size)
            client = entry.clients[key][0]
            start = entry.closer is None
            if start:
                entry.closer = self._closer(loop, entry)
        if start:
            assert entry.closer is not None
            # Started here, so the loop knows it and closes it at shutdown_asyncgens(); held by
            # entry, since the loop keeps only a weak reference.
            await entry.closer.asend(None)
        return client

    async def _closer(
        self, loop: asyncio.AbstractEventLoop, entry: _LoopClients
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                if self._loops.get(loop) is entry:
                    del self._loops[loop]
                clients = list(entry.clients.values())
            for client, _transport in clients:
                await client.aclose()

    def loops(self) -> int:
        """How many event loops have clients now; for tests."""
        with self._lock:
            return len(self._loops)

    def open_connections(self) -> int:
        """How many connections the clients of the running loop hold (idle or busy); for tests."""
        entry = self._loops.get(asyncio.get_running_loop())
        if entry is None:
            return 0
        return sum(transport.open_connections() for _client, transport in entry.clients.values())


async def send(
    request: Request,
    *,
    timeout: float,
    credentials: Credentials,
    policy: EgressPolicy,
    task: str,
    clients: HttpClients,
    follow_redirects: bool = True,
) -> Response:
    """Send ``request`` with ``credentials`` on a pooled connection; any status is returned as a ``Response``.

    With ``follow_redirects=False`` a 3xx is the answer (flytekit's webhook, as httpx, follows none).
    ``timeout`` limits each wait (a connection, the answer), and reading the body stops once that
    long has passed since the request began. A cancelled call closes its connection.

    Raises ``HttpEgressError`` when the policy refuses the destination (or a redirect's), nothing
    sent to it; ``HttpResponseTooLargeError`` when a 2xx body is over the limit; ``HttpRequestError``
    when no answer comes. Every message has the credentials masked, and no exception of the client,
    whose text the remote may choose, is chained to them.
    """
    what = f"{request.method} {request.url}"
    redact = credentials.redact
    # anyio asks sniffio which event loop runs at every cancel scope it makes, dozens a request, and
    # sniffio finds asyncio by importing it and asking for the current task each time: asked once
    # here and kept in this task's context, it is answered at once (issue 13).
    sniffio.current_async_library_cvar.set(sniffio.current_async_library())
    try:
        policy.check_literal(origin_of(request.url))
    except OriginError as exc:  # check_request() refuses such URLs first; kept for direct callers
        raise HttpConfigError(f"{task}: {what} is not a URL connector-http can send: {exc}") from None
    except Denied as denied:
        raise refused(denied, task=task, what=what) from None
    headers = {**request.headers, **credentials.headers}
    data = request.body.encode() if request.body is not None else None
    if data is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "text/plain; charset=utf-8"
    deadline = time.monotonic() + timeout

    def timed_out() -> HttpRequestError:
        return HttpRequestError(f"{task}: {what} timed out after {timeout:g}s", url=request.url)

    def failed(reason: object) -> HttpRequestError:
        # One line: the reason may quote the remote (a bad status line), line breaks and all.
        text = " ".join(redact(str(reason)).split())
        return HttpRequestError(redact(f"{task}: {what} failed: {text}"), url=request.url)

    client = await clients.get(policy)
    try:
        outgoing = client.build_request(
            request.method,
            parsed_url(request.url),
            # Latin-1, as the checks allow (httpx would encode str values as ASCII).
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
            content=data,
            timeout=timeout,
        )
    except httpx.InvalidURL as exc:
        raise HttpConfigError(f"{task}: {what} is not a URL connector-http can send: {exc}") from None
    followed: list[str] = []
    response: httpx.Response | None = None
    try:
        response, reason = await _exchange(client, outgoing, policy, credentials, follow_redirects, followed)
        status = response.status_code
        reason = redact(reason)
        ok = 200 <= status < 300
        # Read once: each lookup in httpx's Headers scans and decodes them all again.
        headers = _header_dict(response.headers)
        # A HEAD answer's Content-Length is that of a body it does not send.
        declared = None if request.method == "HEAD" else content_length(headers.get("content-length"))
        try:
            with anyio.fail_after(max(deadline - time.monotonic(), 0)):
                # An error's body is only quoted: its start is enough.
                body = await read_bounded(
                    response.aiter_raw(), policy.max_body, declared=declared, truncate=not ok
                )
        except BodyTooLarge as exc:
            raise HttpResponseTooLargeError(
                f"{task}: {what} answered {status} {reason} with a body over the limit of {exc.limit} "
                f"bytes; reading stopped there (the limit is set by {MAX_BODY_VARIABLE})",
                url=request.url,
                limit=exc.limit,
            ) from None
        return _response(status, reason, headers, body, credentials)
    except Denied as denied:
        raise refused(denied, task=task, what=what, redirect=followed[-1] if followed else None) from None
    except (TimeoutError, httpx.TimeoutException):
        raise timed_out() from None
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:  # a reset, a bad status line, ...
        raise failed(exc) from None
    finally:
        if response is not None:
            # Also when cancelled (the service's deadline): an unread body's connection is closed,
            # not handed to the next call.
            await response.aclose()


_REDIRECTED_METHODS = frozenset({"GET", "HEAD", "POST"})


async def _exchange(
    client: httpx.AsyncClient,
    outgoing: httpx.Request,
    policy: EgressPolicy,
    credentials: Credentials,
    follow: bool,
    followed: list[str],
) -> tuple[httpx.Response, str]:
    """The final answer (its body unread) and its reason phrase, after the redirects the policy lets through.

    httpx builds each redirect (``next_request``: the URL joined, the method and body as RFC 9110
    says); it is followed here rather than by httpx's ``follow_redirects``, which reads every
    redirect's whole body first, however large. A redirect to a URL ``origin_of`` refuses (another
    scheme, a user name, ...) is not followed: the 3xx is the answer. Credential headers are dropped
    when the origin changes. Each URL followed is appended to ``followed``; the destination's
    addresses are checked when its connection opens, like any other.
    """
    sent_credentials = {name.lower() for name in credentials.headers}
    while True:
        response = await client.send(outgoing, stream=True)
        # Only GET, HEAD and POST are redirected, as before: httpx would turn a DELETE answered
        # 302 into a GET (a cancel reported done that never happened) and repeat a PUT's body on
        # a 301 to wherever it points.
        target = response.next_request if follow and outgoing.method in _REDIRECTED_METHODS else None
        if target is None:
            return response, response.reason_phrase
        location = str(target.url)
        try:
            destination = origin_of(location)
        except OriginError:
            return response, f"{response.reason_phrase} - Redirection to url '{location}' is not allowed"
        if len(followed) == MAX_REDIRECTS:
            return response, f"{response.reason_phrase} - {MAX_REDIRECTS} redirects were followed already"
        await response.aclose()  # nothing needs a redirect's body
        followed.append(location)
        policy.check_literal(destination)
        if destination != origin_of(str(outgoing.url)):
            for name in [
                name for name in target.headers if name in sent_credentials or is_credential_header(name)
            ]:
                del target.headers[name]
        elif "cookie" in outgoing.headers and "cookie" not in target.headers:
            # httpx drops Cookie on every redirect (for its cookie jar, which keeps nothing here).
            target.headers["Cookie"] = outgoing.headers["Cookie"]
        outgoing = target


def _response(
    status: int, reason: str, headers: dict[str, str], body: bytes, credentials: Credentials
) -> Response:
    content_type, charset = _media_type(headers.get("content-type"))
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: read it as UTF-8 rather than fail
        text = body.decode("utf-8", errors="replace")
    is_json = content_type == "application/json" or content_type.endswith("+json")
    data = parse_body(text, is_json=is_json)
    return Response(status, reason, headers, text, data, is_json, credentials.redact)


# Cached, and bounded: the standard library's parser is Python (about 700 bytecodes a response,
# issue 13), and a remote answers with a few Content-Types, mostly one.
@functools.lru_cache(maxsize=256)
def _media_type(value: str | None) -> tuple[str, str | None]:
    """The type and charset of a Content-Type, read as the standard library reads it (none: text/plain)."""
    parsed = Message()
    if value is not None:
        parsed["Content-Type"] = value
    return parsed.get_content_type(), parsed.get_content_charset()


def parsed_url(text: str) -> httpx.URL:
    """``httpx.URL(text)``, kept for the next request to a URL without a query.

    httpx parses a URL given as text in Python, character by character (about 1,450 bytecodes a
    request, issue 13), and a connector sends to a few URLs, mostly one; an ``httpx.URL`` is
    immutable, so one serves every request to it. A URL with a query is parsed each time: its query
    may carry a credential, which a process-wide cache would keep after the call.
    """
    return httpx.URL(text) if "?" in text else _parsed_without_query(text)


@functools.lru_cache(maxsize=1024)
def _parsed_without_query(text: str) -> httpx.URL:
    return httpx.URL(text)


def _header_dict(headers: httpx.Headers) -> dict[str, str]:
    # Lower-cased names: header names are case-insensitive; repeated headers are joined as RFC 9110 allows.
    merged: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged
