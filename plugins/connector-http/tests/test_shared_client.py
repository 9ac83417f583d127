"""The client every call of a process shares keeps nothing of one call for another (issue 13 review).

Cookies a remote sets are never stored or sent again; a method other than GET, HEAD or POST is never
redirected (httpx would turn a DELETE answered 302 into a GET, and repeat a PUT's body on a 301);
HTTP/2 is not used, since an answer abandoned on a shared HTTP/2 connection stalls the calls after it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from connector_http._egress import EgressPolicy
from connector_http._exceptions import HttpResponseTooLargeError, HttpStatusError
from connector_http._http import Credentials, Request, Response
from connector_http._httpx import HttpClients, _parsed_without_query, parsed_url, send
from localh2 import H2Seen, H2Server
from localhttp import Answer, LocalServer
from localtls import certificates
from test_attacks import call, forged

MiB = 1024 * 1024


async def _send(request: Request, clients: HttpClients, **options: Any) -> Response:
    return await send(
        request,
        timeout=5,
        credentials=Credentials(),
        policy=EgressPolicy.from_environ(),
        task="webhook",
        clients=clients,
        **options,
    )


def test_a_cookie_one_call_was_given_is_never_sent_by_another(
    server: LocalServer, other_server: LocalServer
) -> None:
    server.route(
        "GET", "/tenant-a/login", Answer(200, "ok", headers={"Set-Cookie": "session=A-SECRET; Path=/"})
    )
    server.route("GET", "/r", Answer(302, headers={"Location": "/b", "Set-Cookie": "hop=B-SECRET; Path=/"}))
    server.route("GET", "/b", Answer(200, "ok"))
    server.route("GET", "/tenant-b", Answer(200, "ok"))
    other_server.route("GET", "/other-port", Answer(200, "ok"))
    clients = HttpClients()

    async def calls() -> int:
        await _send(Request("GET", f"{server.url}/tenant-a/login"), clients)
        await _send(Request("GET", f"{server.url}/r", headers={"Cookie": "mine=1"}), clients)
        await _send(Request("GET", f"{server.url}/tenant-b"), clients)
        await _send(Request("GET", f"{other_server.url}/other-port"), clients)
        return len((await clients.get(EgressPolicy.from_environ())).cookies.jar)

    kept = asyncio.run(calls())
    # The template's own Cookie header still follows a redirect within its origin; nothing else is sent.
    assert [(seen.path, seen.headers.get("cookie")) for seen in server.seen] == [
        ("/tenant-a/login", None),
        ("/r", "mine=1"),
        ("/b", "mine=1"),
        ("/tenant-b", None),
    ]
    assert other_server.seen[0].headers.get("cookie") is None
    assert kept == 0


def test_the_shared_client_cookies_cannot_be_replaced() -> None:
    async def replace() -> None:
        client = await HttpClients().get(EgressPolicy.from_environ())
        try:
            client.cookies = {"session": "A-SECRET"}
        finally:
            await client.aclose()

    with pytest.raises(AttributeError, match=r"^the shared HTTP client keeps no cookies: send a Cookie"):
        asyncio.run(replace())


def test_a_cancel_answered_302_is_no_cancel(server: LocalServer) -> None:
    server.route("DELETE", "/jobs/job-1", Answer(302, headers={"Location": "/login"}))
    server.route("GET", "/login", Answer(200, "<html>sign in</html>"))
    meta = forged(
        status={"method": "GET", "url": f"{server.url}/jobs/{{job_id}}"},
        cancel={"method": "DELETE", "url": f"{server.url}/jobs/{{job_id}}"},
    )
    with pytest.raises(HttpStatusError) as info:
        call("delete", meta)
    assert "302" in str(info.value)
    assert [(seen.method, seen.path) for seen in server.seen] == [("DELETE", "/jobs/job-1")]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_only_get_head_and_post_are_redirected(
    server: LocalServer, other_server: LocalServer, method: str, status: int
) -> None:
    server.route(method, "/x", Answer(status, headers={"Location": f"{other_server.url}/y"}))
    answer = asyncio.run(_send(Request(method, f"{server.url}/x", body="payload"), HttpClients()))
    assert answer.status == status
    assert other_server.seen == []


class _LargeH2(H2Server):
    """An HTTP/2-capable server whose /big answer is 40 MiB."""

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await super()._app(scope, receive, send)
        self.seen.append(H2Seen(scope["http_version"], scope["client"][1], scope["path"]))
        if scope["path"] == "/big":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            )
            chunk = b"x" * (64 * 1024)
            for _ in range(40 * 16):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"ok": true}'})


def test_an_abandoned_answer_does_not_stall_the_next_calls_to_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow: Any
) -> None:
    trust, chain = certificates(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(trust))
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_BODY", str(MiB))
    server = _LargeH2(chain).start()
    allow(server.url)
    clients = HttpClients()

    async def calls() -> list[int]:
        with pytest.raises(HttpResponseTooLargeError):
            await _send(Request("GET", f"{server.url}/big"), clients)
        return [(await _send(Request("GET", f"{server.url}/small"), clients)).status for _ in range(4)]

    try:
        assert asyncio.run(calls()) == [200, 200, 200, 200]
        # The server offers h2 by ALPN; the client speaks HTTP/1.1 (see the module's docstring).
        assert {seen.http_version for seen in server.seen} == {"1.1"}
    finally:
        server.close()


def test_a_url_without_a_query_is_parsed_once_and_one_with_a_query_is_never_kept() -> None:
    plain = "http://hooks.test:8080/notify"
    assert parsed_url(plain) is parsed_url(plain)
    assert str(parsed_url(plain)) == plain
    secret = "http://hooks.test/notify?api_key=s3cr3t"
    assert str(parsed_url(secret)) == secret
    assert parsed_url(secret) is not parsed_url(secret)
    # The cache holds no URL with a query, so no credential a query carries outlives its call.
    _parsed_without_query.cache_clear()
    parsed_url(plain)
    parsed_url(secret)
    assert _parsed_without_query.cache_info().currsize == 1
