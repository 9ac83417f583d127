"""Fixtures: a real HTTP server on 127.0.0.1 (see localhttp.py) and a jobs API served by it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from localhttp import JobsApi, LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    yield from _serving()


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    """A second server: another origin (its port differs), for redirects."""
    yield from _serving()


def _serving() -> Iterator[LocalServer]:
    local = LocalServer()
    local.thread.start()
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
