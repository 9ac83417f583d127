"""Unsigned metas go through ``decode_unsigned``: a meta class may refuse more of what nothing vouches for."""

from __future__ import annotations

import dataclasses
import json

import pytest

import connector
from connector import ConnectorCalls, ResourceMeta, ResourceMetaError, TaskCategory
from connector.registry._signing import MetaKey, MetaSigner
from connector.testing import registry_of

SECRET = b"k" * 32


@dataclasses.dataclass
class Cautious(ResourceMeta):
    """Reads its own JSON when signed; refuses anything unsigned that is not plain JSON of its fields."""

    accepts_plain_json = True

    job: str

    @classmethod
    def decode_unsigned(cls, data: bytes) -> Cautious:
        if not data.startswith(b"{"):
            raise ResourceMetaError("cannot decode Cautious: unsigned bytes must be plain JSON")
        return cls.decode(data)


class Job(connector.AsyncConnector):
    name = "job"
    task_type_name = "job"
    metadata_type = Cautious

    def create(self) -> Cautious:
        return Cautious("j1")

    def get(self, resource_meta: Cautious) -> connector.Resource:
        return connector.Resource(connector.Phase.RUNNING)

    def delete(self, resource_meta: Cautious) -> None:
        pass


def _calls(*, accept_unsigned: bool) -> ConnectorCalls:
    signer = MetaSigner([MetaKey("k1", SECRET)], accept_unsigned=accept_unsigned)
    return ConnectorCalls(registry_of(Job()).get(TaskCategory("job", 0)), signer=signer)


def _error(calls: ConnectorCalls, data: bytes) -> str:
    with pytest.raises(ResourceMetaError) as info:
        calls.decode_meta(data)
    return str(info.value)


def test_signed_bytes_are_read_with_decode() -> None:
    calls = _calls(accept_unsigned=False)
    assert calls.decode_meta(calls.encode_meta(Cautious("j1"))) == Cautious("j1")


def test_unsigned_bytes_are_read_with_decode_unsigned() -> None:
    calls = _calls(accept_unsigned=True)
    assert calls.decode_meta(json.dumps({"job": "j2"}).encode()) == Cautious("j2")
    # The meta's own encoding, sent without an envelope, is what decode would read: refused here.
    assert _error(calls, Cautious("j3").encode().replace(b"{", b" {", 1)) == (
        "the resource meta is not one task type job@0 wrote: "
        "cannot decode Cautious: unsigned bytes must be plain JSON"
    )


def test_without_a_signer_every_meta_is_unsigned() -> None:
    calls = ConnectorCalls(registry_of(Job()).get(TaskCategory("job", 0)))
    assert _error(calls, b" []") == (
        "the resource meta is not one task type job@0 wrote: "
        "cannot decode Cautious: unsigned bytes must be plain JSON"
    )


def test_the_default_is_decode() -> None:
    @dataclasses.dataclass
    class Plain(ResourceMeta):
        job: str

    data = Plain("j").encode()
    assert Plain.decode_unsigned(data) == Plain.decode(data) == Plain("j")
