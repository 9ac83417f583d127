"""Requests as plain data: read and checked from custom fields or a resource meta, with their credentials."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

import connector

from ._egress import DEFAULT_PORTS, Denied, EgressPolicy, Origin, OriginError, origin_of
from ._exceptions import HttpConfigError, HttpEgressError
from ._redact import Redactor, is_credential_header, masked_headers

#: Seconds a request may take when the template does not say.
DEFAULT_TIMEOUT = 30.0
#: The longest ``timeout`` accepted, in seconds.
MAX_TIMEOUT = 3600.0
#: How much of a response body an error message quotes.
EXCERPT = 200
#: How messages name where a value came from: the template, or a job's resource meta.
CUSTOM = "custom field"
META = "resource meta field"

_MISSING = object()
# RFC 9110 token: what a method, a header name and an auth scheme are made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LINE_BREAK_OR_NUL = re.compile(r"[\r\n\x00]")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Headers that choose where a request goes on the remote (Host: another virtual host behind an
# allowed address) or how it is framed (a Content-Length that is not the body's desynchronizes the
# connection): the client sets them from the URL and the body, never a template.
_MANAGED_HEADERS = frozenset(
    ("host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive")
)
# A secret's name as Kubernetes names a Secret's keys: what CONNECTOR_HTTP_SECRET_ORIGINS can write
# (no ',' or '='), the environment variable and file lookups can find, and a message can quote.
_SECRET_NAME = re.compile(r"[A-Za-z0-9._-]{1,253}")
# A list index in a dotted path: ASCII digits, short enough for int() ("²".isdigit() is true).
_INDEX = re.compile(r"[0-9]{1,9}")


@dataclasses.dataclass(repr=False)
class Request:
    """One HTTP request, ready to send: the body is already text, its Content-Type among the headers."""

    method: str
    url: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: str | None = None

    def __repr__(self) -> str:
        # CONNECTOR_TRACE prints the resource meta: credential headers show as ***.
        return (
            f"Request(method={self.method!r}, url={self.url!r}, headers={masked_headers(self.headers)!r}, "
            f"body={self.body!r})"
        )


@dataclasses.dataclass
class Auth:
    """Where the credential comes from: the secret named ``secret``, sent as ``header: scheme value``."""

    secret: str
    header: str = "Authorization"
    scheme: str = "Bearer"


@dataclasses.dataclass
class Response:
    """What a server answered; ``data`` is the parsed body when it is JSON, else the text.

    ``reason`` is already redacted; ``redact`` masks the request's credentials in any other text
    quoted from the answer (``excerpt`` does).
    """

    status: int
    reason: str
    headers: dict[str, str]
    text: str
    data: Any
    is_json: bool
    redact: Redactor = dataclasses.field(default_factory=Redactor)

    def excerpt(self) -> str:
        """The start of the body, credentials masked, for an error message."""
        return excerpt(self.redact(self.text))


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What a request carries besides its own headers: the auth header, and how to mask what it sent."""

    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    redact: Redactor = dataclasses.field(default_factory=Redactor)


def read_request(
    custom: Mapping[str, Any], *, task: str, prefix: str = "", default_method: str | None = None
) -> Request:
    """A ``Request`` from the fields ``url``, ``method``, ``headers`` and ``body`` of ``custom``.

    ``prefix`` names where ``custom`` sits in the template (``"status."``) for error messages. A
    body that is not a string is sent as JSON. Raises ``HttpConfigError`` naming the field.
    """
    url = custom.get("url")
    if url is None:
        raise HttpConfigError(f"{task}: the {CUSTOM} '{prefix}url' is required", field=f"{prefix}url")
    body = custom.get("body")
    method = custom.get("method") or default_method or ("POST" if body is not None else "GET")
    headers = read_headers(custom.get("headers"), task=task, field=f"{prefix}headers")
    text: str | None
    if body is None or isinstance(body, str):
        text = body
    else:
        try:
            text = json.dumps(body)
        except (TypeError, ValueError) as exc:
            raise HttpConfigError(
                f"{task}: the {CUSTOM} '{prefix}body' cannot be sent as JSON: {exc}", field=f"{prefix}body"
            ) from exc
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    request = Request(method, url, headers, text)
    check_request(request, task=task, prefix=prefix)
    request.method = request.method.upper()
    return request


