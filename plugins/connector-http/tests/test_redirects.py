"""Redirects: httpx builds each one, connector-http follows it only where the egress policy lets it go.

Every hop is checked (a literal address before it is sent, a name when its connection opens),
redirect bodies are not read, and after 10 redirects the next 3xx is the answer (issue 13).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from connector_http import HttpConfigError, Webhook
from connector_http._httpx import MAX_REDIRECTS
from localhttp import Answer, LocalServer

import connector
from connector.server._status import status_for
from connector.testing import LifecycleDriver

Phase = connector.Phase
MiB = 1024 * 1024


def webhook(custom: dict[str, Any]) -> connector.Resource:
    driver = LifecycleDriver(Webhook())
    return driver.do(driver.template(custom))


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Host names the test makes up, each resolving to the address the test maps it to."""
    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_later_hop_to_a_name_of_a_refused_address_is_refused_when_it_connects(
    server: LocalServer, other_server: LocalServer, forbidden_server: LocalServer, names: dict[str, str]
) -> None:
    names["evil.test"] = "127.0.0.1"
    port = forbidden_server.url.rsplit(":", 1)[1]
    server.route("GET", "/a", Answer(302, headers={"Location": f"{other_server.url}/b"}))
    other_server.route("GET", "/b", Answer(307, headers={"Location": f"http://evil.test:{port}/steal"}))
    forbidden_server.route("GET", "/steal", Answer(200, {"stolen": True}))
    message = (
        f"webhook: GET {server.url}/a is refused: it redirects to http://evil.test:{port}/steal, and "
        f"evil.test resolves to 127.0.0.1, a loopback address; to allow it, add http://evil.test:{port} to "
        "CONNECTOR_HTTP_ALLOW"
    )
    with pytest.raises(HttpConfigError) as info:
        webhook({"url": f"{server.url}/a"})
    assert str(info.value) == message
    status = status_for(info.value, operation="do", target="task type webhook@0")
    assert (status.code, status.message) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    assert [seen.path for seen in server.seen] == ["/a"]
    assert [seen.path for seen in other_server.seen] == ["/b"]
    assert forbidden_server.seen == []


def test_a_hop_to_an_allowed_name_is_followed_and_connected_by_its_checked_address(
    server: LocalServer, other_server: LocalServer, names: dict[str, str], allow: Callable[[str], None]
) -> None:
    names["jobs.test"] = "127.0.0.1"
    port = other_server.url.rsplit(":", 1)[1]
    allow(f"http://jobs.test:{port}")
    server.route("GET", "/a", Answer(301, headers={"Location": f"http://jobs.test:{port}/b"}))
    other_server.route("GET", "/b", Answer(200, {"ok": True}))
    resource = webhook({"url": f"{server.url}/a"})
    assert resource.phase is Phase.SUCCEEDED
    assert other_server.seen[0].headers["host"] == f"jobs.test:{port}"


def test_after_the_last_redirect_allowed_the_next_3xx_is_the_answer(server: LocalServer) -> None:
    server.route("GET", "/loop", Answer(302, headers={"Location": "/loop"}))
    resource = webhook({"url": f"{server.url}/loop"})
    assert resource.phase is Phase.FAILED
    assert resource.message == (
        f"webhook: GET {server.url}/loop answered 302 Found - {MAX_REDIRECTS} redirects were followed "
        "already: "
    )
    assert len(server.seen) == MAX_REDIRECTS + 1


def test_307_keeps_the_method_and_body_and_303_turns_to_get(server: LocalServer) -> None:
    server.route("POST", "/a", Answer(307, headers={"Location": "/b"}))
    server.route("POST", "/b", Answer(303, headers={"Location": "/c"}))
    server.route("GET", "/c", Answer(200, {"done": True}))
    resource = webhook({"url": f"{server.url}/a", "body": {"n": 1}})
    assert resource.phase is Phase.SUCCEEDED
    assert [(seen.method, seen.path, seen.body) for seen in server.seen] == [
        ("POST", "/a", b'{"n": 1}'),
        ("POST", "/b", b'{"n": 1}'),
        ("GET", "/c", b""),
    ]


def test_a_same_origin_redirect_keeps_a_cookie_header(server: LocalServer) -> None:
    server.route("GET", "/a", Answer(302, headers={"Location": "/b"}))
    server.route("GET", "/b", Answer(200, {"ok": True}))
    resource = webhook({"url": f"{server.url}/a", "headers": {"Cookie": "session=s1"}})
    assert resource.phase is Phase.SUCCEEDED
    assert [seen.headers.get("cookie") for seen in server.seen] == ["session=s1", "session=s1"]


def test_a_redirect_to_another_origin_drops_every_credential_header(
    server: LocalServer, other_server: LocalServer
) -> None:
    server.route("GET", "/a", Answer(302, headers={"Location": f"{other_server.url}/b"}))
    other_server.route("GET", "/b", Answer(200, {"ok": True}))
    headers = {"Cookie": "session=s1", "X-Api-Token": "t", "Authorization": "Bearer b", "X-Trace": "1"}
    resource = webhook({"url": f"{server.url}/a", "headers": headers})
    assert resource.phase is Phase.SUCCEEDED
    sent = other_server.seen[0].headers
    assert sent["x-trace"] == "1"
    assert [name for name in ("cookie", "x-api-token", "authorization") if name in sent] == []


def _endless() -> Iterator[bytes]:
    piece = b"x" * (64 * 1024)
    for _ in range(200 * 16):  # 200 MiB, if the client read it
        yield piece


def test_a_redirect_body_is_not_read(server: LocalServer, other_server: LocalServer) -> None:
    # httpx's own follow_redirects reads a redirect's whole body before following it.
    server.route(
        "GET",
        "/a",
        Answer(302, headers={"Location": f"{other_server.url}/b"}, stream=_endless, length=200 * MiB),
    )
    other_server.route("GET", "/b", Answer(200, {"ok": True}))
    resource = webhook({"url": f"{server.url}/a"})
    assert resource.phase is Phase.SUCCEEDED
    assert server.streamed < 20 * MiB  # what the sockets' buffers took before the client closed
