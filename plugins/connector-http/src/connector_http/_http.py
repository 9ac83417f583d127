"""Requests as plain data, read from custom fields, and sent with urllib (standard library only)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from email.message import Message
from typing import IO, Any

import connector

from ._exceptions import HttpConfigError, HttpRequestError

#: Seconds a request may take when the template does not say.
DEFAULT_TIMEOUT = 30.0
#: How much of a response body an error message quotes.
EXCERPT = 200
_MISSING = object()


@dataclasses.dataclass
class Request:
    """One HTTP request, ready to send: the body is already text, its Content-Type among the headers."""

    method: str
    url: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: str | None = None


@dataclasses.dataclass
class Auth:
    """Where the credential comes from: the secret named ``secret``, sent as ``header: scheme value``."""

    secret: str
    header: str = "Authorization"
    scheme: str = "Bearer"


@dataclasses.dataclass
class Response:
    """What a server answered; ``data`` is the parsed body when it is JSON, else the text."""

    status: int
    reason: str
    headers: dict[str, str]
    text: str
    data: Any
    is_json: bool


def read_request(
    custom: Mapping[str, Any], *, task: str, prefix: str = "", default_method: str | None = None
) -> Request:
    """A ``Request`` from the fields ``url``, ``method``, ``headers`` and ``body`` of ``custom``.

    ``prefix`` names where ``custom`` sits in the template (``"status."``) for error messages. A
    body that is not a string is sent as JSON. Raises ``HttpConfigError`` naming the field.
    """
    url = custom.get("url")
    if url is None:
        raise HttpConfigError(f"{task}: the custom field '{prefix}url' is required")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise HttpConfigError(
            f"{task}: the custom field '{prefix}url' must be an http:// or https:// URL; got {url!r}"
        )
    body = custom.get("body")
    method = custom.get("method") or default_method or ("POST" if body is not None else "GET")
    if not isinstance(method, str) or not method.isalpha():
        raise HttpConfigError(
            f"{task}: the custom field '{prefix}method' must be an HTTP method; got {method!r}"
        )
    headers = read_headers(custom.get("headers"), task=task, field=f"{prefix}headers")
    text: str | None
    if body is None or isinstance(body, str):
        text = body
    else:
        try:
            text = json.dumps(body)
        except (TypeError, ValueError) as exc:
            raise HttpConfigError(
                f"{task}: the custom field '{prefix}body' cannot be sent as JSON: {exc}"
            ) from exc
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    return Request(method.upper(), url, headers, text)


def read_headers(value: object, *, task: str, field: str) -> dict[str, str]:
    """Headers from a custom field: a mapping of strings to strings (or None)."""
    if value is None:
        return {}
    # The values are not quoted in the messages: a header may carry a token.
    if not isinstance(value, Mapping):
        raise HttpConfigError(
            f"{task}: the custom field '{field}' must map header names to strings; got {type(value).__name__}"
        )
    for name, header in value.items():
        if not isinstance(name, str) or not isinstance(header, str):
            raise HttpConfigError(
                f"{task}: the custom field '{field}' must map header names to strings; "
                f"got {name!r}: {type(header).__name__}"
            )
    return dict(value)


def read_timeout(custom: Mapping[str, Any], *, task: str) -> float:
    """The ``timeout`` custom field in seconds (a positive number), or the default."""
    value = custom.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise HttpConfigError(
            f"{task}: the custom field 'timeout' must be a positive number of seconds; got {value!r}"
        )
    return float(value)


def read_auth(custom: Mapping[str, Any], *, task: str) -> Auth | None:
    """The auth convention: ``auth_secret`` names a secret, sent as ``auth_header: auth_scheme <secret>``."""
    secret = custom.get("auth_secret")
    if secret is None:
        return None
    header = custom.get("auth_header", "Authorization")
    scheme = custom.get("auth_scheme", "Bearer")
    for name, value in (("auth_secret", secret), ("auth_header", header), ("auth_scheme", scheme)):
        if not isinstance(value, str) or (name != "auth_scheme" and not value):
            raise HttpConfigError(
                f"{task}: the custom field '{name}' must be a non-empty string; got {value!r}"
            )
    return Auth(secret, header, scheme)


def auth_headers(auth: Auth | None, connection: connector.Connection, *, task: str) -> dict[str, str]:
    """The header carrying the secret: from the connection's secrets, else the environment or secrets dir."""
    if auth is None:
        return {}
    value = connection.secrets.get(auth.secret)
    if value is None:
        try:
            value = connector.get_connector_secret(auth.secret)
        except connector.ConfigurationError as exc:
            raise HttpConfigError(
                f"{task}: the secret {auth.secret!r} (custom field 'auth_secret') is not among the "
                f"connection's secrets, and {exc}"
            ) from None
    return {auth.header: f"{auth.scheme} {value}" if auth.scheme else value}