def check_request(request: Request, *, task: str, prefix: str = "", where: str = CUSTOM) -> Origin:
    """Check every part of ``request`` as the client would send it; return its origin.

    The same checks apply to a request read from the template (``where=CUSTOM``) and to one that
    comes back in a resource meta (``where=META``), which a caller may have forged.
    """
    origin = check_url(request.url, task=task, field=f"{prefix}url", where=where)
    method = request.method
    if not isinstance(method, str) or not _TOKEN.fullmatch(method):
        raise HttpConfigError(
            f"{task}: the {where} '{prefix}method' must be an HTTP method; got {method!r}",
            field=f"{prefix}method",
        )
    if not isinstance(request.headers, Mapping):
        raise HttpConfigError(
            f"{task}: the {where} '{prefix}headers' must map header names to strings; "
            f"got {type(request.headers).__name__}",
            field=f"{prefix}headers",
        )
    check_headers(request.headers, task=task, field=f"{prefix}headers", where=where)
    if request.body is not None:
        if not isinstance(request.body, str):
            raise HttpConfigError(
                f"{task}: the {where} '{prefix}body' must be text; got {type(request.body).__name__}",
                field=f"{prefix}body",
            )
        if not is_unicode(request.body):
            raise HttpConfigError(
                f"{task}: the {where} '{prefix}body' is not valid Unicode text (it has a lone surrogate)",
                field=f"{prefix}body",
            )
    return origin


def check_url(url: object, *, task: str, field: str, where: str = CUSTOM) -> Origin:
    """The origin of ``url``, an http(s) URL every client reads the same way; else ``HttpConfigError``."""
    scheme = _SCHEME.match(url) if isinstance(url, str) else None
    if scheme is None or scheme[1].lower() not in DEFAULT_PORTS:
        raise HttpConfigError(
            f"{task}: the {where} '{field}' must be an http:// or https:// URL; got {url!r}", field=field
        )
    assert isinstance(url, str)
    try:
        return origin_of(url)
    except OriginError as exc:
        raise HttpConfigError(
            f"{task}: the {where} '{field}' is not a URL connector-http can send: {exc}; got {url!r}",
            field=field,
        ) from None


