"""The egress policy: where connector-http may send requests, with which secret, and how much it reads back.

It knows nothing of the HTTP client. The client adapter asks it to parse a URL's origin
(``origin_of``), to resolve a host into the addresses it may connect to (``EgressPolicy.resolve``),
whether a secret may go to an origin (``EgressPolicy.check_secret``), and reads bodies through
``read_bounded``. Issue 9; the httpx adapter (``_httpx.py``, issue 13) asks it the same questions.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import socket
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

import connector

ALLOW_VARIABLE = "CONNECTOR_HTTP_ALLOW"
SECRET_ORIGINS_VARIABLE = "CONNECTOR_HTTP_SECRET_ORIGINS"
MAX_BODY_VARIABLE = "CONNECTOR_HTTP_MAX_BODY"
#: Largest response body read, in bytes, unless CONNECTOR_HTTP_MAX_BODY says otherwise: 10 MiB.
DEFAULT_MAX_BODY = 10 * 1024 * 1024
#: The schemes connector-http speaks, with their default ports.
DEFAULT_PORTS: Mapping[str, int] = {"http": 80, "https": 443}

IPAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"

# Ranges the classes below name that ipaddress has no property for: RFC 1918, shared address space
# (100.64.0.0/10, carrier-grade NAT), unique local (fc00::/7) and the deprecated site-local fec0::/10.
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10")
)
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What a URL may hold: printable ASCII without spaces (http.client refuses the rest, or sends it raw).
_URL_CHARACTERS = re.compile(r"[\x21-\x7e]*")
# RFC 3986's split of an absolute URL: the authority ends at the first "/", "?" or "#", as it does
# for urllib (urlsplit, and urllib.request's _splithost) and for httpx.
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):(?://(?P<authority>[^/?#]*))?(?P<rest>.*)", re.S)
_AUTHORITY = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]*))?")
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")


class OriginError(ValueError):
    """A URL or setting is not an http(s) URL with a usable host and port; the message says why."""


class Denied(Exception):
    """The policy refuses a destination or a credential.

    ``origin`` is the origin refused, ``reason`` says why, ``setting`` and ``entry`` what the
    operator would add to allow it.
    """

    def __init__(self, origin: Origin, reason: str, *, setting: str, entry: str) -> None:
        self.origin = origin
        self.reason = reason
        self.setting = setting
        self.entry = entry
        super().__init__(f"{reason}; to allow it, add {entry} to {setting}")


class BodyTooLarge(Exception):
    """A body is over the limit; ``limit`` is the limit, ``declared`` the Content-Length if it said one."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        self.limit = limit
        self.declared = declared
        super().__init__(f"the body is over the limit of {limit} bytes")


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a request goes: scheme, host and port, compared exactly.

    ``host`` is lower-case without a final dot; an IP address is in its canonical form and an IPv6
    address has no brackets. ``str()`` is the origin as a URL writes it, the default port left out.
    """

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == DEFAULT_PORTS.get(self.scheme) else f":{self.port}"
        return f"{self.scheme}://{host}{port}"

    @property
    def address(self) -> IPAddress | None:
        """The host as an IP address, when it is one (not a name)."""
        return _address(self.host)

    @classmethod
    def of(cls, scheme: str, host: str, port: int | None) -> Origin:
        """The origin of a connection to ``host`` (a name or an address, IPv6 with or without brackets)."""
        scheme = scheme.lower()
        return cls(scheme, _canonical_host(host), port or DEFAULT_PORTS.get(scheme, 0))

    @classmethod
    def parse(cls, text: str) -> Origin:
        """An origin written as ``scheme://host[:port]`` (a final ``/`` allowed); raises ``OriginError``."""
        origin = origin_of(text)
        rest = _URL.match(text)
        if rest is None or rest["rest"] not in ("", "/"):
            raise OriginError("an origin has no path, query or fragment")
        return origin


