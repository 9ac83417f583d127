"""FlyteMeta: Flyte 2's own meta bytes inside connector-core's meta, and Flyte 2's plain bytes accepted."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from connector_flyte import PICKLED_META_VARIABLE, FlyteEntryPoint, FlyteMeta
from connector_flyte._adapter import bridge
from connector_flyte._flyte import flyte_sdk
from flyte.connectors import AsyncConnector, Resource
from flyte.connectors import ResourceMeta as FlyteResourceMeta
from flyteidl2.core.execution_pb2 import TaskExecution

from connector import ResourceMetaError
from connector.registry._calls import ConnectorCalls
from connector.registry._signing import MetaKey, MetaSigner
from connector.testing import GARBLED_METAS, registry_of


@dataclasses.dataclass
class JobMeta(FlyteResourceMeta):
    """A Flyte 2 connector's meta, as a third party declares it."""

    job_id: str
    attempt: int = 0


MetaOfJob = FlyteMeta.for_flyte_meta(JobMeta)
FLYTE_BYTES = JobMeta(job_id="j-1", attempt=2).encode()


def test_flyte2_writes_plain_json() -> None:
    """What a job Flyte 2's own service started carries: ``json.dumps(asdict(meta))``."""
    assert FLYTE_BYTES == b'{"job_id": "j-1", "attempt": 2}'


def test_round_trip_keeps_flyte2_bytes_exactly() -> None:
    encoded = MetaOfJob(FLYTE_BYTES).encode()
    assert json.loads(encoded) == {
        "v": 1,
        "data": {"flyte_meta": "eyJqb2JfaWQiOiAiai0xIiwgImF0dGVtcHQiOiAyfQ=="},
    }
    decoded = MetaOfJob.decode(encoded)
    assert decoded == MetaOfJob(FLYTE_BYTES)
    assert decoded.flyte_decoded() == JobMeta(job_id="j-1", attempt=2)


def test_flyte2_plain_bytes_are_accepted() -> None:
    """A switch-over: the bytes Flyte 2's service handed out decode as they are."""
    decoded = MetaOfJob.decode(FLYTE_BYTES)
    assert decoded == MetaOfJob(FLYTE_BYTES)
    assert decoded.flyte_decoded() == JobMeta(job_id="j-1", attempt=2)


def test_bytes_the_flyte2_meta_class_refuses_are_refused() -> None:
    with pytest.raises(ResourceMetaError) as info:
        MetaOfJob.decode(b'{"attempt": 2}')
    assert str(info.value).startswith("cannot decode FlyteJobMeta: Flyte 2's JobMeta.decode raised ")


@pytest.mark.parametrize("garbled", [meta for meta in GARBLED_METAS if meta])
def test_garbled_metas_raise_resource_meta_error(garbled: bytes) -> None:
    """The core's contract: what the engine may hand back garbled raises ResourceMetaError, nothing else."""
    with pytest.raises(ResourceMetaError):
        MetaOfJob.decode(garbled)


def test_a_document_with_garbled_flyte_bytes_is_refused() -> None:
    document = MetaOfJob(b"not json").encode()
    with pytest.raises(ResourceMetaError) as info:
        MetaOfJob.decode(document)
    assert str(info.value).startswith(
        "cannot decode FlyteJobMeta: Flyte 2's JobMeta.decode raised JSONDecodeError"
    )


def test_plain_bytes_over_the_limit_are_refused() -> None:
    big = json.dumps({"job_id": "x" * FlyteMeta.max_encoded_size}).encode()
    with pytest.raises(ResourceMetaError) as info:
        MetaOfJob.decode(big)
    assert str(info.value) == (
        f"cannot decode FlyteJobMeta: {len(big)} bytes is over the limit of {FlyteMeta.max_encoded_size}"
    )


def test_one_class_per_flyte2_meta_class() -> None:
    assert FlyteMeta.for_flyte_meta(JobMeta) is MetaOfJob
    assert issubclass(MetaOfJob, FlyteMeta)
    assert "__dataclass_fields__" in vars(MetaOfJob)  # validated as the core validates metas
    assert MetaOfJob.flyte_metadata_type is JobMeta


# Issue 11's security review: a meta class that may unpickle never reads unsigned bytes by default.


@dataclasses.dataclass
class PickledMeta(FlyteResourceMeta):
    """A Flyte 2 connector's meta that pickles itself, as some connectors' metas do."""

    job_id: str

    def encode(self) -> bytes:
        return pickle.dumps(self)

    @classmethod
    def decode(cls, data: bytes) -> PickledMeta:
        meta: PickledMeta = pickle.loads(data)
        return meta


