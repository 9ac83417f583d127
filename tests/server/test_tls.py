"""TLS: a client that trusts the CA connects, a plaintext client is refused; mutual TLS; bad files."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flyteidl.admin import agent_pb2
from flyteidl.service import agent_pb2_grpc

from connector import ConfigurationError
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of
from tests.server.sample_plugin import AsyncSleepConnector


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class _Authority:
    """A throwaway certificate authority that signs server and client certificates."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("connector test CA"))
            .issuer_name(_name("connector test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, *, server: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("pki")
    authority = _Authority()
    server_cert, server_key = authority.issue("localhost", server=True)
    client_cert, client_key = authority.issue("propeller", server=False)
    files = {"ca": authority.pem, "server.crt": server_cert, "server.key": server_key}
    paths = {}
    for name, data in files.items():
        paths[name] = directory / name
        paths[name].write_bytes(data)
    return {"paths": paths, "ca": authority.pem, "client": (client_cert, client_key)}


async def _list(channel: grpc.aio.Channel) -> Any:
    return await agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(
        agent_pb2.ListAgentsRequest(), timeout=5
    )


async def _started(**options: Any) -> ConnectorService:
    service = ConnectorService(
        registry_of(AsyncSleepConnector), ServiceOptions(port=0, prometheus_port=None, **options)
    )
    await service.start()
    await service.ready.wait()
    return service


async def test_tls_client_with_the_ca_connects_and_plaintext_is_refused(pki: dict[str, Any]) -> None:
    paths = pki["paths"]
    service = await _started(tls_cert=paths["server.crt"], tls_key=paths["server.key"])
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca"])
        async with grpc.aio.secure_channel(f"127.0.0.1:{service.port}", credentials) as channel:
            assert [a.name for a in (await _list(channel)).agents] == ["Sleep connector"]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _list(channel)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        # A client that does not trust the CA is refused too.
        async with grpc.aio.secure_channel(
            f"127.0.0.1:{service.port}", grpc.ssl_channel_credentials()
        ) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _list(channel)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await service.stop(0)


async def test_mutual_tls_needs_a_client_certificate(pki: dict[str, Any]) -> None:
    paths = pki["paths"]
    service = await _started(
        tls_cert=paths["server.crt"], tls_key=paths["server.key"], tls_client_ca=paths["ca"]
    )
    try:
        cert, key = pki["client"]
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=pki["ca"], private_key=key, certificate_chain=cert
        )
        async with grpc.aio.secure_channel(f"127.0.0.1:{service.port}", with_cert) as channel:
            assert (await _list(channel)).agents
        without = grpc.ssl_channel_credentials(root_certificates=pki["ca"])
        async with grpc.aio.secure_channel(f"127.0.0.1:{service.port}", without) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await _list(channel)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await service.stop(0)


async def test_a_file_that_is_not_pem_is_a_configuration_error(tmp_path: Path, pki: dict[str, Any]) -> None:
    garbage = tmp_path / "server.key"
    garbage.write_text("not a key")
    service = ConnectorService(
        registry_of(AsyncSleepConnector),
        ServiceOptions(port=0, prometheus_port=None, tls_cert=pki["paths"]["server.crt"], tls_key=garbage),
    )
    with pytest.raises(ConfigurationError) as info:
        await service.start()
    assert str(info.value) == f"--tls-key {garbage} is not a PEM file (no '-----BEGIN' line)"


async def test_a_key_of_another_certificate_is_refused_before_binding(
    tmp_path: Path, pki: dict[str, Any]
) -> None:
    # gRPC's own bind fails on such a pair saying only "Failed to bind" (issue 12).
    other = tmp_path / "other.key"
    other.write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1())))
    cert = pki["paths"]["server.crt"]
    service = ConnectorService(
        registry_of(AsyncSleepConnector),
        ServiceOptions(port=0, prometheus_port=None, tls_cert=cert, tls_key=other),
    )
    with pytest.raises(ConfigurationError) as info:
        await service.start()
    assert str(info.value) == (
        f"--tls-key {other} does not match the certificate in --tls-cert {cert} "
        "(give the key the certificate was made for)"
    )


async def test_a_bind_grpc_refuses_keeps_grpc_s_cause(tmp_path: Path) -> None:
    # gRPC's TLS library has no Ed448: the checks accept the pair, gRPC's bind raises, and the
    # port is free, so gRPC's own error is the cause to show and to chain (issue 12).
    key = ed448.Ed448PrivateKey.generate()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(_name("localhost"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, None)
    )
    (tmp_path / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    service = ConnectorService(
        registry_of(AsyncSleepConnector),
        ServiceOptions(
            port=0, prometheus_port=None, tls_cert=tmp_path / "server.crt", tls_key=tmp_path / "server.key"
        ),
    )
    with pytest.raises(ConfigurationError) as info:
        await service.start()
    grpc_says = (
        "Failed to bind to address 127.0.0.1:0; set GRPC_VERBOSITY=debug environment variable to see "
        "detailed error message."
    )
    assert str(info.value) == f"cannot listen on 127.0.0.1:0: gRPC could not bind it: {grpc_says}"
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == grpc_says


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tls_cert": Path("a")}, "TLS needs both a certificate and its key"),
        ({"tls_client_ca": Path("a")}, "--tls-client-ca needs --tls-cert and --tls-key too"),
        ({"workers": 0}, "workers must be at least 1, got 0"),
        ({"queue_size": -1}, "queue size must be at least 0, got -1"),
        ({"timeout": 0}, "timeout must be a positive number of seconds, got 0"),
        ({"port": 70000}, "port must be between 0 and 65535, got 70000"),
    ],
)
def test_bad_service_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ServiceOptions(**options)
