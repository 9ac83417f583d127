"""FlyteMeta: Flyte 2's own meta bytes inside connector-core's meta, and Flyte 2's plain bytes accepted."""

from __future__ import annotations

import dataclasses
import json

import pytest
from connector_flyte import FlyteMeta
from flyte.connectors import ResourceMeta as FlyteResourceMeta

from connector import ResourceMetaError
from connector.testing import GARBLED_METAS


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