def origin_of(url: str) -> Origin:
    """The origin of an absolute http(s) URL, checked strictly; raises ``OriginError`` saying why.

    Strict so that every HTTP client reads the same host from it: ASCII without spaces or control
    characters, no user name or password, a host that is a DNS name or an IP address (IPv6 in
    brackets, no zone), a port from 1 to 65535.
    """
    if not _URL_CHARACTERS.fullmatch(url):
        raise OriginError(
            "it has a space, a control character or a character that is not ASCII "
            "(percent-encode them; write international host names in punycode)"
        )
    parts = _URL.match(url)
    if parts is None or parts["scheme"].lower() not in DEFAULT_PORTS:
        raise OriginError("only http:// and https:// URLs are allowed")
    scheme = parts["scheme"].lower()
    authority = parts["authority"]
    if authority is None or not authority:
        raise OriginError("it has no host")
    if "@" in authority:
        raise OriginError("it has a user name or password (send credentials with auth_secret)")
    match = _AUTHORITY.fullmatch(authority)
    if match is None:
        raise OriginError("its host is neither a DNS name nor an IP address")
    port_text = match["port"]
    port = DEFAULT_PORTS[scheme]
    if port_text:
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise OriginError("its port is not from 1 to 65535")
    if match["ipv6"] is not None:
        try:
            address = ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            raise OriginError("its host is neither a DNS name nor an IP address") from None
        return Origin(scheme, show_address(address), port)
    host = match["host"]
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise OriginError("its host is neither a DNS name nor an IP address")
    return Origin(scheme, _canonical_host(host), port)


# Cached, and bounded: every request reads its host, mostly one of a few, and ipaddress parses in
# Python (about 1,000 bytecodes a request at 100 concurrent webhook calls, issue 13).
@functools.lru_cache(maxsize=1024)
def _address(text: str) -> IPAddress | None:
    """``text`` as an IP address, or None when it is not one (a name)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _canonical_host(host: str) -> str:
    host = host.strip("[]")
    address = _address(host.partition("%")[0])
    return host.lower().removesuffix(".") if address is None else show_address(address)


def address_class(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is (``"a loopback address"``), or None when it is public.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) is judged by the
    IPv4 address it leads to.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_class(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE if network.version == address.version):
        return "a private address"
    if address.is_reserved or address.is_private or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def show_address(address: IPAddress) -> str:
    """An address as messages write it (an IPv4-mapped one as ``::ffff:1.2.3.4`` on every Python)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


#: ``socket.getaddrinfo``'s signature, as ``EgressPolicy.resolve`` uses it.
Resolver = Callable[..., Sequence[tuple[Any, Any, Any, Any, Any]]]


