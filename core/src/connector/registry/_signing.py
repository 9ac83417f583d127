"""Signed resource meta: an HMAC envelope around a job's meta bytes, so a caller holds state it cannot change.

The envelope is text lines, then the connector's own bytes::

    cm1\\n<key id>\\n<task type@version>\\n<base64url HMAC-SHA256>\\n<meta bytes>

The MAC covers the key id, the task category and the meta bytes, under the key of that id: a
changed byte anywhere, a meta of another task type or one signed with a key the service does not
have is refused before anything decodes it. Keys come from the operator (``CONNECTOR_META_KEYS``,
or ``CONNECTOR_META_KEYS_FILE`` for a mounted Kubernetes Secret); the first signs, any verifies,
so keys rotate without failing jobs in flight. With none configured, a key is made once under
``$CONNECTOR_HOME`` and kept there.
"""

from __future__ import annotations

import binascii
import contextlib
import dataclasses
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError, ResourceMetaError
from .._model import TaskCategory
from .._settings import connector_home, parse_flag

KEYS_VARIABLE = "CONNECTOR_META_KEYS"
KEYS_FILE_VARIABLE = "CONNECTOR_META_KEYS_FILE"
UNSIGNED_VARIABLE = "CONNECTOR_ACCEPT_UNSIGNED_META"
#: The file under ``$CONNECTOR_HOME`` holding the key made when the operator configured none.
LOCAL_KEYS_FILE = "meta-keys"
#: The shortest secret accepted, in characters: 32 random URL-safe ones carry 192 bits.
MIN_SECRET_LENGTH = 32

_MAGIC = b"cm1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAC_LENGTH = 43  # base64url of 32 bytes, unpadded
_URLSAFE = bytes.maketrans(b"+/", b"-_")


@dataclasses.dataclass(frozen=True)
class MetaKey:
    """One signing key: its id (sent in every envelope) and its secret (never sent, never shown)."""

    id: str
    secret: bytes = dataclasses.field(repr=False)