def send(request: Request, *, timeout: float, extra_headers: Mapping[str, str], task: str) -> Response:
    """Send ``request``; any status is returned. Raises ``HttpRequestError`` when no answer comes."""
    headers = {**request.headers, **extra_headers}
    data = request.body.encode() if request.body is not None else None
    if data is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "text/plain; charset=utf-8"
    outgoing = urllib.request.Request(request.url, data=data, headers=headers, method=request.method)
    opener = urllib.request.build_opener(_Redirects(extra_headers))
    what = f"{request.method} {request.url}"
    try:
        with opener.open(outgoing, timeout=timeout) as answer:
            return _response(answer.status, answer.reason, answer.headers, answer.read())
    except urllib.error.HTTPError as exc:  # a non-2xx answer is still an answer
        with exc:
            return _response(exc.code, exc.reason, exc.headers, exc.read())
    except TimeoutError as exc:
        raise HttpRequestError(f"{task}: {what} timed out after {timeout:g}s", url=request.url) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise HttpRequestError(f"{task}: {what} timed out after {timeout:g}s", url=request.url) from exc
        raise HttpRequestError(f"{task}: {what} failed: {exc.reason}", url=request.url) from exc
    except OSError as exc:  # a connection reset while reading, for one
        raise HttpRequestError(f"{task}: {what} failed: {exc}", url=request.url) from exc


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib, but sends credentials only to the origin they were meant for.

    urllib copies every header to the redirect's target, so a redirect to another host (or from
    https to http) would hand it the secret: as browsers and requests do, the credential headers
    are dropped when the scheme, host or port changes.
    """

    def __init__(self, secret_headers: Iterable[str]) -> None:
        self._secret = {"authorization", "proxy-authorization", *(name.lower() for name in secret_headers)}

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        follow = super().redirect_request(req, fp, code, msg, headers, newurl)
        if follow is not None and _origin(follow.full_url) != _origin(req.full_url):
            for name in [name for name in follow.headers if name.lower() in self._secret]:
                follow.remove_header(name)
        return follow


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _response(status: int, reason: str, headers: Message, body: bytes) -> Response:
    content_type = headers.get_content_type()
    try:
        text = body.decode(headers.get_content_charset() or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: read it as UTF-8 rather than fail
        text = body.decode("utf-8", errors="replace")
    is_json = content_type == "application/json" or content_type.endswith("+json")
    data: Any = text
    if is_json:
        try:
            data = json.loads(text)
        except ValueError as exc:
            return Response(status, reason, _header_dict(headers), text, _InvalidJson(str(exc)), True)
    return Response(status, reason, _header_dict(headers), text, data, is_json)


def _header_dict(headers: Message) -> dict[str, str]:
    # Lower-cased names: header names are case-insensitive; repeated headers are joined as RFC 9110 allows.
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


@dataclasses.dataclass(frozen=True)
class _InvalidJson:
    """Stands for a body that claims to be JSON but does not parse; ``error`` says why."""

    error: str


def invalid_json(response: Response) -> str | None:
    """Why the body of a JSON response does not parse, or None when it parsed (or is not JSON)."""
    return response.data.error if isinstance(response.data, _InvalidJson) else None


def excerpt(text: str) -> str:
    """The start of a body, for an error message."""
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path (``"job.id"``, ``"items.0.state"``) of a JSON document, or ``_MISSING``."""
    value = document
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def is_missing(value: object) -> bool:
    """Whether ``lookup`` found nothing."""
    return value is _MISSING
