"""The urllib adapter: sends a ``Request`` over connections whose every address the egress policy checked.

Thin on purpose (issue 13 moves connector-http to httpx): the decisions are the policy's
(``_egress.py``); here urllib is told to connect to the addresses the policy resolved and checked,
to follow only redirects the policy accepts, to read no more than the body limit, and to ignore
proxies, file:, ftp: and data: URLs.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from email.message import Message
from typing import IO, Any

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


def send(
    request: Request,
    *,
    timeout: float,
    credentials: Credentials,
    policy: EgressPolicy,
    task: str,
    follow_redirects: bool = True,
) -> Response:
    """Send ``request`` with ``credentials``; any status is returned as a ``Response``.

    With ``follow_redirects=False`` a 3xx is the answer (flytekit's webhook, as httpx, follows none).

    Raises ``HttpEgressError`` when the policy refuses the destination (or a redirect's), nothing
    sent to it; ``HttpResponseTooLargeError`` when a 2xx body is over the limit; ``HttpRequestError``
    when no answer comes. Every message has the credentials masked, and no exception of the client,
    whose text the remote may choose, is chained to them.
    """
    what = f"{request.method} {request.url}"
    redact = credentials.redact
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
    outgoing = urllib.request.Request(request.url, data=data, headers=headers, method=request.method)
    redirects = _Redirects(credentials.headers)
    opener = _opener(policy, redirects if follow_redirects else None)
    deadline = time.monotonic() + timeout

    def timed_out() -> HttpRequestError:
        return HttpRequestError(f"{task}: {what} timed out after {timeout:g}s", url=request.url)

    def failed(reason: object) -> HttpRequestError:
        # One line: the reason may quote the remote (a bad status line), line breaks and all.
        text = " ".join(redact(str(reason)).split())
        return HttpRequestError(redact(f"{task}: {what} failed: {text}"), url=request.url)

    answer: Any
    try:
        answer = opener.open(outgoing, timeout=timeout)
    except urllib.error.HTTPError as exc:  # a non-2xx answer is still an answer
        answer = exc
    except Denied as denied:
        followed = redirects.followed[-1] if redirects.followed else None
        raise refused(denied, task=task, what=what, redirect=followed) from None
    except TimeoutError:
        raise timed_out() from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise timed_out() from None
        raise failed(exc.reason) from None
    except (OSError, http.client.HTTPException) as exc:  # a reset, a bad status line, ...
        raise failed(exc) from None
    try:
        status = answer.code if isinstance(answer, urllib.error.HTTPError) else answer.status
        reason = redact(str(answer.reason))
        ok = 200 <= status < 300
        # A HEAD answer's Content-Length is that of a body it does not send.
        declared = None if request.method == "HEAD" else content_length(answer.headers.get("Content-Length"))
        try:
            body = read_bounded(
                # read1: what one receive brings, so the deadline is looked at between receives
                # (read(n) waits for all n bytes, however slowly they trickle in).
                answer.read1,
                policy.max_body,
                declared=declared,
                truncate=not ok,  # an error's body is only quoted: its start is enough
                deadline=deadline,
            )
        except BodyTooLarge as exc:
            raise HttpResponseTooLargeError(
                f"{task}: {what} answered {status} {reason} with a body over the limit of {exc.limit} "
                f"bytes; reading stopped there (the limit is set by {MAX_BODY_VARIABLE})",
                url=request.url,
                limit=exc.limit,
            ) from None
        except TimeoutError:
            raise timed_out() from None
        except (OSError, http.client.HTTPException) as exc:
            raise failed(exc) from None
        return _response(status, reason, answer.headers, body, credentials)
    finally:
        answer.close()


def _response(status: int, reason: str, headers: Message, body: bytes, credentials: Credentials) -> Response:
    content_type = headers.get_content_type()
    try:
        text = body.decode(headers.get_content_charset() or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: read it as UTF-8 rather than fail
        text = body.decode("utf-8", errors="replace")
    is_json = content_type == "application/json" or content_type.endswith("+json")
    data = parse_body(text, is_json=is_json)
    return Response(status, reason, _header_dict(headers), text, data, is_json, credentials.redact)


def _header_dict(headers: Message) -> dict[str, str]:
    # Lower-cased names: header names are case-insensitive; repeated headers are joined as RFC 9110 allows.
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _opener(policy: EgressPolicy, redirects: _Redirects | None) -> urllib.request.OpenerDirector:
    # Built by hand, not with build_opener: no ProxyHandler (a proxy would be checked instead of the
    # destination), no FileHandler, FTPHandler or DataHandler (forged file:// and ftp:// URLs were
    # opened, issue 9). An unknown scheme meets UnknownHandler's "unknown url type". Without a
    # redirect handler, HTTPDefaultErrorHandler turns a 3xx into the HTTPError send() answers with.
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.UnknownHandler(),
        _CheckedHandler(policy),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    if redirects is not None:
        handlers.append(redirects)
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def _connect(policy: EgressPolicy, scheme: str, host: str, port: int, timeout: object) -> socket.socket:
    """A TCP connection to one of the addresses the policy resolved and checked for this origin.

    Like ``socket.create_connection``, but the name is looked up once, here, and every address it
    gives is checked before any is tried: a second lookup could answer differently (DNS rebinding).
    """
    candidates = policy.resolve(Origin.of(scheme, host, port), host=host)
    error: OSError | None = None
    for family, kind, proto, sockaddr in candidates:
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        with contextlib.suppress(OSError):  # as http.client: not every socket supports it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    assert error is not None  # resolve() returns at least one address
    raise error


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """``http.client``'s connection, connecting only to addresses the policy checked."""

    def __init__(self, host: str, *, policy: EgressPolicy, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._policy = policy

    def connect(self) -> None:
        self.sock = _connect(self._policy, "http", self.host, self.port, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """The TLS one: the checked address is connected to; the certificate is verified for the host name."""

    def __init__(self, host: str, *, policy: EgressPolicy, context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(host, context=context, **kwargs)
        self._policy = policy
        self._tls = context

    def connect(self) -> None:
        sock = _connect(self._policy, "https", self.host, self.port, self.timeout)
        try:
            # server_hostname: SNI and certificate verification use the name, not the address.
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class _CheckedHandler(urllib.request.AbstractHTTPHandler):
    """Opens http:// and https:// URLs with the checked connections."""

    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__()
        self._policy = policy

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_CheckedHTTPConnection, policy=self._policy), req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        # A context per connection, as urllib makes one: it reads SSL_CERT_FILE and SSL_CERT_DIR then.
        context = ssl.create_default_context()
        connection = functools.partial(_CheckedHTTPSConnection, policy=self._policy, context=context)
        return self.do_open(connection, req)

    http_request = urllib.request.AbstractHTTPHandler.do_request_
    https_request = urllib.request.AbstractHTTPHandler.do_request_


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib, to http(s) URLs only, and keeps credentials on their origin.

    A redirect to any other scheme, or to a URL ``origin_of`` refuses, is not followed: the 3xx is
    the answer, as urllib answers a redirect to ``file:``. urllib copies every header to the
    redirect's target, so a redirect to another origin would hand it the secret: as browsers and
    requests do, credential headers are dropped when the scheme, host or port changes. The
    destination's addresses are checked when its connection opens, like any other.
    """

    def __init__(self, credential_headers: Iterable[str]) -> None:
        self._credentials = {name.lower() for name in credential_headers}
        #: The URLs followed, in order.
        self.followed: list[str] = []

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            target = origin_of(newurl)
        except OriginError:
            refusal = f"{msg} - Redirection to url '{newurl}' is not allowed"
            raise urllib.error.HTTPError(req.full_url, code, refusal, headers, fp) from None
        follow = super().redirect_request(req, fp, code, msg, headers, newurl)
        if follow is None:
            return None
        if target != origin_of(req.full_url):
            for name in [name for name in follow.headers if self._is_credential(name)]:
                follow.remove_header(name)
        # urllib reads the whole body of a redirect before following it; its size is the remote's
        # choice (issue 9), and nothing needs it.
        fp.close()
        self.followed.append(newurl)
        return follow

    def _is_credential(self, name: str) -> bool:
        return name.lower() in self._credentials or is_credential_header(name)
