"""FlytekitMeta: flytekit's meta bytes round trip inside ours; flytekit's plain bytes are read as they are."""

from __future__ import annotations

import base64
import json

import cloudpickle
import pytest
from connector_flytekit import FlytekitMeta
from flytekit.sensor.sensor_engine import SensorMetadata
from flytekit_samples import PickledMeta

import connector


def test_round_trip_keeps_flytekits_bytes() -> None:
    flytekits = SensorMetadata(sensor_module="m", sensor_name="S", inputs={"path": "/x"}).encode()
    encoded = FlytekitMeta(flytekits).encode()
    assert json.loads(encoded) == {"v": 1, "data": {"flytekit_meta": base64.b64encode(flytekits).decode()}}
    decoded = FlytekitMeta.decode(encoded)
    assert decoded == FlytekitMeta(flytekits)
    assert decoded.flytekit_meta == flytekits
    assert decoded.plain is False


def test_flytekits_plain_json_is_read_as_flytekits_bytes() -> None:
    """What flytekit's own service hands out (``json.dumps(asdict(meta))``) becomes the flytekit bytes."""
    plain = SensorMetadata(sensor_module="flytekit.sensor.file_sensor", sensor_name="FileSensor").encode()
    decoded = FlytekitMeta.decode(plain)
    assert decoded.flytekit_meta == plain
    assert decoded.plain is True
    assert SensorMetadata.decode(decoded.flytekit_meta) == SensorMetadata.decode(plain)


def test_a_pickle_is_read_as_flytekits_bytes() -> None:
    pickled = cloudpickle.dumps(PickledMeta(openai_org="org", batch_id="batch_1"))
    decoded = FlytekitMeta.decode(pickled)
    assert (decoded.flytekit_meta, decoded.plain) == (pickled, True)


def test_json_of_another_shape_is_flytekits() -> None:
    """A flytekit meta whose fields happen to be v and data is not taken for ours."""
    other = json.dumps({"v": 1, "data": {"job_id": "x"}}).encode()
    assert FlytekitMeta.decode(other) == FlytekitMeta(other)
    assert FlytekitMeta.decode(other).plain is True


def test_too_large_plain_bytes_are_refused() -> None:
    with pytest.raises(connector.ResourceMetaError) as info:
        FlytekitMeta.decode(b"x" * (64 * 1024 + 1))
    assert str(info.value) == "cannot decode FlytekitMeta: 65537 bytes is over the limit of 65536"


def test_not_bytes_is_refused() -> None:
    with pytest.raises(connector.ResourceMetaError) as info:
        FlytekitMeta.decode("text")  # type: ignore[arg-type]
    assert str(info.value) == "cannot decode FlytekitMeta: expected bytes, got str"


def test_our_form_with_bad_base64_is_refused() -> None:
    bad = b'{"data":{"flytekit_meta":"not base64!"},"v":1}'
    with pytest.raises(connector.ResourceMetaError) as info:
        FlytekitMeta.decode(bad)
    assert str(info.value) == "cannot decode FlytekitMeta: flytekit_meta: not base64 bytes"
