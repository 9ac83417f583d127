"""Each attack measured in issue 9 fails closed: exact status and message, and nothing reaches the target.

Forged ``http_job`` metas are hostile JSON decoded into ``HttpJobMeta`` and passed to ``get`` and
``delete`` through the core's call layer; statuses are those the service answers
(``status_for``, the one place that maps exceptions to gRPC codes).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from connector_http import HttpConfigError, HttpEgressError, HttpJob, HttpJobMeta, Webhook
from connector_http._exceptions import HttpResponseTooLargeError, HttpStatusError
from localftp import FtpListener
from localhttp import Answer, LocalServer, Seen

import connector
from connector.registry._calls import run_blocking
from connector.server._status import log_failure, status_for
from connector.testing import LifecycleDriver, registry_of

Phase = connector.Phase
Allow = Callable[[str], None]
AllowSecret = Callable[[str, str], None]
JOB = "task type http_job@0"
WEBHOOK = "task type webhook@0"
MiB = 1024 * 1024


@pytest.fixture
def ftp() -> Iterator[FtpListener]:
    listener = FtpListener().start()
    try:
        yield listener
    finally:
        listener.close()


def forged(**fields: Any) -> HttpJobMeta:
    """A meta a caller made up: JSON decoded into HttpJobMeta, as the service decodes GetTask's bytes."""
    data: dict[str, Any] = {
        "job_id": "job-1",
        "status": {"method": "GET", "url": "https://jobs.example/jobs/{job_id}", "headers": {}},
        "state_field": "state",
        **fields,
    }
    return HttpJobMeta.decode(json.dumps({"v": 1, "data": data}).encode())


def call(hook: str, meta: HttpJobMeta, *, secrets: dict[str, str] | None = None) -> Any:
    """``get`` or ``delete`` through the core's call layer, as the service calls them."""
    calls = connector.ConnectorCalls(registry_of(HttpJob).get("http_job"))
    connection = connector.Connection(secrets=secrets or {})
    if hook == "get":
        return run_blocking(calls.get(meta, connection=connection))
    return run_blocking(calls.delete(meta, connection=connection))


def refused(hook: str, meta: HttpJobMeta, message: str, **kwargs: Any) -> HttpConfigError:
    """Assert that the call raises ``message`` exactly, answered INVALID_ARGUMENT with that message."""
    with pytest.raises(HttpConfigError) as info:
        call(hook, meta, **kwargs)
    assert str(info.value) == message
    status = status_for(info.value, operation=hook, target=JOB)
    assert (status.code, status.message) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    return info.value


def webhook(custom: dict[str, Any], secrets: dict[str, str] | None = None) -> connector.Resource:
    driver = LifecycleDriver(Webhook())
    return driver.do(driver.template(custom), connection=connector.Connection(secrets=secrets or {}))


def webhook_refused(custom: dict[str, Any], message: str, **kwargs: Any) -> connector.BadRequestError:
    # The connector's HttpConfigError, or the core's CustomFieldError for its declared fields (issue 12).
    with pytest.raises((HttpConfigError, connector.CustomFieldError)) as info:
        webhook(custom, **kwargs)
    assert str(info.value) == message
    status = status_for(info.value, operation="do", target=WEBHOOK)
    assert (status.code, status.message) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    return info.value


# A forged get sends a secret to the attacker.


