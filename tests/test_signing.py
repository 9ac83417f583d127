"""The resource-meta envelope: signing, verifying, keys from the environment, and the local key."""

from __future__ import annotations

import concurrent.futures
import stat
from pathlib import Path

import pytest

from connector import ConfigurationError, ResourceMetaError, TaskCategory
from connector.registry._signing import MetaKey, MetaSigner

K1 = "k1=" + "a" * 32
K2 = "k2=" + "b" * 32
JOB = TaskCategory("job")
PAYLOAD = b'{"data":{"job_id":"j"},"v":1}'


def signer(*entries: str, **environ: str) -> MetaSigner:
    return MetaSigner.from_environ({"CONNECTOR_META_KEYS": ",".join(entries), **environ})


def test_a_signed_meta_verifies_and_gives_back_its_bytes() -> None:
    one = signer(K1)
    data = one.sign(JOB, PAYLOAD)
    assert data.startswith(b"cm1\nk1\njob@0\n")
    assert data.endswith(b"\n" + PAYLOAD)
    assert one.verify(JOB, data) == PAYLOAD


def test_every_changed_byte_is_refused() -> None:
    one = signer(K1)
    data = one.sign(JOB, PAYLOAD)
    for index in range(len(data)):
        changed = data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]
        with pytest.raises(ResourceMetaError):
            one.verify(JOB, changed)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            PAYLOAD,
            "the resource meta of task type job@0 is not signed by this service; if another service "
            "wrote it before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it",
        ),
        (b"cm1\nk1\njob@0\n", "the resource meta of task type job@0 has a malformed signature"),
        (
            b"cm1\nk1\njob@0\nshort\n" + PAYLOAD,
            "the resource meta of task type job@0 has a malformed signature",
        ),
        (
            b"cm1\nk1\njob@0\n" + b"A" * 43 + b"\n" + PAYLOAD,
            "the resource meta of task type job@0 has a bad signature",
        ),
    ],
)
def test_what_is_not_a_good_envelope(data: bytes, message: str) -> None:
    with pytest.raises(ResourceMetaError) as info:
        signer(K1).verify(JOB, data)
    assert str(info.value) == message


def test_a_truncated_envelope_is_refused() -> None:
    data = signer(K1).sign(JOB, PAYLOAD)
    for end in range(len(data)):
        with pytest.raises(ResourceMetaError):
            signer(K1).verify(JOB, data[:end])


def test_a_meta_signed_with_an_unknown_key() -> None:
    data = signer(K2).sign(JOB, PAYLOAD)
    with pytest.raises(ResourceMetaError) as info:
        signer(K1).verify(JOB, data)
    assert str(info.value) == (
        "the resource meta of task type job@0 is signed with key 'k2', which this service does not have"
    )


def test_a_meta_of_another_task_type() -> None:
    data = signer(K1).sign(TaskCategory("other", 2), PAYLOAD)
    with pytest.raises(ResourceMetaError) as info:
        signer(K1).verify(JOB, data)
    assert str(info.value) == "the resource meta is for task type other@2, not job@0"


def test_rotation_signs_with_the_first_key_and_verifies_with_any() -> None:
    before = signer(K1).sign(JOB, PAYLOAD)
    rotated = signer(K2, K1)
    assert rotated.verify(JOB, before) == PAYLOAD
    after = rotated.sign(JOB, PAYLOAD)
    assert after.startswith(b"cm1\nk2\n")
    assert signer(K2).verify(JOB, after) == PAYLOAD