class MetaSigner:
    """Signs meta bytes with the first of ``keys`` and verifies them with any of them.

    ``accept_unsigned`` lets bytes without an envelope through as they are (metas written by
    another service before a switch-over); ``on_unsigned(category)`` is told of each one.
    ``source`` says where the keys came from, for the startup line.
    """

    def __init__(
        self,
        keys: Sequence[MetaKey],
        *,
        accept_unsigned: bool = False,
        source: str = "",
        on_unsigned: Callable[[TaskCategory], None] | None = None,
    ) -> None:
        if not keys:
            raise ConfigurationError("a MetaSigner needs at least one key")
        ids = [key.id for key in keys]
        if len(set(ids)) != len(ids):
            raise ConfigurationError(f"resource-meta key ids must differ; got {', '.join(ids)}")
        self.keys = tuple(keys)
        self.accept_unsigned = accept_unsigned
        self.source = source
        self.on_unsigned = on_unsigned
        # Each key's HMAC, keyed once, by the id as sent: a copy per meta costs half of keying it
        # again (issue 13).
        self._keyed = {key.id.encode(): _keyed_hmac(key.secret) for key in keys}
        self._signing = self._keyed[self.keys[0].id.encode()]
        # By (name, version): `name@version` as bytes, and the head the first key signs with.
        # str() of a TaskCategory, and its dataclass __hash__, are Python calls.
        self._signed_for: dict[tuple[str, int], tuple[bytes, bytes]] = {}

    def __repr__(self) -> str:
        return f"<MetaSigner signing with {self.keys[0].id!r}, {len(self.keys)} key(s)>"

    def describe(self) -> str:
        """What is in force, in one line (``connector serve`` logs it at startup)."""
        verify = ", ".join(repr(key.id) for key in self.keys[1:])
        unsigned = "accepted (CONNECTOR_ACCEPT_UNSIGNED_META)" if self.accept_unsigned else "refused"
        return (
            f"resource meta is signed with key {self.keys[0].id!r} from {self.source or 'the caller'}"
            + (f", also verified with {verify}" if verify else "")
            + f"; unsigned metas are {unsigned}"
        )

    def sign(self, category: TaskCategory, payload: bytes) -> bytes:
        """The envelope of ``payload`` for ``category``, signed with the first key."""
        head = self._category(category)[1]
        return head + _mac(self._signing, head, payload) + b"\n" + payload

    def _category(self, category: TaskCategory) -> tuple[bytes, bytes]:
        key = (category.name, category.version)
        known = self._signed_for.get(key)
        if known is None:
            signed_for = str(category).encode()
            head = b"\n".join((_MAGIC, self.keys[0].id.encode(), signed_for)) + b"\n"
            known = self._signed_for[key] = (signed_for, head)
        return known

    def is_signed(self, data: bytes) -> bool:
        """Whether ``data`` is in an envelope (``verify`` still has to check it)."""
        return data.startswith(_MAGIC + b"\n")

    def verify(self, category: TaskCategory, data: bytes) -> bytes:
        """The meta bytes inside ``data``, once its signature is checked for ``category``.

        Raises ``ResourceMetaError`` for anything else: no envelope (unless unsigned metas are
        accepted), a malformed or truncated one, an unknown key, another task type, a bad MAC.
        """
        if not data.startswith(_MAGIC + b"\n"):
            if self.accept_unsigned:
                if self.on_unsigned is not None:
                    self.on_unsigned(category)
                return data
            raise ResourceMetaError(
                f"the resource meta of task type {category} is not signed by this service; if another "
                f"service wrote it before a switch-over, set {UNSIGNED_VARIABLE}=1 to accept it"
            )
        parts = data.split(b"\n", 4)
        if len(parts) != 5 or len(parts[3]) != _MAC_LENGTH:
            raise ResourceMetaError(f"the resource meta of task type {category} has a malformed signature")
        _, key_id, signed_for, mac, payload = parts
        keyed = self._keyed.get(key_id)
        if keyed is None:
            raise ResourceMetaError(
                f"the resource meta of task type {category} is signed with key "
                f"{key_id.decode(errors='replace')!r}, which this service does not have"
            )
        head = b"\n".join((_MAGIC, key_id, signed_for)) + b"\n"
        if not hmac.compare_digest(mac, _mac(keyed, head, payload)):
            raise ResourceMetaError(f"the resource meta of task type {category} has a bad signature")
        if signed_for != self._category(category)[0]:
            raise ResourceMetaError(
                f"the resource meta is for task type {signed_for.decode(errors='replace')}, not {category}"
            )
        return payload

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        on_unsigned: Callable[[TaskCategory], None] | None = None,
    ) -> MetaSigner:
        """The signer the operator configured, or one with the key kept under ``$CONNECTOR_HOME``.

        ``CONNECTOR_META_KEYS`` (``ID=SECRET`` pairs, comma-separated) or
        ``CONNECTOR_META_KEYS_FILE`` (a file of ``ID=SECRET`` lines); the first key signs.
        ``CONNECTOR_ACCEPT_UNSIGNED_META=1`` accepts metas without an envelope. Raises
        ``ConfigurationError`` naming the variable for a bad value.
        """
        env = os.environ if environ is None else environ
        accept_unsigned = parse_flag(UNSIGNED_VARIABLE, env.get(UNSIGNED_VARIABLE, ""))
        listed, path = env.get(KEYS_VARIABLE, "").strip(), env.get(KEYS_FILE_VARIABLE, "").strip()
        if listed and path:
            raise ConfigurationError(f"set {KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}, not both")
        if listed:
            keys, source = parse_keys(listed.split(","), KEYS_VARIABLE), KEYS_VARIABLE
        elif path:
            keys, source = _read_keys_file(Path(path)), f"{KEYS_FILE_VARIABLE} ({path})"
        else:
            local = connector_home(env) / LOCAL_KEYS_FILE
            keys, source = _local_keys(local), f"{local} (made on first use; replicas must share keys)"
        return cls(keys, accept_unsigned=accept_unsigned, source=source, on_unsigned=on_unsigned)


def _mac(keyed: Any, head: bytes, payload: bytes) -> bytes:
    """The base64url MAC of ``head`` and ``payload`` with a keyed HMAC (``_keyed_hmac``), unpadded."""
    mac = keyed.copy()
    mac.update(head)
    mac.update(payload)
    # binascii and translate, not base64.urlsafe_b64encode: two Python calls fewer per meta.
    return binascii.b2a_base64(mac.digest(), newline=False).rstrip(b"=").translate(_URLSAFE)