def test_a_forged_get_cannot_send_a_secret_where_the_operator_did_not_allow_it(
    server: LocalServer, other_server: LocalServer, allow_secret: AllowSecret, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_DB_PASSWORD", "hunter2")
    allow_secret("db_password", other_server.url)  # the job API's origin, not the attacker's
    server.route("GET", "/collect", Answer(200, {"state": "done"}))  # the attacker, reachable
    meta = forged(
        status={"method": "GET", "url": f"{server.url}/collect"},
        auth={"secret": "db_password", "header": "X-Stolen", "scheme": ""},
    )
    error = refused(
        "get",
        meta,
        f"http_job: GET {server.url}/collect is refused: the secret 'db_password' may not be sent to "
        f"{server.url}; to allow it, add db_password={server.url} to CONNECTOR_HTTP_SECRET_ORIGINS",
    )
    assert isinstance(error, HttpEgressError)
    assert (error.origin, error.setting) == (server.url, "CONNECTOR_HTTP_SECRET_ORIGINS")
    assert server.seen == []


def test_a_secret_goes_where_the_operator_allowed_it(server: LocalServer, allow_secret: AllowSecret) -> None:
    allow_secret("db_password", server.url)
    server.route("GET", "/jobs/job-1", Answer(200, {"state": "running"}))
    meta = forged(
        status={"method": "GET", "url": f"{server.url}/jobs/{{job_id}}"},
        auth={"secret": "db_password", "header": "X-Key", "scheme": ""},
    )
    resource = call("get", meta, secrets={"db_password": "hunter2"})
    assert resource.phase is Phase.RUNNING
    assert server.seen[0].headers["x-key"] == "hunter2"


# A forged get reads an internal service.


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is a loopback address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),  # Linux connects 0.0.0.0 to this host
        ("2130706433", "2130706433 resolves to 127.0.0.1, a loopback address"),  # checked once resolved
        ("127.1", "127.1 resolves to 127.0.0.1, a loopback address"),
        ("localhost", r"localhost resolves to (127\.0\.0\.1|::1), a loopback address"),
    ],
)
def test_a_forged_get_cannot_reach_an_internal_service(
    forbidden_server: LocalServer, host: str, why: str
) -> None:
    forbidden_server.route("GET", "/internal", Answer(200, {"state": "done", "result": {"db": "rows"}}))
    port = forbidden_server.url.rsplit(":", 1)[1]
    url = f"http://{host}:{port}/internal"
    meta = forged(status={"method": "GET", "url": url}, outputs_field="result")
    with pytest.raises(HttpEgressError) as info:
        call("get", meta)
    origin = f"http://{host}:{port}"
    pattern = (
        f"http_job: GET {re.escape(url)} is refused: {why if host == 'localhost' else re.escape(why)}; "
        f"to allow it, add {re.escape(origin)} to CONNECTOR_HTTP_ALLOW"
    )
    assert re.fullmatch(pattern, str(info.value))
    assert status_for(info.value, operation="get", target=JOB).code is grpc.StatusCode.INVALID_ARGUMENT
    assert forbidden_server.seen == []


def test_the_cloud_metadata_address_is_refused() -> None:
    meta = forged(status={"method": "GET", "url": "http://169.254.169.254/latest/meta-data/"})
    refused(
        "get",
        meta,
        "http_job: GET http://169.254.169.254/latest/meta-data/ is refused: 169.254.169.254 is a "
        "link-local address; to allow it, add http://169.254.169.254 to CONNECTOR_HTTP_ALLOW",
    )


# Forged file:// and ftp:// URLs.


def test_a_forged_file_url_is_not_opened(tmp_path: Path) -> None:
    secret_file = tmp_path / "passwords.json"
    secret_file.write_text('{"state": "done", "password": "hunter2"}')
    url = secret_file.as_uri()
    error = refused(
        "get",
        forged(status={"method": "GET", "url": url}),
        f"http_job: the resource meta field 'status.url' must be an http:// or https:// URL; got {url!r}",
    )
    assert error.field == "status.url"


def test_a_forged_ftp_url_never_connects(ftp: FtpListener) -> None:
    refused(
        "get",
        forged(status={"method": "GET", "url": f"{ftp.url}/pub"}),
        f"http_job: the resource meta field 'status.url' must be an http:// or https:// URL; "
        f"got '{ftp.url}/pub'",
    )
    refused(
        "delete",
        forged(cancel={"method": "DELETE", "url": f"{ftp.url}/jobs/{{job_id}}"}),
        f"http_job: the resource meta field 'cancel.url' must be an http:// or https:// URL; "
        f"got '{ftp.url}/jobs/{{job_id}}'",
    )
    assert ftp.connections == []


def test_a_redirect_to_ftp_is_not_followed(server: LocalServer, ftp: FtpListener) -> None:
    server.route("GET", "/moved", Answer(302, headers={"Location": f"{ftp.url}/banner"}))
    resource = webhook({"url": f"{server.url}/moved"})
    assert resource.phase is Phase.FAILED
    assert resource.message == (
        f"webhook: GET {server.url}/moved answered 302 Found - Redirection to url '{ftp.url}/banner' "
        "is not allowed: "
    )
    assert ftp.connections == []


