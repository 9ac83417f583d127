"""``connector serve``'s own messages, from a real process: bind, DNS and TLS errors, ``--json``, variables.

Each error is named before anything else is printed (stdout stays empty, stderr holds only the
error: no gRPC C-core line), and exits 2 (issue 12).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID
from flyteidl.admin import agent_pb2
from flyteidl.service import agent_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from connector import ConfigurationError
from connector.cli._serve import ENV_PREFIX, serve
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of
from tests.server.sample_plugin import AsyncSleepConnector
from tests.server.served import environ_for

SAMPLES = "tests.server.sample_plugin"


def _serve(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "connector", "serve", *args],
        env=environ_for(None, **(env or {})),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fails_with(
    result: subprocess.CompletedProcess[str], message: str, json_flag: tuple[str, ...] = ()
) -> None:
    """Exit 2 with ``message``: on stderr, or with ``--json`` as one JSON line on stdout."""
    if json_flag:
        assert (result.returncode, result.stderr) == (2, "")
        assert json.loads(result.stdout) == {"error": message, "kind": "configuration", "exit_code": 2}
    else:
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another socket listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


# Addresses.


def test_a_busy_port(busy_port: int) -> None:
    _fails_with(
        _serve("--port", str(busy_port), "--prometheus-port", "off"),
        f"cannot listen on 127.0.0.1:{busy_port}: the port is in use by another process "
        "(stop it, or choose another --port: 0 picks a free one)",
    )


def test_a_busy_metrics_port(busy_port: int) -> None:
    _fails_with(
        _serve("--port", "0", "--prometheus-port", str(busy_port)),
        f"cannot serve metrics on 127.0.0.1:{busy_port}: the port is in use by another process "
        "(stop it, or choose another --prometheus-port: 0 picks a free one, off turns metrics off)",
    )


def test_the_same_port_for_grpc_and_metrics() -> None:
    _fails_with(
        _serve("--port", "8123", "--prometheus-port", "8123"),
        "--prometheus-port 8123 is the gRPC --port too; give another",
    )


def test_an_address_this_machine_does_not_have() -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): documentation only, never an interface's address.
    _fails_with(
        _serve("--host", "192.0.2.1", "--port", "0", "--prometheus-port", "off"),
        "cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine (use one of its "
        "own, 127.0.0.1 for this machine only, or 0.0.0.0 for every interface)",
    )


def test_a_host_name_that_does_not_resolve() -> None:
    # .invalid never resolves (RFC 6761).
    _fails_with(
        _serve("--host", "no-such-host.invalid", "--port", "0", "--prometheus-port", "off"),
        "cannot listen on no-such-host.invalid:0: the host name 'no-such-host.invalid' does not "
        "resolve (give an address, or a name that resolves)",
    )


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("a..b", "a label in it is empty (two dots in a row, or a dot first)"),
        ("a" * 70, "a label in it (a part between dots) is over 63 characters"),
    ],
)
def test_a_host_name_that_is_not_valid(host: str, why: str) -> None:
    # The resolver is never asked: Python's IDNA codec refuses the name first (issue 12).
    _fails_with(
        _serve("--host", host, "--port", "0", "--prometheus-port", "off"),
        f"cannot listen on {host}:0: {host!r} is not a valid host name: {why} (give an address, or a "
        "name that resolves)",
    )


def test_json_names_a_host_name_that_is_not_valid() -> None:
    result = _serve("--json", "--host", "a..b", "--port", "0", "--prometheus-port", "off")
    assert (result.returncode, result.stderr) == (2, "")
    assert json.loads(result.stdout) == {
        "error": "cannot listen on a..b:0: 'a..b' is not a valid host name: a label in it is empty (two "
        "dots in a row, or a dot first) (give an address, or a name that resolves)",
        "kind": "configuration",
        "exit_code": 2,
    }


def _without(*capabilities: str) -> tuple[str, ...]:
    """A command prefix that runs without ``capabilities`` when root has them (as a user would)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) runs a command without a capability"
    return (setpriv, "--bounding-set=" + ",".join(f"-{c}" for c in capabilities), "--inh-caps=-all")