@dataclasses.dataclass(frozen=True)
class EgressPolicy:
    """The operator's rules for where connector-http's requests may go.

    ``allow`` holds origins that may be reached whatever their addresses are; any other origin is
    refused when its host resolves to a loopback, link-local, private, unspecified, multicast or
    reserved address. ``secret_origins`` maps a secret's name (as ``auth_secret`` writes it) to
    the origins it may be sent to; a secret it does not name goes nowhere. ``max_body`` is the
    largest response body read, in bytes. Read from the environment with ``from_environ``.
    """

    allow: frozenset[Origin] = frozenset()
    secret_origins: Mapping[str, frozenset[Origin]] = dataclasses.field(default_factory=dict)
    max_body: int = DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int) or self.max_body < 1:
            raise connector.ConfigurationError(
                f"max_body must be a positive whole number of bytes, got {self.max_body!r}"
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> EgressPolicy:
        """Read CONNECTOR_HTTP_ALLOW, CONNECTOR_HTTP_SECRET_ORIGINS and CONNECTOR_HTTP_MAX_BODY.

        Raises ``connector.ConfigurationError`` naming the variable when a value cannot be used.
        """
        env = os.environ if environ is None else environ
        return _from_values(
            env.get(ALLOW_VARIABLE, ""), env.get(SECRET_ORIGINS_VARIABLE, ""), env.get(MAX_BODY_VARIABLE, "")
        )

    def check_address(self, origin: Origin, address: IPAddress) -> None:
        """Raise ``Denied`` unless ``origin`` may be reached at ``address``."""
        if origin in self.allow:
            return
        kind = address_class(address)
        if kind is None:
            return
        shown = show_address(address)
        if origin.address is not None and origin.address == address:
            reason = f"{shown} is {kind}"
        else:
            reason = f"{origin.host} resolves to {shown}, {kind}"
        raise Denied(origin, reason, setting=ALLOW_VARIABLE, entry=str(origin))

    def check_literal(self, origin: Origin) -> None:
        """Raise ``Denied`` now when the origin's host is an IP address the policy refuses (no lookup)."""
        if origin.address is not None:
            self.check_address(origin, origin.address)

    def resolve(
        self, origin: Origin, *, host: str | None = None, resolver: Resolver | None = None
    ) -> list[tuple[int, int, int, Any]]:
        """Look the host up once and check every address; ``(family, type, proto, sockaddr)`` to connect to.

        Connecting to these socket addresses, never to the name again, is what makes the check hold
        against DNS rebinding. ``host`` is the name to look up when it differs from ``origin.host``
        (brackets, case). Raises ``Denied`` when any address is refused, ``OSError`` when the name
        does not resolve. ``resolver`` defaults to ``socket.getaddrinfo``.
        """
        lookup = resolver if resolver is not None else socket.getaddrinfo
        found = lookup(host or origin.host, origin.port, 0, socket.SOCK_STREAM)
        candidates: list[tuple[int, int, int, Any]] = []
        for family, kind, proto, _canonical, sockaddr in found:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            text = str(sockaddr[0]).partition("%")[0]
            address = _address(text)
            if address is None:
                address = ipaddress.ip_address(text)  # raises, as it always did
            self.check_address(origin, address)
            candidates.append((family, kind, proto, sockaddr))
        if not candidates:
            raise OSError(f"{origin.host} has no IPv4 or IPv6 address")
        return candidates

    def check_secret(self, secret: str, origin: Origin) -> None:
        """Raise ``Denied`` unless the operator allowed the secret named ``secret`` to go to ``origin``."""
        if origin not in self.secret_origins.get(secret, frozenset()):
            raise Denied(
                origin,
                f"the secret {secret!r} may not be sent to {origin}",
                setting=SECRET_ORIGINS_VARIABLE,
                entry=f"{secret}={origin}",
            )


@functools.lru_cache(maxsize=8)
def _from_values(allow: str, secret_origins: str, max_body: str) -> EgressPolicy:
    # Cached by the raw values: a connector reads the environment at every request, cheaply.
    secrets: dict[str, set[Origin]] = {}
    for item in _items(secret_origins):
        name, sep, origin = item.partition("=")
        if not sep or not name.strip() or not origin.strip():
            raise connector.ConfigurationError(
                f"{SECRET_ORIGINS_VARIABLE}: {item!r} is not SECRET=ORIGIN (for example "
                f"{SECRET_ORIGINS_VARIABLE}='api_token=https://api.example.com,api_token=https://backup.example.com')"
            )
        secrets.setdefault(name.strip(), set()).add(_setting_origin(SECRET_ORIGINS_VARIABLE, origin.strip()))
    return EgressPolicy(
        allow=frozenset(_setting_origin(ALLOW_VARIABLE, item) for item in _items(allow)),
        secret_origins={name: frozenset(origins) for name, origins in secrets.items()},
        max_body=_max_body(max_body),
    )


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _setting_origin(variable: str, text: str) -> Origin:
    try:
        return Origin.parse(text)
    except OriginError as exc:
        raise connector.ConfigurationError(
            f"{variable}: {text!r} is not an origin: {exc}; write scheme://host[:port], "
            "for example http://127.0.0.1:8080 or https://jobs.internal"
        ) from None


def _max_body(value: str) -> int:
    text = value.strip().replace("_", "")
    if not text:
        return DEFAULT_MAX_BODY
    if not text.isdigit() or int(text) < 1:
        raise connector.ConfigurationError(
            f"{MAX_BODY_VARIABLE}: {value!r} is not a positive whole number of bytes "
            f"(for example {MAX_BODY_VARIABLE}=1048576; the default is {DEFAULT_MAX_BODY}, 10 MiB)"
        )
    return int(text)


async def read_bounded(
    chunks: AsyncIterable[bytes], limit: int, *, declared: int | None = None, truncate: bool = False
) -> bytes:
    """Read a body from ``chunks`` until it ends, never holding more than ``limit`` bytes and one chunk.

    Raises ``BodyTooLarge`` as soon as the body is known to be over ``limit`` (``declared``, its
    Content-Length, says so before anything is read), or returns its first ``limit`` bytes when
    ``truncate`` is true. The caller bounds the time it takes (the request's deadline).
    """
    if declared is not None and declared > limit and not truncate:
        raise BodyTooLarge(limit, declared)
    buffer = bytearray()
    async for piece in chunks:
        buffer += piece
        if len(buffer) > limit:
            if truncate:
                return bytes(buffer[:limit])
            raise BodyTooLarge(limit, declared)
    return bytes(buffer)


def content_length(value: str | None) -> int | None:
    """A Content-Length header's value as a number, or None when it is missing or not one."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())