# A forged delete sends an arbitrary PUT with a body.


def test_a_forged_delete_cannot_put_a_body_to_an_internal_service(forbidden_server: LocalServer) -> None:
    meta = forged(
        cancel={"method": "PUT", "url": f"{forbidden_server.url}/admin/users/1", "body": '{"role": "admin"}'}
    )
    refused(
        "delete",
        meta,
        f"http_job: PUT {forbidden_server.url}/admin/users/1 is refused: 127.0.0.1 is a loopback address; "
        f"to allow it, add {forbidden_server.url} to CONNECTOR_HTTP_ALLOW",
    )
    assert forbidden_server.seen == []


# A plain webhook template sends a file secret to an attacker.


def test_a_webhook_cannot_send_a_file_secret_where_it_is_not_allowed(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow_secret: AllowSecret
) -> None:
    (tmp_path / "api_token").write_text("t0ken-from-file\n")
    monkeypatch.setenv("CONNECTOR_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("CONNECTOR_SECRET_API_TOKEN", raising=False)
    allow_secret("api_token", "https://api.example")
    webhook_refused(
        {"url": f"{server.url}/steal", "auth_secret": "api_token"},
        f"webhook: GET {server.url}/steal is refused: the secret 'api_token' may not be sent to "
        f"{server.url}; to allow it, add api_token={server.url} to CONNECTOR_HTTP_SECRET_ORIGINS",
    )
    assert server.seen == []


def test_a_secret_no_setting_names_goes_nowhere(server: LocalServer) -> None:
    webhook_refused(
        {"url": f"{server.url}/a", "auth_secret": "api_token"},
        f"webhook: GET {server.url}/a is refused: the secret 'api_token' may not be sent to {server.url}; "
        f"to allow it, add api_token={server.url} to CONNECTOR_HTTP_SECRET_ORIGINS",
        secrets={"api_token": "t"},
    )
    assert server.seen == []


def test_http_job_refuses_a_status_request_before_it_submits(
    server: LocalServer, forbidden_server: LocalServer
) -> None:
    server.route("POST", "/jobs", Answer(201, {"id": "1"}))
    custom = {
        "submit": {"url": f"{server.url}/jobs"},
        "status": {"url": f"{forbidden_server.url}/{{job_id}}"},
    }
    driver = LifecycleDriver(HttpJob())
    with pytest.raises(HttpEgressError) as info:
        driver.create(driver.template(custom))
    assert str(info.value) == (
        f"http_job: GET {forbidden_server.url}/{{job_id}} is refused: 127.0.0.1 is a loopback address; "
        f"to allow it, add {forbidden_server.url} to CONNECTOR_HTTP_ALLOW"
    )
    assert server.seen == forbidden_server.seen == []


# A redirect from an allowed origin to a refused one.


def test_a_redirect_to_a_refused_origin_reaches_nothing(
    server: LocalServer, forbidden_server: LocalServer, allow_secret: AllowSecret
) -> None:
    allow_secret("key", server.url)
    server.route("GET", "/moved", Answer(302, headers={"Location": f"{forbidden_server.url}/steal"}))
    forbidden_server.route("GET", "/steal", Answer(200, {"stolen": True}))
    custom = {"url": f"{server.url}/moved", "auth_secret": "key", "auth_header": "X-Key", "auth_scheme": ""}
    webhook_refused(
        custom,
        f"webhook: GET {server.url}/moved is refused: it redirects to {forbidden_server.url}/steal, and "
        f"127.0.0.1 is a loopback address; to allow it, add {forbidden_server.url} to CONNECTOR_HTTP_ALLOW",
        secrets={"key": "k-123"},
    )
    assert forbidden_server.seen == []
    assert [s.headers["x-key"] for s in server.seen] == ["k-123"]


def test_a_redirect_to_a_forged_status_of_http_job_reaches_nothing(
    server: LocalServer, forbidden_server: LocalServer
) -> None:
    server.route("GET", "/jobs/job-1", Answer(307, headers={"Location": f"{forbidden_server.url}/x"}))
    meta = forged(status={"method": "GET", "url": f"{server.url}/jobs/{{job_id}}"})
    refused(
        "get",
        meta,
        f"http_job: GET {server.url}/jobs/job-1 is refused: it redirects to {forbidden_server.url}/x, and "
        f"127.0.0.1 is a loopback address; to allow it, add {forbidden_server.url} to CONNECTOR_HTTP_ALLOW",
    )
    assert forbidden_server.seen == []


# One answer of 200 MB.


def _stream(total: int, chunk: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    piece = b"x" * chunk

    def body() -> Iterator[bytes]:
        for _ in range(total // chunk):
            yield piece

    return body


def test_a_200_mb_answer_fails_and_only_the_limit_is_read(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_BODY", str(MiB))
    server.route("GET", "/big", Answer(200, stream=_stream(200 * MiB)))  # no Content-Length
    tracemalloc.start()
    try:
        resource = webhook({"url": f"{server.url}/big"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resource.phase is Phase.FAILED
    assert resource.message == (
        f"webhook: GET {server.url}/big answered 200 OK with a body over the limit of 1048576 bytes; "
        "reading stopped there (the limit is set by CONNECTOR_HTTP_MAX_BODY)"
    )
    assert resource.outputs is None
    assert peak < 16 * MiB  # about the limit (and copies of it), not 200 MB
    assert server.streamed < 64 * MiB  # the limit, plus what the sockets' buffers took


def test_a_declared_length_over_the_default_limit_reads_nothing(server: LocalServer) -> None:
    server.route("GET", "/big", Answer(200, stream=_stream(200 * MiB), length=200 * MiB))
    resource = webhook({"url": f"{server.url}/big"})
    assert resource.phase is Phase.FAILED
    assert resource.message == (
        f"webhook: GET {server.url}/big answered 200 OK with a body over the limit of 10485760 bytes; "
        "reading stopped there (the limit is set by CONNECTOR_HTTP_MAX_BODY)"
    )
    assert server.streamed < 64 * MiB


def test_a_large_error_body_is_cut_not_failed(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_BODY", str(MiB))
    server.route("GET", "/err", Answer(503, stream=_stream(50 * MiB)))
    resource = webhook({"url": f"{server.url}/err"})
    assert resource.phase is Phase.RETRYABLE_FAILED  # the status decides, as before
    assert (
        resource.message == f"webhook: GET {server.url}/err answered 503 Service Unavailable: {'x' * 200}..."
    )


def test_a_body_that_trickles_in_stops_at_the_timeout(server: LocalServer) -> None:
    def trickle() -> Iterator[bytes]:
        for _ in range(2000):  # 100 s at this pace, if the client kept reading
            yield b"x"
            server.released.wait(0.05)

    server.route("GET", "/slow", Answer(200, stream=trickle))
    resource = webhook({"url": f"{server.url}/slow", "timeout": 0.3})
    assert resource.phase is Phase.RETRYABLE_FAILED
    assert resource.message == f"webhook: GET {server.url}/slow timed out after 0.3s"


def test_a_head_answer_announcing_a_large_body_is_not_over_the_limit(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_BODY", "1024")
    server.route("HEAD", "/big", Answer(200, "x" * 5000))
    resource = webhook({"url": f"{server.url}/big", "method": "HEAD"})
    assert resource.phase is Phase.SUCCEEDED
    assert resource.outputs["headers"]["content-length"] == "5000"  # type: ignore[index]


def test_a_large_status_answer_fails_the_step(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_BODY", "1024")
    server.route("GET", "/jobs/job-1", Answer(200, {"state": "done", "padding": "x" * 2000}))
    meta = forged(status={"method": "GET", "url": f"{server.url}/jobs/{{job_id}}"})
    with pytest.raises(HttpResponseTooLargeError) as info:
        call("get", meta)
    assert str(info.value) == (
        f"http_job: GET {server.url}/jobs/job-1 answered 200 OK with a body over the limit of 1024 bytes; "
        "reading stopped there (the limit is set by CONNECTOR_HTTP_MAX_BODY)"
    )
    assert info.value.limit == 1024


# A remote that echoes the request's headers.


def _echo(request: Seen) -> Answer:
    return Answer(500, {"you sent": request.headers}, reason=f"Echo {request.headers.get('x-api-key')}")


def test_an_echoed_credential_is_masked_in_the_webhook_result(
    server: LocalServer, allow_secret: AllowSecret
) -> None:
    allow_secret("key", server.url)
    server.route("GET", "/echo", _echo)
    custom = {
        "url": f"{server.url}/echo",
        "auth_secret": "key",
        "auth_header": "X-API-Key",
        "auth_scheme": "",
        "headers": {"Authorization": "Bearer tmpl-t0ken"},
    }
    resource = webhook(custom, secrets={"key": "k-3cr3t"})
    assert resource.phase is Phase.RETRYABLE_FAILED
    assert resource.message.startswith(f"webhook: GET {server.url}/echo answered 500 Echo ***: ")
    assert '"x-api-key": "***"' in resource.message
    assert '"authorization": "***"' in resource.message
    for text in (resource.message, repr(resource.custom_info)):
        assert "k-3cr3t" not in text
        assert "tmpl-t0ken" not in text


def test_an_echoed_credential_is_nowhere_in_the_status_the_log_or_the_trace(
    server: LocalServer,
    allow_secret: AllowSecret,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    allow_secret("key", server.url)
    server.route("GET", "/jobs/job-1", _echo)
    meta = forged(
        status={
            "method": "GET",
            "url": f"{server.url}/jobs/{{job_id}}",
            "headers": {"Authorization": "Bearer tmpl-t0ken"},
        },
        auth={"secret": "key", "header": "X-API-Key", "scheme": ""},
    )
    registry = connector.ConnectorRegistry(settings=connector.RegistrySettings(trace=True))
    registry.register(HttpJob)
    calls = connector.ConnectorCalls(registry.get("http_job"))
    connection = connector.Connection(secrets={"key": "k-3cr3t"})
    with pytest.raises(HttpStatusError) as info:
        run_blocking(calls.get(meta, connection=connection))
    status = status_for(info.value, operation="get", target=JOB)
    with caplog.at_level(logging.INFO, logger="connector.server"):
        log_failure(status, info.value, rpc="GetTask", target=JOB)
    trace = capsys.readouterr().err
    assert status.code is grpc.StatusCode.INTERNAL  # the remote failed: not the caller's mistake
    assert status.message.startswith(
        f"get for {JOB} failed: HttpStatusError: http_job: the status request GET {server.url}/jobs/job-1 "
        "was answered 500 Echo ***: "
    )
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "connector trace: http_job@0 get(" in trace
    assert "raised HttpStatusError" in trace
    for text in (str(info.value), status.message, caplog.text, trace):
        assert "k-3cr3t" not in text
        assert "tmpl-t0ken" not in text
        assert "***" in text


def test_a_credential_in_a_bad_status_line_is_masked(allow: Allow, allow_secret: AllowSecret) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        allow(url)
        allow_secret("key", url)

        def answer_once() -> None:
            conn, _ = listener.accept()
            with conn:
                request = conn.recv(65536).decode()
                token = re.search(r"X-Key: (\S+)", request)
                conn.sendall(f"HTTP/1.1 abc {token[1] if token else ''}\r\n\r\n".encode())

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        custom = {"url": f"{url}/x", "auth_secret": "key", "auth_header": "X-Key", "auth_scheme": ""}
        resource = webhook(custom, secrets={"key": "k-3cr3t"})
        thread.join(10)
    assert resource.phase is Phase.RETRYABLE_FAILED
    # h11's words (httpx's HTTP/1.1 parser), quoting the line with the credential masked.
    assert (
        resource.message
        == f"webhook: GET {url}/x failed: illegal status line: bytearray(b'HTTP/1.1 abc ***')"
    )


# Caller mistakes are INVALID_ARGUMENT, not INTERNAL.


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        (
            {"method": "GET\r\nX-Injected: 1"},
            "webhook: the custom field 'method' must be an HTTP method; got 'GET\\r\\nX-Injected: 1'",
        ),
        (
            {"headers": {"X-A": "1\r\nX-Injected: 1"}},
            "webhook: the custom field 'headers' has a value of header 'X-A' that holds a line break "
            "(CR or LF) or NUL",
        ),
        (
            {"headers": {"X-A": "1\x00"}},
            "webhook: the custom field 'headers' has a value of header 'X-A' that holds a line break "
            "(CR or LF) or NUL",
        ),
        (
            {"headers": {"X-A": "\u20ac"}},
            "webhook: the custom field 'headers' has a value of header 'X-A' that is not Latin-1 text",
        ),
        (
            {"headers": {"X-A: 1\r\nX-B": "2"}},
            "webhook: the custom field 'headers' has a header name that is not an HTTP token: "
            "'X-A: 1\\r\\nX-B'",
        ),
        (
            {"headers": {"": "2"}},
            "webhook: the custom field 'headers' has a header name that is not an HTTP token: ''",
        ),
        (
            {"auth_secret": "k", "auth_header": "X-A\r\nX-B"},
            "webhook: the custom field 'auth_header' must be a header name (an HTTP token); "
            "got 'X-A\\r\\nX-B'",
        ),
        *(
            (
                {"headers": {name: "1"}},
                f"webhook: the custom field 'headers' sets {name!r}, which connector-http sets itself (the "
                "host is the URL's, the body's length and framing are the body's)",
            )
            for name in ("Host", "content-length", "Transfer-Encoding", "Connection")
        ),
        (
            {"auth_secret": "api token,x=https://evil.example"},
            "webhook: the custom field 'auth_secret' must be a secret's name (letters, digits, '-', '_' and "
            "'.'); got 'api token,x=https://evil.example'",
        ),
        (
            {"auth_secret": "k", "auth_scheme": "Bearer x"},
            "webhook: the custom field 'auth_scheme' must be an HTTP token such as Bearer, or empty; "
            "got 'Bearer x'",
        ),
        *(
            (
                {"timeout": value},
                "webhook: the custom field 'timeout' must be a number of seconds above 0 and at most 3600; "
                f"got {value!r}",
            )
            for value in (-1, 0, 1e300, 3601, 10**400)
        ),
        # The declared fields refuse what is not a number at all before the connector sees it (issue 12).
        ({"timeout": True}, "webhook: the custom field 'timeout' must be a number; got a boolean"),
        *(
            (
                {"timeout": value},
                "webhook: the custom field 'timeout' must be a number; got a non-finite number",
            )
            for value in (float("nan"), float("inf"), float("-inf"))
        ),
        (
            {"url": "http://h/a\r\nX-Injected: 1"},
            "webhook: the custom field 'url' is not a URL connector-http can send: it has a space, a control "
            "character or a character that is not ASCII (percent-encode them; write international host "
            "names in punycode); got 'http://h/a\\r\\nX-Injected: 1'",
        ),
        (
            {"url": "http://user:pw@h/"},
            "webhook: the custom field 'url' is not a URL connector-http can send: it has a user name or "
            "password (send credentials with auth_secret); got 'http://user:pw@h/'",
        ),
    ],
)
def test_a_bad_webhook_field_is_invalid_argument(
    server: LocalServer, custom: dict[str, Any], message: str
) -> None:
    webhook_refused({"url": f"{server.url}/x", **custom}, message)
    assert server.seen == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"timeout": -1},
            "http_job: the resource meta field 'timeout' must be a number of seconds above 0 and at most "
            "3600; got -1.0",
        ),
        (
            {"timeout": 1e300},
            "http_job: the resource meta field 'timeout' must be a number of seconds above 0 and at most "
            "3600; got 1e+300",
        ),
        (
            {"status": {"method": "GET\r\nX: 1", "url": "http://h/"}},
            "http_job: the resource meta field 'status.method' must be an HTTP method; got 'GET\\r\\nX: 1'",
        ),
        (
            {"status": {"method": "GET", "url": "http://h/", "headers": {"X": "a\r\nb"}}},
            "http_job: the resource meta field 'status.headers' has a value of header 'X' that holds a line "
            "break (CR or LF) or NUL",
        ),
        (
            {"cancel": {"method": "POST", "url": "http://h/", "body": "\ud800"}},
            "http_job: the resource meta field 'cancel.body' is not valid Unicode text (it has a lone "
            "surrogate)",
        ),
        (
            {"auth": {"secret": "k", "header": "X\r\nY", "scheme": ""}},
            "http_job: the resource meta field 'auth.header' must be a header name (an HTTP token); "
            "got 'X\\r\\nY'",
        ),
        (
            {"auth": {"secret": "\ud800", "header": "X", "scheme": ""}},
            "http_job: the resource meta field 'auth.secret' must be a secret's name (letters, digits, '-', "
            "'_' and '.'); got '\\ud800'",
        ),
        (
            {"auth": {"secret": "", "header": "X", "scheme": ""}},
            "http_job: the resource meta field 'auth.secret' must be a non-empty string; got ''",
        ),
        (
            {"state_map": {"ok": "GREAT"}},
            "http_job: the resource meta field 'state_map' maps 'ok' to 'GREAT', which is not a phase; "
            "phases: UNDEFINED, QUEUED, RUNNING, SUCCEEDED, ABORTED, FAILED, INITIALIZING, "
            "WAITING_FOR_RESOURCES, RETRYABLE_FAILED",
        ),
        (
            {"job_id": "\udc80"},
            "http_job: the resource meta field 'job_id' is not valid Unicode text (it has a lone surrogate)",
        ),
        (
            {"log_url": "https://console/{run}"},
            "http_job: the resource meta field 'log_url' uses {run}; the only placeholder is {job_id}",
        ),
    ],
)
@pytest.mark.parametrize("hook", ["get", "delete"])
def test_a_bad_meta_field_is_invalid_argument(hook: str, fields: dict[str, Any], message: str) -> None:
    refused(hook, forged(**fields), message)


def test_a_bad_setting_marks_the_connector_broken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_ALLOW", "ftp://files.internal")
    registry = registry_of(entry_points={"webhook": Webhook})
    with pytest.raises(connector.ConnectorLoadError) as info:
        registry.get("webhook")
    status = status_for(info.value, operation="do", target=WEBHOOK)
    assert status.code is grpc.StatusCode.FAILED_PRECONDITION
    assert (
        "CONNECTOR_HTTP_ALLOW: 'ftp://files.internal' is not an origin: only http:// and https:// URLs are "
        "allowed" in status.message
    )


# Connect-time checks: one lookup, the address checked is the address connected to.


def test_a_name_is_checked_once_resolved_and_connected_by_that_address(
    server: LocalServer, forbidden_server: LocalServer, allow: Allow, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo
    lookups: list[str] = []
    answers = {"jobs.test": ["127.0.0.1", "10.255.255.1"], "evil.test": ["127.0.0.1"]}

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        # The first answer is 127.0.0.1; any later one would be another address (DNS rebinding).
        address = answers[host][min(len(lookups) - 1, len(answers[host]) - 1)]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    port = server.url.rsplit(":", 1)[1]
    allow(f"http://jobs.test:{port}")
    server.route("GET", "/ok", Answer(200, {"ok": True}))
    resource = webhook({"url": f"http://jobs.test:{port}/ok"})
    assert resource.phase is Phase.SUCCEEDED
    assert lookups == ["jobs.test"]
    assert server.seen[0].headers["host"] == f"jobs.test:{port}"

    lookups.clear()
    forbidden_port = forbidden_server.url.rsplit(":", 1)[1]
    webhook_refused(
        {"url": f"http://evil.test:{forbidden_port}/"},
        f"webhook: GET http://evil.test:{forbidden_port}/ is refused: evil.test resolves to 127.0.0.1, a "
        f"loopback address; to allow it, add http://evil.test:{forbidden_port} to CONNECTOR_HTTP_ALLOW",
    )
    assert lookups == ["evil.test"]
    assert forbidden_server.seen == []


def test_proxies_in_the_environment_are_not_used(
    server: LocalServer, forbidden_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would be connected to instead of the destination, and checked instead of it.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, forbidden_server.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    server.route("GET", "/ok", Answer(200))
    assert webhook({"url": f"{server.url}/ok"}).phase is Phase.SUCCEEDED
    assert forbidden_server.seen == []
