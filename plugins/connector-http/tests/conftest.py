"""Fixtures: real HTTP servers on 127.0.0.1 (see localhttp.py), a jobs API, and the egress settings.

The egress policy refuses loopback addresses by default, so each server a test uses is added to
CONNECTOR_HTTP_ALLOW for that test, except ``forbidden_server``, which stays refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from localhttp import JobsApi, LocalServer

ALLOW = "CONNECTOR_HTTP_ALLOW"
SECRET_ORIGINS = "CONNECTOR_HTTP_SECRET_ORIGINS"
MAX_BODY = "CONNECTOR_HTTP_MAX_BODY"


@pytest.fixture(autouse=True)
def egress_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the defaults, whatever the developer's environment sets."""
    for name in (ALLOW, SECRET_ORIGINS, MAX_BODY):
        monkeypatch.delenv(name, raising=False)


def _append(monkeypatch: pytest.MonkeyPatch, name: str, item: str) -> None:

    current = os.environ.get(name, "")
    monkeypatch.setenv(name, f"{current},{item}" if current else item)


@pytest.fixture
def allow(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Add an origin to CONNECTOR_HTTP_ALLOW for this test."""
    return lambda origin: _append(monkeypatch, ALLOW, origin)


@pytest.fixture
def allow_secret(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Let a secret go to an origin for this test (CONNECTOR_HTTP_SECRET_ORIGINS)."""
    return lambda secret, origin: _append(monkeypatch, SECRET_ORIGINS, f"{secret}={origin}")


@pytest.fixture
def server(allow: Callable[[str], None]) -> Iterator[LocalServer]:
    yield from _serving(allow)


@pytest.fixture
def other_server(allow: Callable[[str], None]) -> Iterator[LocalServer]:
    """A second server: another origin (its port differs), for redirects."""
    yield from _serving(allow)


@pytest.fixture
def keep_alive_server(allow: Callable[[str], None]) -> Iterator[LocalServer]:
    """A server that keeps connections open for the next request (HTTP/1.1), as most do."""
    yield from _serving(allow, keep_alive=True)


@pytest.fixture
def forbidden_server() -> Iterator[LocalServer]:
    """A server the policy refuses (a loopback origin not allowed): it must never see a request."""
    yield from _serving(None)


def _serving(allow: Callable[[str], None] | None, *, keep_alive: bool = False) -> Iterator[LocalServer]:
    local = LocalServer(keep_alive=keep_alive)
    local.thread.start()
    if allow is not None:
        allow(local.url)
    try:
        yield local
    finally:
        local.released.set()
        local.httpd.shutdown()
        local.httpd.server_close()
        local.thread.join(10)


@pytest.fixture
def jobs_api(server: LocalServer) -> JobsApi:
    return JobsApi(server, ["pending", "running", "done"])
