"""FlytekitMeta: flytekit's meta bytes round trip inside ours; flytekit's plain bytes are read as they are."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import itertools
import json
from typing import Any, ClassVar

import cloudpickle
import pytest
from connector_flytekit import FlytekitMeta
from flytekit.sensor.sensor_engine import SensorMetadata
from flytekit_samples import PickledMeta

import connector


@dataclasses.dataclass
class FlytekitMetaWire(connector.ResourceMeta):
    """The core's own encoding of FlytekitMeta's one field: what its direct encoding must equal."""

    flytekit_meta: bytes


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


@pytest.mark.parametrize("flytekits", [b"", b"{}", b'{"a": "\\u00e9"}', bytes(range(256)), b"x" * 3000])
def test_encode_writes_the_cores_encoding_of_the_bytes(flytekits: bytes) -> None:
    """encode writes the JSON directly (issue 11's pairs/s): byte for byte what the core writes."""

    assert FlytekitMeta(flytekits).encode() == FlytekitMetaWire(flytekits).encode()
    assert FlytekitMeta.decode(FlytekitMeta(flytekits).encode()) == FlytekitMeta(flytekits)


@pytest.mark.parametrize(
    "document",
    [
        b'{"v":1,"data":{"flytekit_meta":"eyJhIjoxfQ=="}}',
        b'{"data": {"flytekit_meta": "eyJhIjoxfQ=="}, "v": 1}',
        b'{"data":{"flytekit_meta":"eyJhIjox\\u0066Q=="},"v":1}',
    ],
)
def test_our_form_written_otherwise_is_still_ours(document: bytes) -> None:
    """Key order, spaces and escapes other than encode's are read through JSON, to the same bytes."""
    decoded = FlytekitMeta.decode(document)
    assert (decoded.flytekit_meta, decoded.plain) == (b'{"a":1}', False)


def test_a_prefix_and_suffix_sharing_their_quote_is_not_ours() -> None:
    """``{"data":{"flytekit_meta":"},"v":1}`` is no JSON: flytekit's own bytes, not an empty meta."""
    odd = b'{"data":{"flytekit_meta":"},"v":1}'
    assert FlytekitMeta.decode(odd) == FlytekitMeta(odd)
    assert FlytekitMeta.decode(odd).plain is True


def test_too_large_a_meta_is_refused_at_encode() -> None:
    with pytest.raises(connector.ResourceMetaError) as info:
        FlytekitMeta(b"x" * 50_000).encode()
    assert str(info.value) == (
        "encoded FlytekitMeta is 66703 bytes, over the limit of 65536; "
        "keep large data out of the resource meta"
    )


def test_a_meta_that_is_not_bytes_is_encoded_as_the_core_encodes_it() -> None:
    """A plugin whose encode() returns a str: what the core writes for it (its check then judges it)."""

    odd = FlytekitMeta("not bytes")  # type: ignore[arg-type]
    assert odd.encode() == FlytekitMetaWire("not bytes").encode()  # type: ignore[arg-type]


def test_a_subclass_with_a_larger_limit_keeps_the_cores_limit_of_the_form() -> None:
    """The form is the core's ``_Wire`` document: its 64 KiB limit holds, as before the direct encoding."""

    @dataclasses.dataclass
    class Roomy(FlytekitMeta):
        max_encoded_size: ClassVar[int] = 128 * 1024

    with pytest.raises(connector.ResourceMetaError) as info:
        Roomy(b"x" * 60_000).encode()
    assert str(info.value).startswith("encoded FlytekitMeta is 80035 bytes, over the limit of 65536")
    written = b'{"data":{"flytekit_meta":"' + base64.b64encode(b"x" * 60_000) + b'"},"v":1}'
    with pytest.raises(connector.ResourceMetaError) as info:
        Roomy.decode(written)
    assert str(info.value) == "cannot decode FlytekitMeta: 80035 bytes is over the limit of 65536"


def test_the_strict_base64_of_the_fast_path_agrees_with_b64decode_validate() -> None:
    """binascii's strict mode (Python 3.11+) decodes and refuses exactly what b64decode(validate=True) does.

    Every text of up to five characters of an alphabet with base64's own, its padding, URL-safe
    ones, a space and a newline: where padding and stray characters may go.
    """
    from connector_flytekit._meta import _strict_b64decode

    def outcome(decode: Any, body: bytes) -> bytes | None:
        try:
            return decode(body)  # type: ignore[no-any-return]
        except binascii.Error:
            return None

    alphabet = (b"A", b"Q", b"/", b"=", b"-", b" ", b"\n")
    bodies = [b"".join(chars) for n in range(6) for chars in itertools.product(alphabet, repeat=n)]
    for body in bodies:
        expected = outcome(lambda b: base64.b64decode(b, validate=True), body)
        assert outcome(_strict_b64decode, body) == expected, body