@dataclasses.dataclass
class InheritsPickledMeta(PickledMeta):
    """Its ``decode`` is its base's, not Flyte 2's: still a pickle."""


class Pickling(AsyncConnector):
    name = "Pickling"
    task_type_name = "pickling"
    metadata_type = PickledMeta

    async def create(self, task_template: Any, output_prefix: str, **kwargs: Any) -> PickledMeta:
        return PickledMeta("j-1")

    async def get(self, resource_meta: PickledMeta, **kwargs: Any) -> Resource:
        return Resource(phase=TaskExecution.RUNNING)

    async def delete(self, resource_meta: PickledMeta, **kwargs: Any) -> None:
        return None


def attack(made: Path) -> bytes:
    """A protocol-0 pickle that, unpickled, makes the directory ``made``."""
    return f"cos\nmkdir\n(V{made}\ntR.".encode()


def accepting_unsigned() -> ConnectorCalls:
    """The call layer of the bridged ``Pickling``, accepting unsigned metas (a switch-over)."""
    entry_point = FlyteEntryPoint("pickling", "pickling:Pickling", "pickling-flyte", "0.1")
    loaded = registry_of(bridge(Pickling(), flyte_sdk(), entry_point)).get("pickling")
    return ConnectorCalls(loaded, signer=MetaSigner([MetaKey("k1", b"k" * 32)], accept_unsigned=True))


@pytest.fixture
def no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PICKLED_META_VARIABLE, raising=False)


@pytest.mark.usefixtures("no_opt_in")
@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "in-a-document"])
def test_an_unsigned_pickle_is_refused_and_never_runs(tmp_path: Path, wrapped: bool) -> None:
    made = tmp_path / "pwned"
    meta_class = FlyteMeta.for_flyte_meta(PickledMeta)
    data = meta_class(attack(made)).encode() if wrapped else attack(made)
    with pytest.raises(ResourceMetaError) as info:
        accepting_unsigned().decode_meta(data)
    assert not made.exists()
    assert str(info.value) == (
        "the resource meta is not one task type pickling@0 wrote: cannot decode FlytePickledMeta: no "
        "signature vouches for these bytes and test_meta.PickledMeta decodes them with its own decode, "
        "not Flyte 2's JSON one, and may unpickle them, which would run a caller's code; send the meta "
        "this service signed, or have the operator accept that risk for every caller with "
        "CONNECTOR_FLYTE_ACCEPT_PICKLED_META=1"
    )


@pytest.mark.usefixtures("no_opt_in")
def test_a_decode_inherited_from_a_class_below_flyte2s_is_refused() -> None:
    with pytest.raises(ResourceMetaError) as info:
        FlyteMeta.for_flyte_meta(InheritsPickledMeta).decode_unsigned(pickle.dumps(InheritsPickledMeta("j")))
    assert "test_meta.InheritsPickledMeta decodes them with its own decode" in str(info.value)


@pytest.mark.usefixtures("no_opt_in")
def test_without_a_flyte2_meta_class_unsigned_bytes_are_refused() -> None:
    with pytest.raises(ResourceMetaError) as info:
        FlyteMeta.decode_unsigned(b'{"job_id": "j-1"}')
    assert str(info.value) == (
        "cannot decode FlyteMeta: no signature vouches for these bytes and no Flyte 2 meta class checks "
        "them, which would run a caller's code; send the meta this service signed, or have the operator "
        "accept that risk for every caller with CONNECTOR_FLYTE_ACCEPT_PICKLED_META=1"
    )


@pytest.mark.usefixtures("no_opt_in")
def test_the_signed_pickle_this_service_wrote_is_read() -> None:
    calls = accepting_unsigned()
    meta = calls.decode_meta(
        calls.encode_meta(FlyteMeta.for_flyte_meta(PickledMeta)(PickledMeta("j-1").encode()))
    )
    assert meta.flyte_decoded() == PickledMeta("j-1")


@pytest.mark.usefixtures("no_opt_in")
def test_flyte2s_json_metas_are_accepted_unsigned() -> None:
    """The switch-over from Flyte 2's service: plain JSON bytes of a class with Flyte 2's ``decode``."""
    assert MetaOfJob.decode_unsigned(FLYTE_BYTES).flyte_decoded() == JobMeta(job_id="j-1", attempt=2)


def test_with_the_opt_in_an_unsigned_pickle_is_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the refusal prevents: with the opt-in, the caller's pickle runs, as in Flyte 2's own service."""
    monkeypatch.setenv(PICKLED_META_VARIABLE, "1")
    made = tmp_path / "pwned"
    accepting_unsigned().decode_meta(attack(made))
    assert made.is_dir()