def test_unsigned_metas_when_the_operator_accepts_them() -> None:
    seen: list[TaskCategory] = []
    accepting = MetaSigner.from_environ(
        {"CONNECTOR_META_KEYS": K1, "CONNECTOR_ACCEPT_UNSIGNED_META": "1"}, on_unsigned=seen.append
    )
    assert accepting.verify(JOB, PAYLOAD) == PAYLOAD
    assert seen == [JOB]
    # A signed one is still checked.
    with pytest.raises(ResourceMetaError, match="bad signature"):
        accepting.verify(JOB, b"cm1\nk1\njob@0\n" + b"A" * 43 + b"\n" + PAYLOAD)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"CONNECTOR_META_KEYS": "k1"},
            "CONNECTOR_META_KEYS: entry 1 has no '='; write each key as ID=SECRET, the id of letters, "
            "digits, '.', '_' or '-' (at most 64)",
        ),
        (
            {"CONNECTOR_META_KEYS": f"{K1},,bad id=" + "a" * 32},
            "CONNECTOR_META_KEYS: entry 3 has an id of other characters, or more than 64; write each key "
            "as ID=SECRET, the id of letters, digits, '.', '_' or '-' (at most 64)",
        ),
        (
            {"CONNECTOR_META_KEYS": "k1=short"},
            "CONNECTOR_META_KEYS: the secret of entry 1 is 5 characters, "
            "fewer than 32; make one with python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        ),
        ({"CONNECTOR_META_KEYS": f"{K1},{K1}"}, "resource-meta key ids must differ; got k1, k1"),
        (
            {"CONNECTOR_META_KEYS": K1, "CONNECTOR_META_KEYS_FILE": "/x"},
            "set CONNECTOR_META_KEYS or CONNECTOR_META_KEYS_FILE, not both",
        ),
        (
            {"CONNECTOR_META_KEYS": K1, "CONNECTOR_ACCEPT_UNSIGNED_META": "maybe"},
            "CONNECTOR_ACCEPT_UNSIGNED_META: 'maybe' is not a boolean (use 1 or 0)",
        ),
    ],
)
def test_bad_settings_are_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        MetaSigner.from_environ(environ)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "entry",
    [
        "prod:s3cr3tVALUE-0123456789abcdefghij",  # ':' for '='
        "s3cr3tVALUE-0123456789abcdefghij",  # the secret alone
        "s3cr3tVALUE0123456789abcdefghijklmnopqr=",  # a base64 secret alone: its padding looks like '='
        "pass word=s3cr3tVALUE-0123456789abcdefghij",  # a space in the id
    ],
)
def test_a_bad_entry_is_named_by_its_place_never_by_its_text(entry: str) -> None:
    # Messages reach logs (with --json, a container's stdout): an entry that is not ID=SECRET
    # may be all secret, so no part of it is shown (issue 12).
    with pytest.raises(ConfigurationError) as info:
        signer(K1, entry)
    assert str(info.value).startswith("CONNECTOR_META_KEYS: ")
    assert " entry 2 " in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_keys_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated on Monday\n{K2}\n\n{K1}\n")
    from_file = MetaSigner.from_environ({"CONNECTOR_META_KEYS_FILE": str(path)})
    assert [key.id for key in from_file.keys] == ["k2", "k1"]
    assert from_file.describe() == (
        f"resource meta is signed with key 'k2' from CONNECTOR_META_KEYS_FILE ({path}), also verified "
        "with 'k1'; unsigned metas are refused"
    )
    with pytest.raises(ConfigurationError) as info:
        MetaSigner.from_environ({"CONNECTOR_META_KEYS_FILE": str(tmp_path / "absent")})
    assert str(info.value).startswith(f"CONNECTOR_META_KEYS_FILE: cannot read '{tmp_path / 'absent'}': ")
    (tmp_path / "empty").write_text("# nothing yet\n")
    with pytest.raises(ConfigurationError) as info:
        MetaSigner.from_environ({"CONNECTOR_META_KEYS_FILE": str(tmp_path / "empty")})
    assert str(info.value) == f"CONNECTOR_META_KEYS_FILE ({tmp_path / 'empty'}) holds no key; write ID=SECRET"
    # A bad line is named by its number: comments and blank lines count, as an editor counts them.
    (tmp_path / "bad").write_text(f"# keys\n{K1}\n\nk2:s3cr3tVALUE-0123456789abcdefghij\n")
    with pytest.raises(ConfigurationError) as info:
        MetaSigner.from_environ({"CONNECTOR_META_KEYS_FILE": str(tmp_path / "bad")})
    assert str(info.value) == (
        f"CONNECTOR_META_KEYS_FILE ({tmp_path / 'bad'}): line 4 has no '='; write each key as ID=SECRET, "
        "the id of letters, digits, '.', '_' or '-' (at most 64)"
    )
    # The codec's message would quote the byte it cannot decode: a byte of a secret.
    (tmp_path / "latin1").write_bytes(b"k1=s3cr3t\xe9VALUE-0123456789abcdefghijklmnop\n")
    with pytest.raises(ConfigurationError) as info:
        MetaSigner.from_environ({"CONNECTOR_META_KEYS_FILE": str(tmp_path / "latin1")})
    assert str(info.value) == (
        f"CONNECTOR_META_KEYS_FILE: '{tmp_path / 'latin1'}' is not UTF-8 text; write ID=SECRET lines"
    )
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_without_keys_one_is_made_once_under_connector_home(tmp_path: Path) -> None:
    environ = {"CONNECTOR_HOME": str(tmp_path / "home")}
    first = MetaSigner.from_environ(environ)
    path = tmp_path / "home" / "meta-keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.keys[0].id.startswith("local-")
    # A restart (another signer from the same home) keeps verifying what the first one signed.
    again = MetaSigner.from_environ(environ)
    assert again.keys == first.keys
    assert again.verify(JOB, first.sign(JOB, PAYLOAD)) == PAYLOAD
    assert first.describe() == (
        f"resource meta is signed with key {first.keys[0].id!r} from {path} (made on first use; replicas "
        "must share keys); unsigned metas are refused"
    )


