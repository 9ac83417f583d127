"""Property: no forged http_job meta (nor webhook template) fails as INTERNAL, or reaches a refused server.

Every field of ``HttpJobMeta`` gets hostile values (URLs of every scheme, to loopback, private and
malformed hosts and ports; methods and headers with CR, LF and NUL; huge, negative and tiny
timeouts; bodies; secrets and auth headers), written as well-formed JSON and decoded as the service
decodes GetTask's and DeleteTask's bytes, then passed through the core's call layer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from connector_http import HttpJob, HttpJobMeta, Webhook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from localftp import FtpListener
from localhttp import Answer, LocalServer

import connector
from connector.registry._calls import run_blocking
from connector.server._status import status_for
from connector.testing import registry_of

JOB = "task type http_job@0"


@pytest.fixture(scope="module")
def forbidden() -> Iterator[LocalServer]:
    """A loopback server no setting allows; it answers every request as a job would, if one got through."""
    local = LocalServer()
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        local.route(method, "/", Answer(200, {"state": "done"}))
    local.thread.start()
    try:
        yield local
    finally:
        local.httpd.shutdown()
        local.httpd.server_close()


@pytest.fixture(scope="module")
def ftp() -> Iterator[FtpListener]:
    listener = FtpListener().start()
    try:
        yield listener
    finally:
        listener.close()


# Text of every kind, lone surrogates included (JSON can carry them as \ud800), and known troublemakers.
_text = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(
    ["", " ", "\r\n", "a\r\nX-Injected: 1", "\x00", "\ud800", "\u20ac", "{job_id}", "{x}", "../..", "%0d%0a"]
)
_SCHEMES = [
    "http",
    "https",
    "HTTP",
    "hTtPs",
    "ftp",
    "file",
    "gopher",
    "data",
    "javascript",
    "ws",
    "",
    "http+unix",
]
_HOSTS = [
    "127.0.0.1",
    "localhost",
    "LOCALHOST",
    "127.1",
    "2130706433",
    "0x7f.1",
    "017700000001",
    "0.0.0.0",
    "[::1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[64:ff9b::7f00:1]",
    "169.254.169.254",
    "10.0.0.1",
    "100.64.0.1",
    "192.168.0.1",
    "[fc00::1]",
    "[fe80::1%25lo]",
    "224.0.0.1",
    "user:pw@127.0.0.1",
    "127.0.0.1\\@example.com",
    "",
    "exa mple",
    "a..b",
    "[::1",
    "127.0.0.1\r\nX-Injected: 1",
]


# Spellings of this host's loopback address: a request to one of them at the refused server's port
# would reach it if a check let it through.
_LOOPBACK = ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f.1", "017700000001", "0.0.0.0"]
_LOOPBACK += ["[::ffff:127.0.0.1]", "LOCALHOST"]
_PATH = st.text("abcXYZ019-._~/?=&%{}", max_size=12) | _text


def _urls(ports: list[str]) -> st.SearchStrategy[str]:
    def urls(schemes: list[str], hosts: list[str], ports: list[str]) -> st.SearchStrategy[str]:
        return st.builds(
            lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
            st.sampled_from(schemes),
            st.sampled_from(hosts),
            st.sampled_from(ports),
            _PATH,
        )

    web = ["http", "https", "HTTP", "hTtPs"]
    any_port = ["", ":", ":0", ":65536", ":-1", ":abc", ":80", ":443", *(f":{p}" for p in ports)]
    aimed = urls(web[:1] + web[2:3], _LOOPBACK, [f":{p}" for p in ports])
    junk = st.sampled_from(["file:///etc/passwd", "ftp://127.0.0.1/", "data:,x"]) | _text
    return aimed | aimed | urls(web, _HOSTS, any_port) | urls(_SCHEMES, _HOSTS, any_port) | junk


def _requests(ports: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    methods = st.sampled_from(["GET", "PUT", "POST", "DELETE", "get", "M-SEARCH"])
    bad_methods = st.sampled_from(["GET /x", "GET\r\nX: 1", "", "G\x00"]) | _text
    names = st.sampled_from(["Authorization", "X-API-Key", "Host", "Content-Length", "Transfer-Encoding"])
    values = st.sampled_from(["1", "Bearer t", "chunked", "-1"])
    return st.fixed_dictionaries(
        {"method": methods | methods | bad_methods, "url": _urls(ports)},
        optional={
            "headers": st.dictionaries(names | names | _text, values | values | _text, max_size=3),
            "body": st.none() | _text,
        },
    )


def _metas(ports: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    # Integers stay within a float's range: past it, decode refuses the meta before any hook is called.
    usable = st.floats(0.001, 30)
    timeouts = (
        usable | usable | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**15), 10**15)
    )
    auth = st.fixed_dictionaries(
        {
            "secret": st.sampled_from(["db_password", "api_token", "", "x\r\ny", "missing"]) | _text,
            "header": st.sampled_from(["Authorization", "X-Stolen", "X-Stolen", "X\r\nY", ""]) | _text,
            "scheme": st.sampled_from(["Bearer", "", "", "Bearer x", "\r\n"]) | _text,
        }
    )
    phases = st.sampled_from(["QUEUED", "running", "SUCCEEDED", "GREAT", ""]) | _text
    return st.fixed_dictionaries(
        {"job_id": _text, "status": _requests(ports), "state_field": _text},
        optional={
            "cancel": st.none() | _requests(ports),
            "state_map": st.dictionaries(_text, phases, max_size=3),
            "message_field": _text,
            "outputs_field": _text,
            "log_url": _text | _urls(ports),
            "log_name": _text,
            "timeout": timeouts | st.sampled_from([0, -0.0, 5e-324, 1e300, 3600, 3600.0001]),
            "auth": st.none() | auth,
        },
    )


@st.composite
def _forged(draw: st.DrawFn, ports: list[str]) -> HttpJobMeta:
    data = draw(_metas(ports))
    return HttpJobMeta.decode(json.dumps({"v": 1, "data": data}).encode())


@pytest.mark.parametrize("hook", ["get", "delete"])
def test_no_forged_meta_is_internal_or_reaches_a_refused_server(
    hook: str, forbidden: LocalServer, ftp: FtpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = forbidden.url.rsplit(":", 1)[1]
    monkeypatch.setenv("CONNECTOR_SECRET_DB_PASSWORD", "hunter2")
    # Secrets allowed for the refused server's origins: the address check still stops them.
    monkeypatch.setenv(
        "CONNECTOR_HTTP_SECRET_ORIGINS", f"db_password={forbidden.url},api_token=http://localhost:{port}"
    )
    calls = connector.ConnectorCalls(registry_of(HttpJob).get("http_job"))
    connection = connector.Connection(secrets={"api_token": "t0k3n"})

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(meta=_forged([port, str(ftp.port)]))
    def check(meta: HttpJobMeta) -> None:
        call = (
            calls.get(meta, connection=connection)
            if hook == "get"
            else calls.delete(meta, connection=connection)
        )
        try:
            run_blocking(call)
        except Exception as exc:
            status = status_for(exc, operation=hook, target=JOB)
            assert status.code is not grpc.StatusCode.INTERNAL, status.message
        assert forbidden.seen == []
        assert ftp.connections == []

    check()


@pytest.fixture(scope="module")
def allowed() -> Iterator[LocalServer]:
    """A loopback server the webhook property allows: hostile values reach the HTTP client through it."""
    local = LocalServer()
    local.thread.start()
    try:
        yield local
    finally:
        local.httpd.shutdown()
        local.httpd.server_close()


def _templates(ports: list[str], allowed: str) -> st.SearchStrategy[dict[str, Any]]:
    """Webhook custom fields: hostile strings as in a meta, values of the wrong JSON type, and URLs
    of an allowed server, so that what the checks let through is sent."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | _text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
        max_leaves=6,
    )
    reachable = st.builds(lambda path: f"{allowed}/{path}", _PATH)
    wrong_types = st.fixed_dictionaries(
        {},
        optional={
            "url": json_values,
            "method": json_values,
            "headers": json_values,
            "body": json_values,
            "timeout": json_values,
            "auth_secret": st.sampled_from(["db_password", "api_token", ""]) | json_values,
            "auth_header": json_values,
            "auth_scheme": json_values,
        },
    )
    broad = st.builds(
        lambda request, url, extra: {**request, **({"url": url} if url else {}), **extra},
        _requests(ports),
        st.none() | reachable | reachable,
        st.just({}) | st.just({}) | wrong_types,
    )
    # A request that would be sent but for one hostile field: each check is then the only one that
    # stands between that value and the HTTP client.
    numbers = st.floats() | st.integers() | st.sampled_from([0, -1, 5e-324, 1e300, 3600, 3601, True])
    hostile = st.one_of(
        st.fixed_dictionaries({"url": _urls(ports) | json_values}),
        st.fixed_dictionaries({"method": st.sampled_from(["GET /x", "GET\r\nX: 1", "", "G\x00"]) | _text}),
        st.fixed_dictionaries({"headers": st.dictionaries(_text, st.just("1"), min_size=1, max_size=1)}),
        st.fixed_dictionaries({"headers": st.dictionaries(st.just("X-A"), _text, min_size=1, max_size=1)}),
        st.fixed_dictionaries({"headers": json_values}),
        st.fixed_dictionaries({"body": json_values}),
        st.fixed_dictionaries({"timeout": numbers | json_values}),
        st.fixed_dictionaries(
            {
                "auth_secret": st.sampled_from(["db_password", "api_token"]) | _text,
                "auth_header": st.sampled_from(["X-Key"]) | _text,
                "auth_scheme": st.sampled_from(["Bearer", ""]) | _text,
            }
        ),
    )
    focused = st.builds(lambda url, extra: {"url": url, "method": "POST", **extra}, reachable, hostile)
    return broad | focused | focused


def test_no_webhook_template_is_internal_or_reaches_a_refused_server(
    forbidden: LocalServer, allowed: LocalServer, ftp: FtpListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = forbidden.url.rsplit(":", 1)[1]
    monkeypatch.setenv("CONNECTOR_SECRET_DB_PASSWORD", "hunter2")
    monkeypatch.setenv("CONNECTOR_HTTP_ALLOW", allowed.url)
    monkeypatch.setenv(
        "CONNECTOR_HTTP_SECRET_ORIGINS", f"db_password={forbidden.url},db_password={allowed.url}"
    )
    calls = connector.ConnectorCalls(registry_of(Webhook).get("webhook"))

    # The webhook answers a remote's failures with a Resource: whatever it raises is about the request.
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(custom=_templates([port, str(ftp.port), allowed.url.rsplit(":", 1)[1]], allowed.url))
    def check(custom: dict[str, Any]) -> None:
        template = connector.TaskTemplate("webhook", custom=custom)
        try:
            run_blocking(calls.do(template))
        except Exception as exc:
            status = status_for(exc, operation="do", target="task type webhook@0")
            assert status.code is not grpc.StatusCode.INTERNAL, status.message
        assert forbidden.seen == []
        assert ftp.connections == []

    check()
