"""https:// through the checked connection: the checked address is dialled, TLS verified for the name."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from connector_http import Webhook
from localhttp import Answer, LocalServer
from localtls import certificates

import connector
from connector.testing import LifecycleDriver

Phase = connector.Phase


class TlsServer:
    """A LocalServer behind TLS; ``server_names`` records the SNI name of each handshake."""

    def __init__(self, local: LocalServer, chain: Path) -> None:
        self.local = local
        self.server_names: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)

        def record(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
            self.server_names.append(name)

        context.sni_callback = record  # type: ignore[assignment]
        local.httpd.socket = context.wrap_socket(local.httpd.socket, server_side=True)
        self.port = local.httpd.server_address[1]


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], TlsServer]]:
    servers: list[LocalServer] = []

    def start(dns_name: str) -> TlsServer:
        trust, chain = certificates(tmp_path, dns_name)
        monkeypatch.setenv("SSL_CERT_FILE", str(trust))  # what ssl.create_default_context() trusts
        local = LocalServer()
        server = TlsServer(local, chain)
        local.thread.start()
        servers.append(local)
        return server

    yield start
    for local in servers:
        local.released.set()
        local.httpd.shutdown()
        local.httpd.server_close()


def call(custom: dict[str, object]) -> connector.Resource:
    driver = LifecycleDriver(Webhook())
    return driver.do(driver.template(custom))


def test_https_dials_the_checked_address_and_verifies_the_name(
    tls: Callable[[str], TlsServer], allow: Callable[[str], None]
) -> None:
    server = tls("localhost")
    server.local.route("GET", "/ok", Answer(200, {"ok": True}))
    allow(f"https://localhost:{server.port}")
    resource = call({"url": f"https://localhost:{server.port}/ok"})
    assert resource.phase is Phase.SUCCEEDED, resource.message
    assert resource.outputs["body"] == {"ok": True}  # type: ignore[index]
    assert server.server_names == ["localhost"]  # SNI: the name, not the address connected to
    assert server.local.seen[0].headers["host"] == f"localhost:{server.port}"


def test_a_certificate_for_another_name_is_refused(
    tls: Callable[[str], TlsServer], allow: Callable[[str], None]
) -> None:
    server = tls("other.example")
    allow(f"https://localhost:{server.port}")
    resource = call({"url": f"https://localhost:{server.port}/ok"})
    assert resource.phase is Phase.RETRYABLE_FAILED
    assert resource.message.startswith(f"webhook: GET https://localhost:{server.port}/ok failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in resource.message
    assert server.local.seen == []


def test_the_address_alone_does_not_pass_for_the_name(
    tls: Callable[[str], TlsServer], allow: Callable[[str], None]
) -> None:
    server = tls("localhost")
    allow(f"https://127.0.0.1:{server.port}")
    resource = call({"url": f"https://127.0.0.1:{server.port}/ok"})
    assert resource.phase is Phase.RETRYABLE_FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in resource.message
    assert server.local.seen == []