def read_headers(value: object, *, task: str, field: str) -> dict[str, str]:
    """Headers from a custom field: a mapping of strings to strings (or None)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise HttpConfigError(
            f"{task}: the {CUSTOM} '{field}' must map header names to strings; got {type(value).__name__}",
            field=field,
        )
    check_headers(value, task=task, field=field)
    return dict(value)


def check_headers(headers: Mapping[Any, Any], *, task: str, field: str, where: str = CUSTOM) -> None:
    """Names that are HTTP tokens, values without line breaks or NUL; values are never quoted (tokens)."""
    for name, header in headers.items():
        if not isinstance(name, str) or not isinstance(header, str):
            raise HttpConfigError(
                f"{task}: the {where} '{field}' must map header names to strings; "
                f"got {name!r}: {type(header).__name__}",
                field=field,
            )
        if not _TOKEN.fullmatch(name):
            raise HttpConfigError(
                f"{task}: the {where} '{field}' has a header name that is not an HTTP token: {name!r}",
                field=field,
            )
        if name.lower() in _MANAGED_HEADERS:
            raise HttpConfigError(
                f"{task}: the {where} '{field}' sets {name!r}, which connector-http sets itself "
                "(the host is the URL's, the body's length and framing are the body's)",
                field=field,
            )
        problem = _header_value_problem(header)
        if problem:
            raise HttpConfigError(
                f"{task}: the {where} '{field}' has a value of header {name!r} that {problem}", field=field
            )


def _header_value_problem(value: str) -> str | None:
    if _LINE_BREAK_OR_NUL.search(value):
        return "holds a line break (CR or LF) or NUL"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "is not Latin-1 text"
    return None


def is_unicode(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (JSON may decode to a string with a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_timeout(custom: Mapping[str, Any], *, task: str) -> float:
    """The ``timeout`` custom field in seconds, or the default."""
    return check_timeout(custom.get("timeout", DEFAULT_TIMEOUT), task=task)


def check_timeout(value: object, *, task: str, where: str = CUSTOM, field: str = "timeout") -> float:
    """A number of seconds above 0 and at most ``MAX_TIMEOUT`` (NaN and infinities are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        raise HttpConfigError(
            f"{task}: the {where} '{field}' must be a number of seconds above 0 and at most "
            f"{MAX_TIMEOUT:g}; got {value!r}",
            field=field,
        )
    return float(value)


def read_auth(custom: Mapping[str, Any], *, task: str) -> Auth | None:
    """The auth convention: ``auth_secret`` names a secret, sent as ``auth_header: auth_scheme <secret>``."""
    secret = custom.get("auth_secret")
    if secret is None:
        return None
    auth = Auth(secret, custom.get("auth_header", "Authorization"), custom.get("auth_scheme", "Bearer"))
    check_auth(auth, task=task)
    return auth


def check_auth(auth: Auth, *, task: str, where: str = CUSTOM) -> None:
    """A secret's name, an HTTP token for the header, and a token (or nothing) for the scheme."""
    names = (
        ("auth_secret", "auth_header", "auth_scheme")
        if where == CUSTOM
        else ("auth.secret", "auth.header", "auth.scheme")
    )
    for name, value in zip(names, (auth.secret, auth.header, auth.scheme), strict=True):
        if not isinstance(value, str) or (name != names[2] and not value):
            raise HttpConfigError(
                f"{task}: the {where} '{name}' must be a non-empty string; got {value!r}", field=name
            )
    if not _SECRET_NAME.fullmatch(auth.secret):
        raise HttpConfigError(
            f"{task}: the {where} '{names[0]}' must be a secret's name (letters, digits, '-', '_' and "
            f"'.'); got {auth.secret!r}",
            field=names[0],
        )
    if not _TOKEN.fullmatch(auth.header):
        raise HttpConfigError(
            f"{task}: the {where} '{names[1]}' must be a header name (an HTTP token); got {auth.header!r}",
            field=names[1],
        )
    if auth.scheme and not _TOKEN.fullmatch(auth.scheme):
        raise HttpConfigError(
            f"{task}: the {where} '{names[2]}' must be an HTTP token such as Bearer, or empty; "
            f"got {auth.scheme!r}",
            field=names[2],
        )


def credentials(
    request: Request,
    auth: Auth | None,
    connection: connector.Connection,
    *,
    policy: EgressPolicy,
    task: str,
    where: str = CUSTOM,
) -> Credentials:
    """The auth header for a checked ``request``, once the policy lets its secret go there, and a redactor.

    The secret is read from the connection's secrets, else the environment or the secrets
    directory, only after the policy allowed it. Raises ``HttpEgressError`` when the operator did
    not allow the secret for the origin, ``HttpConfigError`` when it is nowhere or cannot be sent.
    """
    sent = [value for name, value in request.headers.items() if is_credential_header(name)]
    if auth is None:
        return Credentials({}, Redactor.of(sent))
    try:
        policy.check_secret(auth.secret, origin_of(request.url))
    except Denied as denied:
        raise refused(denied, task=task, what=f"{request.method} {request.url}") from None
    value = connection.secrets.get(auth.secret)
    if value is None:
        try:
            value = connector.get_connector_secret(auth.secret)
        except connector.ConfigurationError as exc:
            field = "auth_secret" if where == CUSTOM else "auth.secret"
            raise HttpConfigError(
                f"{task}: the secret {auth.secret!r} ({where} '{field}') is not among the "
                f"connection's secrets, and {exc}",
                field=field,
            ) from None
    if _header_value_problem(value) or _header_value_problem(auth.scheme):
        raise HttpConfigError(
            f"{task}: the secret {auth.secret!r} holds a line break, a NUL or a character that is not "
            "Latin-1, which no header can carry"
        )
    header = f"{auth.scheme} {value}" if auth.scheme else value
    return Credentials({auth.header: header}, Redactor.of([*sent, header, value]))


def refused(denied: Denied, *, task: str, what: str, redirect: str | None = None) -> HttpEgressError:
    """The error for a request the policy refused: what, where, why, and the setting that would allow it."""
    where = f"it redirects to {redirect}, and " if redirect else ""
    return HttpEgressError(
        f"{task}: {what} is refused: {where}{denied}",
        origin=str(denied.origin),
        reason=denied.reason,
        setting=denied.setting,
    )


@dataclasses.dataclass(frozen=True)
class _InvalidJson:
    """Stands for a body that claims to be JSON but does not parse; ``error`` says why."""

    error: str


def parse_body(text: str, *, is_json: bool) -> Any:
    """The body as JSON when it claims to be JSON (an ``_InvalidJson`` when it does not parse), else text."""
    if not is_json:
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        return _InvalidJson(str(exc))


def invalid_json(response: Response) -> str | None:
    """Why the body of a JSON response does not parse, or None when it parsed (or is not JSON)."""
    return response.data.error if isinstance(response.data, _InvalidJson) else None


def printable(value: object) -> str:
    """``str(value)`` safe to put in a message: JSON can carry lone surrogates, which UTF-8 cannot."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


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
        elif isinstance(value, list) and _INDEX.fullmatch(part) and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def is_missing(value: object) -> bool:
    """Whether ``lookup`` found nothing."""
    return value is _MISSING


def current_policy(fixed: EgressPolicy | None) -> EgressPolicy:
    """``fixed`` when a connector was given a policy, else the one the environment sets now."""
    return fixed if fixed is not None else EgressPolicy.from_environ()