def test_a_local_key_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError) as info:
        MetaSigner.from_environ({"CONNECTOR_HOME": str(blocker)})
    assert str(info.value).startswith(f"cannot make the resource-meta key file '{blocker / 'meta-keys'}': ")
    assert str(info.value).endswith(
        "; set CONNECTOR_META_KEYS or CONNECTOR_META_KEYS_FILE, or point CONNECTOR_HOME at a "
        "writable directory"
    )


def test_a_local_key_file_that_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "meta-keys").write_bytes(b"local-1=\xff" + b"k" * 40 + b"\n")
    with pytest.raises(ConfigurationError) as info:
        MetaSigner.from_environ({"CONNECTOR_HOME": str(tmp_path)})
    assert str(info.value) == (
        f"the resource-meta key file '{tmp_path / 'meta-keys'}' is not UTF-8 text; delete it to have a "
        "new key made"
    )


def test_a_key_never_shows_its_secret() -> None:
    key = MetaKey("k1", b"a" * 32)
    assert "a" * 32 not in repr(key)
    assert "a" * 32 not in repr(signer(K1))
    assert "a" * 32 not in signer(K1).describe()


def test_processes_starting_at_once_agree_on_one_local_key(tmp_path: Path) -> None:
    environ = {"CONNECTOR_HOME": str(tmp_path / "home")}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        signers = list(pool.map(lambda _: MetaSigner.from_environ(environ), range(16)))
    assert len({signer.keys for signer in signers}) == 1
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["meta-keys"]  # no draft left behind


@pytest.mark.parametrize("keyed", ["openssl", "python"])
def test_the_envelope_is_hmac_sha256_of_its_head_and_payload_under_the_key(
    keyed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The format is a contract with every replica and with metas already out there: a known answer,
    # with OpenSSL's HMAC object and with hmac.new's (a Python built without OpenSSL's hashlib).
    import base64
    import hashlib
    import hmac

    from connector.registry import _signing

    if keyed == "python":
        monkeypatch.setattr(_signing, "_keyed_hmac", _signing._python_hmac)
    secret = "s" * 40
    envelope = MetaSigner([MetaKey("k1", secret.encode())]).sign(JOB, PAYLOAD)
    head = b"cm1\nk1\njob@0\n"
    mac = base64.urlsafe_b64encode(hmac.new(secret.encode(), head + PAYLOAD, hashlib.sha256).digest())
    assert envelope == head + mac.rstrip(b"=") + b"\n" + PAYLOAD


def test_signing_from_many_threads_at_once_gives_the_same_envelope() -> None:
    one = MetaSigner([MetaKey("k1", b"t" * 40)])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        envelopes = set(pool.map(lambda i: one.sign(JOB, PAYLOAD), range(400)))
    assert len(envelopes) == 1
    assert one.verify(JOB, envelopes.pop()) == PAYLOAD