def _python_hmac(secret: bytes) -> Any:
    return hmac.new(secret, digestmod=hashlib.sha256)


try:
    # OpenSSL's HMAC object, whose copy, update and digest are C: hmac.new wraps it in a class
    # whose methods are Python calls (about 0.5 us a meta, issue 13). Same MAC either way.
    from _hashlib import hmac_new as _openssl_hmac

    def _keyed_hmac(secret: bytes) -> Any:
        return _openssl_hmac(secret, digestmod="sha256")

except ImportError:  # a Python built without OpenSSL's hashlib
    _keyed_hmac = _python_hmac


def unwrap(data: bytes) -> tuple[str | None, bytes]:
    """The key id and the meta bytes of an envelope, unchecked, for display (``connector jobs show``).

    ``(None, data)`` for bytes without an envelope. Never use it to trust a meta: ``verify`` does that.
    """
    parts = data.split(b"\n", 4)
    if len(parts) != 5 or parts[0] != _MAGIC:
        return None, data
    return parts[1].decode(errors="replace"), parts[4]


def parse_keys(entries: Sequence[str], where: str, *, unit: str = "entry") -> list[MetaKey]:
    """Keys from ``ID=SECRET`` entries (blank ones and ``#`` comments skipped); ``where`` names the source.

    A message names a bad entry by its place (``unit`` and number, from 1), never by its text:
    an entry that is not ``ID=SECRET`` may well be a secret, and messages reach logs (issue 12).
    """
    keys = []
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, secret = entry.partition("=")
        key_id, secret = key_id.strip(), secret.strip()
        if not sep or not _KEY_ID.match(key_id):
            fault = "has no '='" if not sep else "has an id of other characters, or more than 64"
            raise ConfigurationError(
                f"{where}: {unit} {number} {fault}; write each key as ID=SECRET, the id of letters, "
                "digits, '.', '_' or '-' (at most 64)"
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"{where}: the secret of {unit} {number} is {len(secret)} characters, fewer than "
                f"{MIN_SECRET_LENGTH}; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        keys.append(MetaKey(key_id, secret.encode()))
    if not keys:
        raise ConfigurationError(f"{where} holds no key; write ID=SECRET")
    return keys


def _read_keys_file(path: Path) -> list[MetaKey]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{KEYS_FILE_VARIABLE}: cannot read {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        # Not the codec's message, nor chained: it quotes the byte it could not decode, of a secret.
        raise ConfigurationError(
            f"{KEYS_FILE_VARIABLE}: {str(path)!r} is not UTF-8 text; write ID=SECRET lines"
        ) from None
    return parse_keys(text.splitlines(), f"{KEYS_FILE_VARIABLE} ({path})", unit="line")


def _local_keys(path: Path) -> list[MetaKey]:
    """The keys of the local keys file, made with one new random key when it does not exist."""
    try:
        if not path.exists():
            _make_key_file(path)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        # exists() raises too when CONNECTOR_HOME cannot be searched (mode 000, another owner).
        raise ConfigurationError(
            f"cannot read the resource-meta key file {str(path)!r}: {exc.strerror}; make "
            f"{path.parent} readable by this user, set {KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}, "
            "or point CONNECTOR_HOME at a directory of this user"
        ) from exc
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"the resource-meta key file {str(path)!r} is not UTF-8 text; delete it to have a new key made"
        ) from None
    return parse_keys(text.splitlines(), str(path), unit="line")


def _make_key_file(path: Path) -> None:
    """Write a new key to a file of its own, then link it into place: the file appears whole or not
    at all, and of two processes starting at once the first link wins (the other reads that key)."""
    text = f"# Resource-meta signing key of this machine (connector-core).\nlocal-{secrets.token_hex(4)}="
    text += secrets.token_urlsafe(32) + "\n"
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: its key is the one
            os.link(draft, path)
    except OSError as exc:
        raise _cannot_make(path, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            draft.unlink()


def _cannot_make(path: Path, exc: OSError) -> ConfigurationError:
    return ConfigurationError(
        f"cannot make the resource-meta key file {str(path)!r}: {exc.strerror}; set "
        f"{KEYS_VARIABLE} or {KEYS_FILE_VARIABLE}, or point CONNECTOR_HOME at a writable directory"
    )
