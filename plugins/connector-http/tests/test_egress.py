"""The egress policy alone, without HTTP: origins, address classes, settings, bounded reads, redaction."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from connector_http import EgressPolicy, Origin
from connector_http._egress import (
    DEFAULT_MAX_BODY,
    BodyTooLarge,
    Denied,
    OriginError,
    address_class,
    origin_of,
    read_bounded,
)
from connector_http._redact import Redactor, masked_headers

import connector


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8080/x?y#z", "http://127.0.0.1:8080"),
        ("https://Jobs.Internal./a", "https://jobs.internal"),
        ("http://jobs.internal:80/", "http://jobs.internal"),
        ("https://jobs.internal:443", "https://jobs.internal"),
        ("HTTP://[::1]:9/", "http://[::1]:9"),
        ("http://[0:0::1]/", "http://[::1]"),
        ("http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]"),
        ("http://h:/", "http://h"),
    ],
)
def test_an_origin_is_scheme_host_and_port(url: str, origin: str) -> None:
    assert str(origin_of(url)) == origin


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/", "only http:// and https:// URLs are allowed"),
        ("file:///etc/passwd", "only http:// and https:// URLs are allowed"),
        ("http:/h", "it has no host"),
        ("http:///x", "it has no host"),
        ("http://user:pw@h/", "it has a user name or password (send credentials with auth_secret)"),
        ("http://h\\@evil/", "it has a user name or password (send credentials with auth_secret)"),
        ("http://h:0/", "its port is not from 1 to 65535"),
        ("http://h:65536/", "its port is not from 1 to 65535"),
        ("http://h:+80/", "its host is neither a DNS name nor an IP address"),
        ("http://a..b/", "its host is neither a DNS name nor an IP address"),
        ("http://[::1/", "its host is neither a DNS name nor an IP address"),
        ("http://[fe80::1%25lo]/", "its host is neither a DNS name nor an IP address"),
        ("http://[1:2]/", "its host is neither a DNS name nor an IP address"),
        ("http://[1:2:3:4:5:6:7:8:9]/", "its host is neither a DNS name nor an IP address"),
        (
            "http://h/a b",
            "it has a space, a control character or a character that is not ASCII "
            "(percent-encode them; write international host names in punycode)",
        ),
        (
            "http://h/\r\nX: y",
            "it has a space, a control character or a character that is not ASCII "
            "(percent-encode them; write international host names in punycode)",
        ),
        (
            "http://b\u00fccher.example/",
            "it has a space, a control character or a character that is not ASCII "
            "(percent-encode them; write international host names in punycode)",
        ),
    ],
)
def test_a_url_every_client_might_read_differently_is_refused(url: str, reason: str) -> None:
    with pytest.raises(OriginError, match=f"^{re.escape(reason)}$"):
        origin_of(url)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped: judged as the IPv4 address
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64
        ("2002:7f00:1::", "a loopback address"),  # 6to4
        ("169.254.169.254", "a link-local address"),  # the cloud metadata service
        ("fe80::1", "a link-local address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.1.1", "a private address"),
        ("100.64.0.1", "a private address"),
        ("100.127.255.254", "a private address"),
        ("fc00::1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("192.0.2.1", "a reserved address"),
        ("0.1.2.3", "a reserved address"),
        ("2001:db8::1", "a reserved address"),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_classes(address: str, kind: str | None) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind


def _resolver(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: int, *args: Any) -> list[tuple[Any, ...]]:
        found = []
        for address in addresses:
            if ":" in address:
                found.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                found.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return found

    return getaddrinfo


def test_a_name_is_refused_when_any_of_its_addresses_is() -> None:
    policy = EgressPolicy()
    origin = Origin.parse("https://jobs.example")
    with pytest.raises(Denied) as info:
        policy.resolve(origin, resolver=_resolver("93.184.216.34", "10.0.0.7"))
    assert str(info.value) == (
        "jobs.example resolves to 10.0.0.7, a private address; "
        "to allow it, add https://jobs.example to CONNECTOR_HTTP_ALLOW"
    )
    assert (info.value.origin, info.value.setting) == (origin, "CONNECTOR_HTTP_ALLOW")


def test_public_addresses_come_back_to_be_connected_to() -> None:
    candidates = EgressPolicy().resolve(
        Origin.parse("https://jobs.example"), resolver=_resolver("93.184.216.34", "2606:4700::1111")
    )
    assert [sockaddr[0] for *_, sockaddr in candidates] == ["93.184.216.34", "2606:4700::1111"]


def test_an_allowed_origin_may_resolve_anywhere() -> None:
    policy = EgressPolicy.from_environ({"CONNECTOR_HTTP_ALLOW": "https://jobs.internal"})
    candidates = policy.resolve(Origin.parse("https://jobs.internal"), resolver=_resolver("10.0.0.7"))
    assert [sockaddr[0] for *_, sockaddr in candidates] == ["10.0.0.7"]
    # Exact: another port, another scheme or the address itself is another origin.
    for other in ("https://jobs.internal:8443", "http://jobs.internal", "https://10.0.0.7"):
        with pytest.raises(Denied):
            policy.resolve(Origin.parse(other), resolver=_resolver("10.0.0.7"))


def test_an_ip_literal_is_refused_without_a_lookup() -> None:
    with pytest.raises(Denied, match=r"^::ffff:127\.0\.0\.1 is a loopback address; to allow it, add "):
        EgressPolicy().check_literal(origin_of("http://[::ffff:127.0.0.1]:8080/"))
    EgressPolicy().check_literal(origin_of("http://localhost:8080/"))  # a name: checked once resolved


def test_the_settings() -> None:
    policy = EgressPolicy.from_environ(
        {
            "CONNECTOR_HTTP_ALLOW": " http://127.0.0.1:8080 , https://jobs.internal/,",
            "CONNECTOR_HTTP_SECRET_ORIGINS": "api_token=https://api.example,api_token=https://b.example:8443,"
            "db=http://127.0.0.1:8080",
            "CONNECTOR_HTTP_MAX_BODY": "1_048_576",
        }
    )
    assert policy.allow == {Origin("http", "127.0.0.1", 8080), Origin("https", "jobs.internal", 443)}
    assert policy.secret_origins == {
        "api_token": {Origin("https", "api.example", 443), Origin("https", "b.example", 8443)},
        "db": {Origin("http", "127.0.0.1", 8080)},
    }
    assert policy.max_body == 1048576
    policy.check_secret("api_token", Origin("https", "b.example", 8443))
    with pytest.raises(Denied) as info:
        policy.check_secret("db", Origin("https", "api.example", 443))
    assert str(info.value) == (
        "the secret 'db' may not be sent to https://api.example; "
        "to allow it, add db=https://api.example to CONNECTOR_HTTP_SECRET_ORIGINS"
    )


def test_the_defaults() -> None:
    policy = EgressPolicy.from_environ({})
    assert (policy.allow, dict(policy.secret_origins), policy.max_body) == (frozenset(), {}, DEFAULT_MAX_BODY)
    assert DEFAULT_MAX_BODY == 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "CONNECTOR_HTTP_ALLOW",
            "ftp://files.internal",
            "CONNECTOR_HTTP_ALLOW: 'ftp://files.internal' is not an origin: only http:// and https:// URLs "
            "are allowed; write scheme://host[:port], for example http://127.0.0.1:8080 or "
            "https://jobs.internal",
        ),
        (
            "CONNECTOR_HTTP_ALLOW",
            "https://jobs.internal/api",
            "CONNECTOR_HTTP_ALLOW: 'https://jobs.internal/api' is not an origin: an origin has no path, "
            "query or fragment; write scheme://host[:port], for example http://127.0.0.1:8080 or "
            "https://jobs.internal",
        ),
        (
            "CONNECTOR_HTTP_ALLOW",
            "10.0.0.0/8",
            "CONNECTOR_HTTP_ALLOW: '10.0.0.0/8' is not an origin: only http:// and https:// URLs are "
            "allowed; write scheme://host[:port], for example http://127.0.0.1:8080 or https://jobs.internal",
        ),
        (
            "CONNECTOR_HTTP_SECRET_ORIGINS",
            "api_token",
            "CONNECTOR_HTTP_SECRET_ORIGINS: 'api_token' is not SECRET=ORIGIN (for example "
            "CONNECTOR_HTTP_SECRET_ORIGINS='api_token=https://api.example.com,"
            "api_token=https://backup.example.com')",
        ),
        (
            "CONNECTOR_HTTP_SECRET_ORIGINS",
            "api_token=https://user@api.example",
            "CONNECTOR_HTTP_SECRET_ORIGINS: 'https://user@api.example' is not an origin: it has a user name "
            "or password (send credentials with auth_secret); write scheme://host[:port], for example "
            "http://127.0.0.1:8080 or https://jobs.internal",
        ),
        (
            "CONNECTOR_HTTP_MAX_BODY",
            "10MB",
            "CONNECTOR_HTTP_MAX_BODY: '10MB' is not a positive whole number of bytes (for example "
            "CONNECTOR_HTTP_MAX_BODY=1048576; the default is 10485760, 10 MiB)",
        ),
        (
            "CONNECTOR_HTTP_MAX_BODY",
            "0",
            "CONNECTOR_HTTP_MAX_BODY: '0' is not a positive whole number of bytes (for example "
            "CONNECTOR_HTTP_MAX_BODY=1048576; the default is 10485760, 10 MiB)",
        ),
    ],
)
def test_a_bad_setting_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(connector.ConfigurationError, match=f"^{re.escape(message)}$"):
        EgressPolicy.from_environ({variable: value})


class _Chunks:
    """An async stream of ``size`` bytes in chunks of ``chunk``; ``taken`` counts the bytes handed out."""

    def __init__(self, size: int, chunk: int = 64) -> None:
        self.size = size
        self.chunk = chunk
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.taken < self.size:
            piece = b"x" * min(self.chunk, self.size - self.taken)
            self.taken += len(piece)
            yield piece


def test_reading_stops_just_past_the_limit() -> None:
    body = _Chunks(10_000)
    with pytest.raises(BodyTooLarge) as info:
        asyncio.run(read_bounded(body, 1000))
    assert info.value.limit == 1000
    assert body.taken == 1024  # the chunk that crossed the limit, and no other


def test_a_declared_length_over_the_limit_reads_nothing() -> None:
    body = _Chunks(10_000)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_bounded(body, 1000, declared=10_000))
    assert body.taken == 0


def test_a_body_at_the_limit_is_read_whole_and_an_error_body_is_cut() -> None:
    assert asyncio.run(read_bounded(_Chunks(1000), 1000)) == b"x" * 1000
    assert asyncio.run(read_bounded(_Chunks(5000), 1000, declared=5000, truncate=True)) == b"x" * 1000


def test_the_redactor_masks_every_spelling_of_a_credential() -> None:
    redact = Redactor.of(['Bearer s3/cr"et', 's3/cr"et', ""])
    text = 'auth: Bearer s3/cr"et, json: "s3/cr\\"et", url: s3%2Fcr%22et, repr: s3/cr"et'
    assert redact(text) == 'auth: ***, json: "***", url: ***, repr: ***'
    assert "s3" not in repr(redact)
    assert not Redactor.of([""])


def test_credential_headers_are_masked_in_a_repr() -> None:
    headers = {"Authorization": "Bearer t", "X-API-Key": "k", "Cookie": "c", "Accept": "text/plain"}
    assert masked_headers(headers) == {
        "Authorization": "***",
        "X-API-Key": "***",
        "Cookie": "***",
        "Accept": "text/plain",
    }
