"""https:// through the checked connection: the checked address is dialled, TLS verified for the name."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from connector_http import Webhook
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from localhttp import Answer, LocalServer

import connector
from connector.testing import LifecycleDriver

Phase = connector.Phase


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificates(directory: Path, dns_name: str) -> tuple[Path, Path]:
    """A CA (its PEM is the trust store) and a server certificate it signed for ``dns_name``."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("connector-http test CA"))
        .issuer_name(_name("connector-http test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    trust = directory / "ca.pem"
    trust.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = directory / "server.pem"
    chain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + leaf.public_bytes(serialization.Encoding.PEM)
    )
    return trust, chain


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
        trust, chain = _certificates(tmp_path, dns_name)
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
