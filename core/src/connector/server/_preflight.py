"""Checks before the service starts: the TLS files parse and match, each address resolves and binds.

gRPC's own bind reports every failure as "Failed to bind" after its C core has logged a raw line
to stderr, and accepts a key that does not match its certificate until a client connects. These
checks use plain sockets and the standard library's ``ssl``, so each cause gets its own message
before gRPC is asked (issue 12).
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from pathlib import Path

from .._exceptions import ConfigurationError


def host_for_grpc(host: str) -> str:
    """``host`` as gRPC and URLs write it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# Addresses.

#: When addresses fail differently, the cause most worth telling (a busy port beats an address of
#: another interface: ``localhost`` may resolve to an IPv6 address this machine lacks as well).
_PRIORITY = (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)


def check_address(host: str, port: int, *, purpose: str, option: str, free_hint: str) -> None:
    """Raise ``ConfigurationError`` naming why ``host:port`` cannot be listened on, if it cannot.

    ``purpose`` starts the message ("listen on"), ``option`` is the option that sets the port
    and ``free_hint`` what else that option accepts ("0 for a free one").
    """
    where = f"{host_for_grpc(host)}:{port}"
    bare = host.strip("[]")
    try:
        found = socket.getaddrinfo(bare or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot {purpose} {where}: {_unresolved(bare, exc)}") from exc
    except ValueError as exc:  # UnicodeError: the IDNA codec refuses the name before any lookup
        raise ConfigurationError(f"cannot {purpose} {where}: {_invalid_name(bare, exc)}") from exc
    failures: list[tuple[OSError, str]] = []
    for family, kind, proto, _, sockaddr in dict.fromkeys(found):  # unique, in the resolver's order
        with socket.socket(family, kind, proto) as probe:
            # As gRPC and http.server do: a port whose last connections are in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                failures.append((exc, str(sockaddr[0])))
            else:
                return  # gRPC serves on every address it can bind, and needs one
    if not failures:  # the resolver answered nothing usable
        raise ConfigurationError(f"cannot {purpose} {where}: {bare!r} resolves to no address")
    error, failed = min(failures, key=lambda f: _rank(f[0]))
    cause = _cause(error, bare, failed, port, option, free_hint)
    raise ConfigurationError(f"cannot {purpose} {where}: {cause}")


def _rank(exc: OSError) -> int:
    return _PRIORITY.index(exc.errno) if exc.errno in _PRIORITY else len(_PRIORITY)


def _unresolved(host: str, exc: socket.gaierror) -> str:
    if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
        return f"the host name {host!r} does not resolve (give an address, or a name that resolves)"
    if exc.errno == socket.EAI_AGAIN:
        return f"the host name {host!r} cannot be resolved now: the DNS server did not answer (try again)"
    return f"the host name {host!r} cannot be resolved: {exc.strerror}"


def _invalid_name(host: str, exc: ValueError) -> str:
    # The codec's wording differs between Python versions ("label empty or too long", "label
    # empty"), so the usual two faults are named here; any other keeps the codec's reason.
    labels = host.removesuffix(".").split(".")
    if "" in labels:
        why = "a label in it is empty (two dots in a row, or a dot first)"
    elif max(map(len, labels)) > 63:
        why = "a label in it (a part between dots) is over 63 characters"
    elif isinstance(exc, UnicodeEncodeError):  # Python 3.13 and later
        why = exc.reason
    else:  # 3.11 wraps the codec's error as "encoding with 'idna' codec failed (...)"; 3.12 does not
        why = str(exc.__cause__ or exc)
    return f"{host!r} is not a valid host name: {why} (give an address, or a name that resolves)"


def _cause(exc: OSError, host: str, address: str, port: int, option: str, free_hint: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"the port is in use by another process (stop it, or choose another {option}: {free_hint})"
    if exc.errno == errno.EADDRNOTAVAIL:
        named = address if address == host else f"{host} ({address})"
        return (
            f"{named} is not an address of this machine (use one of its own, 127.0.0.1 for this "
            "machine only, or 0.0.0.0 for every interface)"
        )
    if exc.errno == errno.EACCES:
        if 0 < port < 1024:
            return (
                f"permission denied: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability "
                f"(choose a {option} of 1024 or more)"
            )
        return "permission denied"
    return exc.strerror or str(exc)


# TLS.


class _EncryptedKey(Exception):
    """The key asked for a passphrase, which gRPC has no way to give."""


def _refuse_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for a passphrase.
    raise _EncryptedKey


#: OpenSSL's security level 0 on the probe contexts: gRPC takes keys the default level refuses (a
#: 1024-bit RSA key), so only a file that is damaged or does not match fails here (issue 12).
_ANY_STRENGTH = "DEFAULT:@SECLEVEL=0"

#: One PEM certificate block. Text around the blocks (the "Bag Attributes" that
#: ``openssl pkcs12`` writes, in any encoding) is not the certificates' and is left out.
_CERTIFICATE_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)


def check_tls(cert: Path, key: Path, client_ca: Path | None = None) -> tuple[bytes, bytes, bytes | None]:
    """Read and check the TLS files: PEM, a certificate, an unencrypted key that matches it.

    Returns their bytes for gRPC; raises ``ConfigurationError`` naming the file and the fault.
    """
    cert_pem = _read_pem(cert, "--tls-cert", "CERTIFICATE")
    key_pem = _read_pem(key, "--tls-key", "PRIVATE KEY")
    ca_pem = _read_pem(client_ca, "--tls-client-ca", "CERTIFICATE") if client_ca is not None else None
    for option, path, data in (("--tls-cert", cert, cert_pem), ("--tls-client-ca", client_ca, ca_pem)):
        if data is not None:
            _check_certificates(option, path, data)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(_ANY_STRENGTH)
    try:
        context.load_cert_chain(cert, key, password=_refuse_passphrase)
    except _EncryptedKey:
        raise ConfigurationError(
            f"--tls-key {key} is encrypted; gRPC needs the key without a passphrase "
            "(decrypt it with: openssl pkey -in KEY -out KEY.plain)"
        ) from None
    except ssl.SSLError as exc:
        # NO_CERTIFICATE_ASSIGNED: a key of another type than the certificate's (an RSA key for
        # an EC certificate) goes to a slot of its own, which has no certificate.
        if exc.reason in ("KEY_VALUES_MISMATCH", "NO_CERTIFICATE_ASSIGNED"):
            raise ConfigurationError(
                f"--tls-key {key} does not match the certificate in --tls-cert {cert} "
                "(give the key the certificate was made for)"
            ) from exc
        if _damaged(exc):
            raise ConfigurationError(
                f"--tls-key {key}: the private key cannot be parsed (corrupt or cut short)"
            ) from exc
        raise ConfigurationError(
            f"--tls-cert {cert} with --tls-key {key}: OpenSSL cannot use them: {_openssl_says(exc)}"
        ) from exc
    return cert_pem, key_pem, ca_pem


def _check_certificates(option: str, path: Path | None, data: bytes) -> None:
    damaged = ConfigurationError(
        f"{option} {path}: a certificate in it cannot be parsed (corrupt or cut short)"
    )
    blocks = _CERTIFICATE_BLOCK.findall(data)
    # None whole (only a TRUSTED CERTIFICATE one, say), or one without its END line: cut short.
    if not blocks or len(blocks) != data.count(b"-----BEGIN CERTIFICATE-----"):
        raise damaged
    context = ssl.create_default_context()
    context.set_ciphers(_ANY_STRENGTH)
    try:
        context.load_verify_locations(cadata=b"\n".join(blocks).decode("ascii"))
    except UnicodeDecodeError as exc:
        raise damaged from exc
    except ssl.SSLError as exc:
        if _damaged(exc):
            raise damaged from exc
        raise ConfigurationError(
            f"{option} {path}: OpenSSL cannot use a certificate in it: {_openssl_says(exc)}"
        ) from exc


def _damaged(exc: ssl.SSLError) -> bool:
    """Whether OpenSSL failed to decode the file (PEM or ASN.1), not to accept what it holds."""
    # Errors with no reason of their own are the wrapped "PEM lib"/"ASN1 lib" ones, and the
    # standard library's "cadata does not contain a certificate" (it found none it could decode).
    return exc.library in (None, "PEM", "ASN1") or exc.reason is None


def _openssl_says(exc: ssl.SSLError) -> str:
    # "[SSL: UNKNOWN_CERTIFICATE_TYPE] unknown certificate type (_ssl.c:3905)", without the source line.
    return re.sub(r" \(_ssl\.c:\d+\)$", "", str(exc))


def _read_pem(path: Path, option: str, label: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{option} {path} cannot be read: {exc.strerror}") from exc
    if b"-----BEGIN " not in data:
        raise ConfigurationError(f"{option} {path} is not a PEM file (no '-----BEGIN' line)")
    if f"{label}-----".encode() not in data:
        what = "certificate" if label == "CERTIFICATE" else "private key"
        block = (
            "'-----BEGIN CERTIFICATE-----'" if label == "CERTIFICATE" else "'-----BEGIN ... PRIVATE KEY-----'"
        )
        raise ConfigurationError(f"{option} {path} holds no {what} (no {block} block)")
    return data


def check_listening(
    host: str,
    port: int,
    prometheus_port: int | None,
    *,
    tls: tuple[Path, Path, Path | None] | None = None,
) -> None:
    """Every check ``connector serve`` makes before it prints anything: TLS files, then both ports."""
    if tls is not None:
        check_tls(*tls)
    if prometheus_port is not None and prometheus_port == port != 0:
        raise ConfigurationError(f"--prometheus-port {prometheus_port} is the gRPC --port too; give another")
    check_address(host, port, purpose="listen on", option="--port", free_hint="0 picks a free one")
    if prometheus_port is not None:
        check_address(
            host,
            prometheus_port,
            purpose="serve metrics on",
            option="--prometheus-port",
            free_hint="0 picks a free one, off turns metrics off",
        )