def test_a_privileged_port_without_the_privilege() -> None:
    _fails_with(
        _serve("--port", "1", "--prometheus-port", "off", prefix=_without("net_bind_service")),
        "cannot listen on 127.0.0.1:1: permission denied: ports below 1024 need root or the "
        "CAP_NET_BIND_SERVICE capability (choose a --port of 1024 or more)",
    )


# TLS files.


_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed448.Ed448PrivateKey | x25519.X25519PrivateKey


def _certificate(key: _PrivateKey, signer: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """A certificate of ``key`` for localhost and 127.0.0.1, signed by ``signer`` (default: ``key``)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    by: Any = signer or key
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(
            by,
            None if isinstance(by, (ed448.Ed448PrivateKey, ed25519.Ed25519PrivateKey)) else hashes.SHA256(),
        )
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: _PrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _bag(pem: bytes, *, key: bool) -> bytes:
    """``pem`` as ``openssl pkcs12 -nodes`` writes it: attributes before the block, here in UTF-8."""
    head = "Bag Attributes\n    friendlyName: Zoë\n    localKeyID: 01 02 03 04\n"
    head += "Key Attributes: <No Attributes>\n" if key else "subject=CN = localhost\nissuer=CN = localhost\n"
    return head.encode() + pem


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of good and bad PEM files."""
    folder = tmp_path_factory.mktemp("pem")
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(key)
    # Weaker than OpenSSL's default security level accepts, but gRPC serves with it (issue 12).
    rsa1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    # gRPC's TLS library (BoringSSL) has no Ed448: the checks pass, gRPC's bind does not.
    edwards = ed448.Ed448PrivateKey.generate()
    # A certificate of an X25519 key (a key for key exchange only) signed by an EC key.
    exchange = x25519.X25519PrivateKey.generate()
    files = {
        "server.crt": cert,
        "server.key": _key_pem(key),
        "other.key": _key_pem(other),
        "rsa1024.crt": _certificate(rsa1024),
        "rsa1024.key": _key_pem(rsa1024),
        "bags.crt": _bag(cert, key=False),
        "bags.key": _bag(_key_pem(key), key=True),
        "ed448.crt": _certificate(edwards),
        "ed448.key": _key_pem(edwards),
        "x25519.crt": _certificate(exchange, signer=other),
        "x25519.key": _key_pem(exchange),
        "encrypted.key": _key_pem(key, b"secret"),
        "notes.txt": b"not a certificate\n",
        "corrupt.crt": cert[:40] + b"!!!!" + cert[44:],
        "cut.crt": cert[: len(cert) // 2],
        # OpenSSL's "trusted" form, which neither the check nor gRPC reads as a certificate.
        "trusted.crt": cert.replace(b" CERTIFICATE-----", b" TRUSTED CERTIFICATE-----"),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("cert", "key", "client_ca", "message"),
    [
        (
            "server.crt",
            "other.key",
            None,
            "--tls-key {d}/other.key does not match the certificate in --tls-cert {d}/server.crt "
            "(give the key the certificate was made for)",
        ),
        (
            # A key of another type: OpenSSL says "no certificate assigned", yet it is a mismatch.
            "server.crt",
            "rsa1024.key",
            None,
            "--tls-key {d}/rsa1024.key does not match the certificate in --tls-cert {d}/server.crt "
            "(give the key the certificate was made for)",
        ),
        (
            "rsa1024.crt",
            "server.key",
            None,
            "--tls-key {d}/server.key does not match the certificate in --tls-cert {d}/rsa1024.crt "
            "(give the key the certificate was made for)",
        ),
        (
            "x25519.crt",
            "x25519.key",
            None,
            "--tls-cert {d}/x25519.crt with --tls-key {d}/x25519.key: OpenSSL cannot use them: "
            "[SSL: UNKNOWN_CERTIFICATE_TYPE] unknown certificate type",
        ),
        (
            "server.crt",
            "encrypted.key",
            None,
            "--tls-key {d}/encrypted.key is encrypted; gRPC needs the key without a passphrase "
            "(decrypt it with: openssl pkey -in KEY -out KEY.plain)",
        ),
        (
            "notes.txt",
            "server.key",
            None,
            "--tls-cert {d}/notes.txt is not a PEM file (no '-----BEGIN' line)",
        ),
        ("server.crt", "notes.txt", None, "--tls-key {d}/notes.txt is not a PEM file (no '-----BEGIN' line)"),
        (
            "server.key",
            "server.key",
            None,
            "--tls-cert {d}/server.key holds no certificate (no '-----BEGIN CERTIFICATE-----' block)",
        ),
        (
            "server.crt",
            "server.crt",
            None,
            "--tls-key {d}/server.crt holds no private key (no '-----BEGIN ... PRIVATE KEY-----' block)",
        ),
        (
            "corrupt.crt",
            "server.key",
            None,
            "--tls-cert {d}/corrupt.crt: a certificate in it cannot be parsed (corrupt or cut short)",
        ),
        (
            "cut.crt",
            "server.key",
            None,
            "--tls-cert {d}/cut.crt: a certificate in it cannot be parsed (corrupt or cut short)",
        ),
        (
            "trusted.crt",
            "server.key",
            None,
            "--tls-cert {d}/trusted.crt: a certificate in it cannot be parsed (corrupt or cut short)",
        ),
        (
            "server.crt",
            "server.key",
            "server.key",
            "--tls-client-ca {d}/server.key holds no certificate (no '-----BEGIN CERTIFICATE-----' block)",
        ),
    ],
)
def test_bad_tls_files(pem: Path, cert: str, key: str, client_ca: str | None, message: str) -> None:
    args = ["--tls-cert", str(pem / cert), "--tls-key", str(pem / key), "--port", "0"]
    if client_ca is not None:
        args += ["--tls-client-ca", str(pem / client_ca)]
    _fails_with(_serve(*args, "--prometheus-port", "off"), message.format(d=pem))


@pytest.mark.parametrize(
    ("cert", "key"),
    [
        ("rsa1024.crt", "rsa1024.key"),  # refused by OpenSSL's default security level
        ("bags.crt", "bags.key"),  # non-ASCII text outside the PEM blocks
    ],
)
def test_tls_files_grpc_takes_are_served_with(pem: Path, cert: str, key: str) -> None:
    served = _JsonServe(
        "--tls-cert",
        str(pem / cert),
        "--tls-key",
        str(pem / key),
        "--tls-client-ca",
        str(pem / cert),
        "--port",
        "0",
        "--prometheus-port",
        "off",
        "--modules",
        SAMPLES,
    )
    try:
        assert served.ready["grpc"]["tls"] == "mutual-tls"
        # A real handshake: the client trusts the self-signed certificate and shows it as its own.
        credentials = grpc.ssl_channel_credentials(
            root_certificates=(pem / cert).read_bytes(),
            private_key=(pem / key).read_bytes(),
            certificate_chain=(pem / cert).read_bytes(),
        )
        with grpc.secure_channel(served.ready["grpc"]["address"], credentials) as channel:
            agents = agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(
                agent_pb2.ListAgentsRequest(), timeout=30
            )
        assert "Sync echo" in {a.name for a in agents.agents}
    finally:
        code, out, _ = served.stop()
    assert (code, out) == (0, "")


def test_a_key_grpc_cannot_use_is_named_with_grpc_s_own_words(pem: Path) -> None:
    # The checks accept an Ed448 pair; gRPC refuses it when asked to bind (logging its own lines
    # first), and the plain socket finds the port free: gRPC's words are all there is to tell.
    result = _serve(
        "--tls-cert",
        str(pem / "ed448.crt"),
        "--tls-key",
        str(pem / "ed448.key"),
        "--port",
        "0",
        "--prometheus-port",
        "off",
    )
    # Found at the bind, after the checks: the connectors' table (or, with no plugin installed,
    # the line saying so) is out already.
    assert result.returncode == 2
    assert result.stdout.startswith(("CATEGORY", "No connectors installed"))
    assert result.stderr.endswith(
        "Error: cannot listen on 127.0.0.1:0: gRPC could not bind it: Failed to bind to address "
        "127.0.0.1:0; set GRPC_VERBOSITY=debug environment variable to see detailed error message.\n"
    )


def test_an_unreadable_tls_file(pem: Path, tmp_path: Path) -> None:
    hidden = tmp_path / "server.crt"
    hidden.write_bytes((pem / "server.crt").read_bytes())
    hidden.chmod(0)
    result = _serve(
        "--tls-cert",
        str(hidden),
        "--tls-key",
        str(pem / "server.key"),
        prefix=_without("dac_override", "dac_read_search"),
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.endswith(
        f"\n\nError: Invalid value for '--tls-cert': File '{hidden}' is not readable.\n"
    )


# --json.


class _JsonServe:
    """``connector serve --json`` running; ``ready`` is the line it printed once listening."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--json", *args],
            env=environ_for(None, **(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, self.process.communicate(timeout=30)[1]
        self.ready: dict[str, Any] = json.loads(line)

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


def test_json_prints_one_ready_line_instead_of_the_table() -> None:
    served = _JsonServe("--port", "0", "--prometheus-port", "0", "--modules", SAMPLES)
    try:
        ready = served.ready
        grpc_port, metrics_port = ready["grpc"]["port"], ready["metrics"]["port"]
        assert ready["event"] == "serving"
        assert ready["grpc"] == {
            "host": "127.0.0.1",
            "port": grpc_port,
            "address": f"127.0.0.1:{grpc_port}",
            "tls": "plaintext",
        }
        assert ready["metrics"] == {
            "host": "127.0.0.1",
            "port": metrics_port,
            "url": f"http://127.0.0.1:{metrics_port}/metrics",
        }
        assert ready["protocols"] == ["flyteidl", "flyteidl2"]
        assert ready["services"] == [
            "flyteidl.service.AsyncAgentService",
            "flyteidl.service.SyncAgentService",
            "flyteidl.service.AgentMetadataService",
            "flyteidl2.connector.AsyncConnectorService",
            "flyteidl2.connector.ConnectorMetadataService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
        assert ready["pid"] == served.process.pid
        assert ready["event_loop"] == "uvloop"  # the server extra installs it (not on Windows)
        # The entries of `connector list --json`; the module's connectors are registered, so loaded.
        by_category = {c["category"]: c for c in ready["connectors"]}
        assert by_category["syncecho@0"]["state"] == "loaded"
        assert by_category["syncecho@0"]["target"].endswith("SyncEcho")
        with grpc.insecure_channel(ready["grpc"]["address"]) as channel:
            agents = agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(
                agent_pb2.ListAgentsRequest(), timeout=30
            )
        assert "Sync echo" in {a.name for a in agents.agents}
    finally:
        code, out, err = served.stop()
    assert (code, out) == (0, "")  # the ready line was the only one
    assert err.rstrip().endswith("INFO connector.server: stopped")


def test_json_errors_are_json_lines_on_stdout(busy_port: int) -> None:
    result = _serve("--json", "--port", str(busy_port), "--prometheus-port", "off")
    assert (result.returncode, result.stderr) == (2, "")
    assert json.loads(result.stdout) == {
        "error": f"cannot listen on 127.0.0.1:{busy_port}: the port is in use by another process "
        "(stop it, or choose another --port: 0 picks a free one)",
        "kind": "configuration",
        "exit_code": 2,
    }
    assert result.stdout.count("\n") == 1


def test_json_usage_errors_are_json_lines_too() -> None:
    result = _serve("--json", "--workers", "0")
    assert (result.returncode, result.stderr) == (2, "")
    assert json.loads(result.stdout) == {
        "error": "Invalid value for '--workers': 0 is not in the range x>=1.",
        "kind": "usage",
        "exit_code": 2,
        "command": "connector serve",
    }


def test_json_set_by_its_variable_makes_usage_errors_json() -> None:
    result = _serve("--tls-cert", __file__, env={"CONNECTOR_SERVE_JSON": "1"})
    assert (result.returncode, result.stderr) == (2, "")
    assert json.loads(result.stdout) == {
        "error": "--tls-cert and --tls-key go together: give both, or neither",
        "kind": "usage",
        "exit_code": 2,
        "command": "connector serve",
    }


# Environment variables.


def test_every_option_has_its_variable_shown_in_help() -> None:
    options = {p.name: p for p in serve.params if isinstance(p, click.Option)}
    # Counted flags; CONNECTOR_SERVE_LOG_LEVEL sets the level they move.
    assert options.pop("verbose").envvar is None
    assert options.pop("quiet").envvar is None
    assert len(options) == 18
    for name, param in options.items():
        long_name = next(o for o in param.opts if o.startswith("--"))
        assert param.envvar == ENV_PREFIX + long_name[2:].upper().replace("-", "_"), name
        assert param.show_envvar, name


def test_a_variable_sets_an_option(busy_port: int) -> None:
    _fails_with(
        _serve(env={"CONNECTOR_SERVE_PORT": str(busy_port), "CONNECTOR_SERVE_PROMETHEUS_PORT": "off"}),
        f"cannot listen on 127.0.0.1:{busy_port}: the port is in use by another process "
        "(stop it, or choose another --port: 0 picks a free one)",
    )


def test_the_command_line_wins_over_a_variable(busy_port: int) -> None:
    served = _JsonServe(
        "--port",
        "0",
        env={
            "CONNECTOR_SERVE_PORT": str(busy_port),
            "CONNECTOR_SERVE_PROMETHEUS_PORT": "off",
            "CONNECTOR_SERVE_MODULES": SAMPLES,
            "CONNECTOR_SERVE_LOG_LEVEL": "warning",
        },
    )
    try:
        assert served.ready["grpc"]["port"] not in (0, busy_port)
        assert served.ready["metrics"] is None
        assert "syncecho@0" in {c["category"] for c in served.ready["connectors"]}
    finally:
        code, _, err = served.stop()
    assert code == 0
    assert " INFO " not in err  # CONNECTOR_SERVE_LOG_LEVEL=warning


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "CONNECTOR_SERVE_PORT",
            "abc",
            "Invalid value for '--port' (from CONNECTOR_SERVE_PORT): 'abc' is not a valid integer range.",
        ),
        (
            "CONNECTOR_SERVE_PROMETHEUS_PORT",
            "nine",
            "Invalid value for '--prometheus-port' (from CONNECTOR_SERVE_PROMETHEUS_PORT): 'nine' is not "
            "a port number or 'off'",
        ),
        (
            "CONNECTOR_SERVE_LOG_LEVEL",
            "loud",
            "Invalid value for '--log-level' (from CONNECTOR_SERVE_LOG_LEVEL): 'loud' is not one of "
            "'debug', 'info', 'warning', 'error'.",
        ),
        (
            "CONNECTOR_SERVE_TLS_CERT",
            "/nonexistent/cert.pem",
            "Invalid value for '--tls-cert' (from CONNECTOR_SERVE_TLS_CERT): File '/nonexistent/cert.pem' "
            "does not exist.",
        ),
    ],
)
def test_a_bad_variable_names_itself(variable: str, value: str, message: str) -> None:
    result = _serve(env={variable: value})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.endswith(f"\n\nError: {message}\n")


# The event loop (--event-loop).


def _without_uvloop(tmp_path: Path) -> dict[str, str]:
    """An environment where ``import uvloop`` fails, as where it is not installed."""
    shadow = tmp_path / "shadow"
    (shadow / "uvloop").mkdir(parents=True)
    (shadow / "uvloop" / "__init__.py").write_text('raise ImportError("no uvloop here")\n')
    base = environ_for(None)
    return {"PYTHONPATH": os.pathsep.join([str(shadow), base["PYTHONPATH"]])}


def _serves_on(served: _JsonServe) -> str:
    """The loop a ``_JsonServe`` reported, once a ListAgents call was answered on it; stops it."""
    try:
        with grpc.insecure_channel(served.ready["grpc"]["address"]) as channel:
            agents = agent_pb2_grpc.AgentMetadataServiceStub(channel).ListAgents(
                agent_pb2.ListAgentsRequest(), timeout=30
            )
        assert "Sync echo" in {a.name for a in agents.agents}
    finally:
        code, _out, err = served.stop()
    assert code == 0, err
    assert f"serving on the {served.ready['event_loop']}" in err
    return str(served.ready["event_loop"])


@pytest.mark.parametrize("how", ["option", "variable"])
def test_event_loop_asyncio_serves_on_asyncios_own_loop(how: str) -> None:
    args = ("--event-loop", "asyncio") if how == "option" else ()
    env = {"CONNECTOR_SERVE_EVENT_LOOP": "asyncio"} if how == "variable" else {}
    served = _JsonServe("--port", "0", "--prometheus-port", "off", "--modules", SAMPLES, *args, env=env)
    assert _serves_on(served) == "asyncio"


def test_event_loop_auto_falls_back_to_asyncio_without_uvloop(tmp_path: Path) -> None:
    served = _JsonServe(
        "--port", "0", "--prometheus-port", "off", "--modules", SAMPLES, env=_without_uvloop(tmp_path)
    )
    assert _serves_on(served) == "asyncio"


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_event_loop_uvloop_without_uvloop_is_a_configuration_error(
    tmp_path: Path, json_flag: tuple[str, ...]
) -> None:
    result = _serve(
        *json_flag, "--port", "0", "--prometheus-port", "off", "--event-loop", "uvloop",
        env=_without_uvloop(tmp_path),
    )  # fmt: skip
    message = (
        "--event-loop uvloop needs the uvloop package, which cannot be imported (no uvloop here). "
        "Install it with: pip install uvloop (it does not build on Windows), or choose --event-loop asyncio"
    )
    _fails_with(result, message, json_flag)


def test_an_unknown_event_loop_is_a_usage_error() -> None:
    result = _serve("--event-loop", "trio", env={})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.endswith(
        "Error: Invalid value for '--event-loop': 'trio' is not one of 'auto', 'uvloop', 'asyncio'.\n"
    )


# Resource-meta keys.


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_a_malformed_key_entry_never_shows_the_secret(json_flag: tuple[str, ...]) -> None:
    # With --json the error goes to stdout, which is a container's log (issue 12).
    secret = "s3cr3tVALUE"
    result = _serve(
        *json_flag, "--port", "0", "--prometheus-port", "off", env={"CONNECTOR_META_KEYS": f"prod:{secret};x"}
    )
    message = (
        "CONNECTOR_META_KEYS: entry 1 has no '='; write each key as ID=SECRET, the id of letters, digits, "
        "'.', '_' or '-' (at most 64)"
    )
    _fails_with(result, message, json_flag)
    assert secret not in result.stdout + result.stderr


def test_a_connector_home_this_user_cannot_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0)
    try:
        result = _serve(
            "--port",
            "0",
            "--prometheus-port",
            "off",
            env={"CONNECTOR_HOME": str(home)},
            prefix=_without("dac_override", "dac_read_search"),
        )
    finally:
        home.chmod(0o700)
    _fails_with(
        result,
        f"cannot read the resource-meta key file '{home}/meta-keys': Permission denied; make {home} "
        "readable by this user, set CONNECTOR_META_KEYS or CONNECTOR_META_KEYS_FILE, or point "
        "CONNECTOR_HOME at a directory of this user",
    )


# The log.


def _broken_plugin(folder: Path) -> Path:
    """A distribution (metadata on sys.path) whose connector cannot be imported."""
    info = folder / "connector_broken-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: connector-broken\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[connector]\nbroken = connector_broken:Connector\n")
    (folder / "connector_broken.py").write_text("raise ImportError('the warehouse SDK is missing')\n")
    return folder


def _served_log(*args: str, env: dict[str, str]) -> str:
    """The log of a service started with ``args`` and stopped once every connector was loaded."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "serve",
            "--json",
            "--port",
            "0",
            "--prometheus-port",
            "off",
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.communicate(timeout=30)[1]
    with grpc.insecure_channel(json.loads(line)["grpc"]["address"]) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        serving = health_pb2.HealthCheckResponse.SERVING
        # SERVING once every connector's load has ended (and its problems were logged).
        while health.Check(health_pb2.HealthCheckRequest(), timeout=30).status != serving:
            time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    log = process.communicate(timeout=60)[1]
    assert process.returncode == 0, log
    return log


@pytest.fixture
def broken_env(tmp_path: Path) -> dict[str, str]:
    environ = environ_for(None)
    environ["PYTHONPATH"] += os.pathsep + str(_broken_plugin(tmp_path / "site"))
    return environ


def test_a_broken_plugin_is_logged_once(broken_env: dict[str, str]) -> None:
    log = _served_log(env=broken_env)
    warning = (
        "WARNING connector: connector broken@0 is broken: connector-broken 0.3, entry point 'broken' "
        "(connector_broken:Connector): importing connector_broken:Connector raised ImportError: "
        "the warehouse SDK is missing"
    )
    assert log.count("is broken") == 1
    assert warning in log
    assert "Traceback" in log  # the registry's warning keeps the detail


def test_a_denied_plugin_is_logged_once_by_the_service(broken_env: dict[str, str]) -> None:
    log = _served_log(env={**broken_env, "CONNECTOR_DENY": "broken"})
    assert log.count("connector broken@0 is") == 1
    assert (
        "WARNING connector.server: connector broken@0 is disabled: task type broken@0 from "
        "connector-broken 0.3 is excluded by CONNECTOR_DENY ('broken')\n" in log
    )


@pytest.mark.parametrize(
    ("flags", "info_shown"),
    [((), True), (("-q",), False), (("--log-level", "warning", "-v"), True), (("-v", "-q", "-q"), False)],
)
def test_v_and_q_move_the_log_level(
    broken_env: dict[str, str], flags: tuple[str, ...], info_shown: bool
) -> None:
    log = _served_log(*flags, env=broken_env)
    assert (" INFO connector.server: " in log) is info_shown
    assert "is broken" in log  # a warning: shown at info and at warning


async def test_from_python_a_busy_port_is_named_too(busy_port: int) -> None:
    # ConnectorService.start asks gRPC first and finds out why only once its bind failed.
    service = ConnectorService(
        registry_of(AsyncSleepConnector), ServiceOptions(port=busy_port, prometheus_port=None)
    )
    with pytest.raises(ConfigurationError) as info:
        await service.start()
    assert str(info.value) == (
        f"cannot listen on 127.0.0.1:{busy_port}: the port is in use by another process "
        "(stop it, or choose another --port: 0 picks a free one)"
    )


async def test_from_python_a_host_name_that_is_not_valid_is_named_too() -> None:
    # gRPC's bind fails first ("Misformatted domain name", in its log only); the plain re-check says why.
    service = ConnectorService(
        registry_of(AsyncSleepConnector), ServiceOptions(host="a..b", port=0, prometheus_port=None)
    )
    with pytest.raises(ConfigurationError) as info:
        await service.start()
    assert str(info.value) == (
        "cannot listen on a..b:0: 'a..b' is not a valid host name: a label in it is empty (two dots in a "
        "row, or a dot first) (give an address, or a name that resolves)"
    )
    assert isinstance(info.value.__cause__, UnicodeError)
