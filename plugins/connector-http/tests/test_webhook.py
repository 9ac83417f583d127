"""webhook against a real local HTTP server: requests, answers, auth, and every failure's exact message."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_http import HttpConfigError, Webhook
from localhttp import Answer, LocalServer

import connector
from connector.testing import LifecycleDriver, registry_of

Phase = connector.Phase
Allow = Callable[[str, str], None]


def call(custom: dict[str, Any], secrets: dict[str, str] | None = None) -> connector.Resource:
    driver = LifecycleDriver(Webhook())
    return driver.do(driver.template(custom), connection=connector.Connection(secrets=secrets or {}))


def config_error(message: str) -> pytest.RaisesExc[connector.BadRequestError]:
    # The connector's HttpConfigError, or the core's CustomFieldError for its declared fields (issue 12).
    return pytest.raises((HttpConfigError, connector.CustomFieldError), match=f"^{re.escape(message)}$")


def test_a_json_body_is_posted_and_a_json_answer_parsed(server: LocalServer) -> None:
    server.route("POST", "/hook", Answer(201, {"id": 7, "tags": ["a"]}, {"X-Request-Id": "r1"}))
    resource = call({"url": f"{server.url}/hook", "body": {"event": "done", "n": 1}})
    assert resource.phase is Phase.SUCCEEDED
    assert resource.message == f"POST {server.url}/hook answered 201"
    assert resource.outputs is not None
    assert resource.outputs["status"] == 201
    assert resource.outputs["body"] == {"id": 7, "tags": ["a"]}
    assert resource.outputs["headers"]["x-request-id"] == "r1"
    assert resource.outputs["headers"]["content-type"] == "application/json"
    (seen,) = server.seen
    assert seen.json() == {"event": "done", "n": 1}
    assert seen.headers["content-type"] == "application/json"


def test_without_a_body_it_gets_and_a_text_answer_stays_text(server: LocalServer) -> None:
    server.route("GET", "/ping", Answer(200, "pong", {"Content-Type": "text/plain; charset=utf-8"}))
    resource = call({"url": f"{server.url}/ping"})
    assert resource.outputs is not None
    assert resource.outputs["body"] == "pong"
    assert server.seen[0].method == "GET"
    assert server.seen[0].body == b""


def test_a_string_body_goes_as_it_is_with_the_given_method_and_headers(server: LocalServer) -> None:
    server.route("PUT", "/doc", Answer(204))
    custom = {
        "url": f"{server.url}/doc",
        "method": "put",
        "body": "<x/>",
        "headers": {"Content-Type": "text/xml"},
    }
    resource = call(custom)
    assert resource.phase is Phase.SUCCEEDED
    assert resource.outputs == {"status": 204, "headers": resource.outputs["headers"], "body": ""}  # type: ignore[index]
    (seen,) = server.seen
    assert (seen.method, seen.body, seen.headers["content-type"]) == ("PUT", b"<x/>", "text/xml")


def test_a_plain_string_body_is_text(server: LocalServer) -> None:
    server.route("POST", "/t", Answer(200))
    call({"url": f"{server.url}/t", "body": "hello"})
    assert server.seen[0].headers["content-type"] == "text/plain; charset=utf-8"


def test_a_vendor_json_type_is_parsed(server: LocalServer) -> None:
    server.route("GET", "/v", Answer(200, '{"a": 1}', {"Content-Type": "application/vnd.api+json"}))
    assert call({"url": f"{server.url}/v"}).outputs["body"] == {"a": 1}  # type: ignore[index]


def test_the_secret_from_the_connection_is_a_bearer_token(server: LocalServer, allow_secret: Allow) -> None:
    allow_secret("api-token", server.url)
    server.route("GET", "/a", Answer(200))
    call({"url": f"{server.url}/a", "auth_secret": "api-token"}, secrets={"api-token": "s3cret"})
    assert server.seen[0].headers["authorization"] == "Bearer s3cret"


def test_a_raw_secret_in_another_header(server: LocalServer, allow_secret: Allow) -> None:
    allow_secret("key", server.url)
    server.route("GET", "/a", Answer(200))
    custom = {"url": f"{server.url}/a", "auth_secret": "key", "auth_header": "X-API-Key", "auth_scheme": ""}
    call(custom, secrets={"key": "k-123"})
    assert server.seen[0].headers["x-api-key"] == "k-123"
    assert "authorization" not in server.seen[0].headers


def test_the_secret_falls_back_to_the_environment(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, allow_secret: Allow
) -> None:
    allow_secret("api-token", server.url)
    monkeypatch.setenv("CONNECTOR_SECRET_API_TOKEN", "from-env")
    server.route("GET", "/a", Answer(200))
    call({"url": f"{server.url}/a", "auth_secret": "api-token"})
    assert server.seen[0].headers["authorization"] == "Bearer from-env"


def test_a_missing_secret_sends_nothing(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, allow_secret: Allow
) -> None:
    allow_secret("api-token", server.url)
    monkeypatch.setenv("CONNECTOR_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("CONNECTOR_SECRET_API_TOKEN", raising=False)
    with config_error(
        "webhook: the secret 'api-token' (custom field 'auth_secret') is not among the connection's secrets, "
        f"and secret 'api-token' not found: set $CONNECTOR_SECRET_API_TOKEN or create {tmp_path}/api-token"
    ):
        call({"url": f"{server.url}/a", "auth_secret": "api-token"})
    assert server.seen == []


def test_a_redirect_to_another_origin_does_not_get_the_secret(
    server: LocalServer, other_server: LocalServer, allow_secret: Allow
) -> None:
    allow_secret("key", server.url)
    allow_secret("key", other_server.url)  # allowed there too: the redirect still drops it
    server.route("GET", "/moved", Answer(302, headers={"Location": f"{other_server.url}/new"}))
    other_server.route("GET", "/new", Answer(200, {"ok": True}))
    custom = {"url": f"{server.url}/moved", "headers": {"X-Trace": "t1"}}
    custom |= {"auth_secret": "key", "auth_header": "X-API-Key", "auth_scheme": ""}
    resource = call(custom, secrets={"key": "k-123"})
    assert resource.phase is Phase.SUCCEEDED
    assert resource.outputs["body"] == {"ok": True}  # type: ignore[index]
    assert server.seen[0].headers["x-api-key"] == "k-123"
    (followed,) = other_server.seen
    assert "x-api-key" not in followed.headers
    assert followed.headers["x-trace"] == "t1"  # other headers still go


def test_a_redirect_on_the_same_origin_keeps_the_secret(server: LocalServer, allow_secret: Allow) -> None:
    allow_secret("api-token", server.url)
    server.route("GET", "/moved", Answer(301, headers={"Location": "/new"}))
    server.route("GET", "/new", Answer(200))
    call({"url": f"{server.url}/moved", "auth_secret": "api-token"}, secrets={"api-token": "s3cret"})
    assert [(s.path, s.headers["authorization"]) for s in server.seen] == [
        ("/moved", "Bearer s3cret"),
        ("/new", "Bearer s3cret"),
    ]


def test_an_unknown_charset_is_read_as_utf8(server: LocalServer) -> None:
    unknown = {"Content-Type": "text/plain; charset=no-such-charset"}
    server.route("GET", "/t", Answer(200, "caf\u00e9", unknown))
    assert call({"url": f"{server.url}/t"}).outputs["body"] == "caf\u00e9"  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "phase", "reason"),
    [
        (400, Phase.FAILED, "Bad Request"),
        (404, Phase.FAILED, "Not Found"),
        (408, Phase.RETRYABLE_FAILED, "Request Timeout"),
        (429, Phase.RETRYABLE_FAILED, "Too Many Requests"),
        (500, Phase.RETRYABLE_FAILED, "Internal Server Error"),
        (503, Phase.RETRYABLE_FAILED, "Service Unavailable"),
    ],
)
def test_a_status_outside_2xx_fails(server: LocalServer, status: int, phase: Phase, reason: str) -> None:
    server.route("POST", "/hook", Answer(status, {"error": "nope"}))
    resource = call({"url": f"{server.url}/hook", "body": {}})
    assert resource.phase is phase
    assert (
        resource.message == f'webhook: POST {server.url}/hook answered {status} {reason}: {{"error": "nope"}}'
    )
    assert resource.custom_info == {"status": status, "body": '{"error": "nope"}'}
    assert resource.outputs is None


def test_a_long_error_body_is_cut(server: LocalServer) -> None:
    server.route("GET", "/big", Answer(500, "x" * 5000))
    message = call({"url": f"{server.url}/big"}).message
    assert message == f"webhook: GET {server.url}/big answered 500 Internal Server Error: {'x' * 200}..."


def test_a_timeout_is_retryable(server: LocalServer) -> None:
    server.route("GET", "/slow", Answer(hang=True))
    resource = call({"url": f"{server.url}/slow", "timeout": 0.2})
    assert resource.phase is Phase.RETRYABLE_FAILED
    assert resource.message == f"webhook: GET {server.url}/slow timed out after 0.2s"


def test_no_server_is_retryable(allow: Callable[[str], None]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    allow(f"http://127.0.0.1:{port}")
    resource = call({"url": f"http://127.0.0.1:{port}/x"})
    assert resource.phase is Phase.RETRYABLE_FAILED
    assert (
        resource.message == f"webhook: GET http://127.0.0.1:{port}/x failed: [Errno 111] Connection refused"
    )


def test_invalid_json_fails(server: LocalServer) -> None:
    server.route("GET", "/bad", Answer(200, "{not json", {"Content-Type": "application/json"}))
    resource = call({"url": f"{server.url}/bad"})
    assert resource.phase is Phase.FAILED
    assert resource.message == (
        f"webhook: GET {server.url}/bad answered 200 with Content-Type application/json but its body is not "
        "valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({}, "webhook: the custom field 'url' is required"),
        (
            {"url": "ftp://x/y"},
            "webhook: the custom field 'url' must be an http:// or https:// URL; got 'ftp://x/y'",
        ),
        ({"url": 5}, "webhook: the custom field 'url' must be a string; got an integer"),
        (
            {"url": "http://h/", "method": "GET /x"},
            "webhook: the custom field 'method' must be an HTTP method; got 'GET /x'",
        ),
        (
            {"url": "http://h/", "headers": {"Authorization": "Bearer t0ken", "X": 1}},
            "webhook: the custom field 'headers' must map header names to strings; got 'X': int",
        ),
        (
            {"url": "http://h/", "headers": {1: "one"}},
            "webhook: the custom field 'headers' must map header names to strings; got 1: str",
        ),
        (
            {"url": "http://h/", "headers": ["X: 1"]},
            "webhook: the custom field 'headers' must be an object; got an array of 1 item",
        ),
        (
            {"url": "http://h/", "timeout": "soon"},
            "webhook: the custom field 'timeout' must be a number; got a string of 4 characters",
        ),
        (
            {"url": "http://h/", "timeout": 0},
            "webhook: the custom field 'timeout' must be a number of seconds above 0 and at most 3600; got 0",
        ),
        (
            {"url": "http://h/", "body": {1, 2}},
            "webhook: the custom field 'body' cannot be sent as JSON: Object of type set is not JSON "
            "serializable",
        ),
        (
            {"url": "http://h/", "auth_secret": ""},
            "webhook: the custom field 'auth_secret' must be a non-empty string; got ''",
        ),
    ],
)
def test_bad_custom_fields_are_refused(custom: dict[str, Any], message: str) -> None:
    with config_error(message):
        call(custom)


def test_null_for_a_field_with_a_default_gets_the_default() -> None:
    # flytekit's asdict writes null for every field left unset (issue 12).
    fields = registry_of(Webhook).get(connector.TaskCategory("webhook", 0)).custom_fields
    assert fields is not None
    custom = {"url": "http://h/", "timeout": None, "auth_header": None, "method": None}
    assert fields.check(custom) == {
        "url": "http://h/",
        "timeout": 30.0,
        "auth_header": "Authorization",
        "auth_scheme": "Bearer",
        "method": None,
    }
