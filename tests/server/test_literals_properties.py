"""Property tests of the literal codec: values round-trip; broken literals fail only in the codec's way."""

from __future__ import annotations

import datetime as dt
import importlib
import math
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import BlobRef, LiteralConversionError, StructuredDatasetRef
from connector.server._literals import LiteralCodec, v1_codec, v2_codec

UTC = dt.timezone.utc
IDLS = {"v1": "flyteidl", "v2": "flyteidl2"}


def _modules(name: str) -> tuple[LiteralCodec, Any, Any]:
    package = IDLS[name]
    codec = v1_codec() if name == "v1" else v2_codec()
    return (
        codec,
        importlib.import_module(f"{package}.core.literals_pb2"),
        importlib.import_module(f"{package}.core.types_pb2"),
    )


names = st.text(min_size=1, max_size=8)
int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False)
datetimes = st.datetimes(timezones=st.just(UTC))
# Protobuf durations stop at 10000 years; timedelta is microseconds, which the codec keeps exactly.
timedeltas = st.timedeltas(min_value=dt.timedelta(days=-3_652_000), max_value=dt.timedelta(days=3_652_000))
blobs = st.builds(
    BlobRef, st.text(max_size=20), st.text(max_size=8), st.sampled_from(["single", "multipart"])
)
datasets = st.builds(StructuredDatasetRef, st.text(max_size=20), st.text(max_size=8))
scalars = st.one_of(
    st.none(), st.booleans(), int64s, floats, st.text(max_size=20), datetimes, timedeltas, blobs, datasets
)
native_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=4),
    max_leaves=20,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | floats
    | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("idl", ["v1", "v2"])
@given(values=st.dictionaries(names, native_values, max_size=5))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_native_values_round_trip_through_serialized_literals(idl: str, values: dict[str, Any]) -> None:
    codec, literals_pb2, _ = _modules(idl)
    wire = codec.to_literal_map(values, None).SerializeToString()
    assert codec.to_python(literals_pb2.LiteralMap.FromString(wire), None) == values


@pytest.mark.parametrize("idl", ["v1", "v2"])
@given(value=st.dictionaries(names, json_values, max_size=5))
@settings(max_examples=150)
def test_json_like_dicts_round_trip_as_structs(idl: str, value: dict[str, Any]) -> None:
    codec, literals_pb2, types_pb2 = _modules(idl)
    declared = {"s": types_pb2.LiteralType(simple=types_pb2.SimpleType.Value("STRUCT"))}
    wire = codec.to_literal_map({"s": value}, declared).SerializeToString()
    # Numbers are doubles on the wire: 3 and 3.0 compare equal, which is all JSON promises.
    assert codec.to_python(literals_pb2.LiteralMap.FromString(wire), declared) == {"s": value}


def _typed(types_pb2: Any) -> st.SearchStrategy[tuple[Any, Any]]:
    """(LiteralType, value of that type) pairs, nested through lists, maps and optionals."""

    def simple(name: str) -> Any:
        return types_pb2.LiteralType(simple=types_pb2.SimpleType.Value(name))

    leaves = st.one_of(
        int64s.map(lambda v: (simple("INTEGER"), v)),
        floats.map(lambda v: (simple("FLOAT"), v)),
        st.integers(min_value=-(2**53), max_value=2**53).map(lambda v: (simple("FLOAT"), v)),
        st.text(max_size=10).map(lambda v: (simple("STRING"), v)),
        st.booleans().map(lambda v: (simple("BOOLEAN"), v)),
        datetimes.map(lambda v: (simple("DATETIME"), v)),
        timedeltas.map(lambda v: (simple("DURATION"), v)),
        st.dictionaries(names, json_values, max_size=3).map(lambda v: (simple("STRUCT"), v)),
    )

    def extend(children: st.SearchStrategy[tuple[Any, Any]]) -> st.SearchStrategy[tuple[Any, Any]]:
        def as_list(pair: tuple[Any, Any], size: int) -> tuple[Any, Any]:
            return types_pb2.LiteralType(collection_type=pair[0]), [pair[1]] * size

        def as_map(pair: tuple[Any, Any], keys: list[str]) -> tuple[Any, Any]:
            return types_pb2.LiteralType(map_value_type=pair[0]), dict.fromkeys(keys, pair[1])

        def as_optional(pair: tuple[Any, Any], present: bool) -> tuple[Any, Any]:
            union = types_pb2.UnionType(variants=[pair[0], simple("NONE")])
            return types_pb2.LiteralType(union_type=union), pair[1] if present else None

        return st.one_of(
            st.builds(as_list, children, st.integers(0, 3)),
            st.builds(as_map, children, st.lists(names, max_size=3)),
            st.builds(as_optional, children, st.booleans()),
        )

    return st.recursive(leaves, extend, max_leaves=6)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same Python type where it matters (a declared float decodes as a float)."""
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


@pytest.mark.parametrize("idl", ["v1", "v2"])
@given(data=st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_typed_values_round_trip(idl: str, data: st.DataObject) -> None:
    codec, literals_pb2, types_pb2 = _modules(idl)
    literal_type, value = data.draw(_typed(types_pb2))
    declared = {"v": literal_type}
    wire = codec.to_literal_map({"v": value}, declared).SerializeToString()
    back = codec.to_python(literals_pb2.LiteralMap.FromString(wire), declared)["v"]
    assert back == value
    if codec.describe(literal_type) == "float":
        assert type(back) is float
    assert _same(back, value) or isinstance(value, dict)


def _decode_or_conversion_error(codec: LiteralCodec, literal_map: Any, variables: Any) -> None:
    error: LiteralConversionError | None = None
    try:
        codec.to_python(literal_map, variables)
    except LiteralConversionError as exc:
        error = exc
    if error is not None:
        assert error.kind == "input"
        assert error.name in literal_map.literals
        assert len(str(error)) <= 1024


@pytest.mark.parametrize("idl", ["v1", "v2"])
@given(data=st.binary(max_size=300))
@settings(max_examples=300)
def test_random_bytes_decode_or_raise_a_conversion_error(idl: str, data: bytes) -> None:
    codec, literals_pb2, _ = _modules(idl)
    try:
        literal_map = literals_pb2.LiteralMap.FromString(data)
    except DecodeError:
        return  # the wire format itself is broken: the server's INVALID_ARGUMENT, not the codec's
    _decode_or_conversion_error(codec, literal_map, None)


@pytest.mark.parametrize("idl", ["v1", "v2"])
@given(values=st.dictionaries(names, native_values, min_size=1, max_size=4), data=st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_literal_maps_decode_or_raise_a_conversion_error(
    idl: str, values: dict[str, Any], data: st.DataObject
) -> None:
    codec, literals_pb2, types_pb2 = _modules(idl)
    wire = bytearray(codec.to_literal_map(values, None).SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    try:
        literal_map = literals_pb2.LiteralMap.FromString(bytes(wire))
    except DecodeError:
        return  # the wire format itself is broken: the server's INVALID_ARGUMENT, not the codec's
    # Random declared types too: a mismatch must be a conversion error, never anything else.
    literal_type, _ = data.draw(_typed(types_pb2))
    variables = dict.fromkeys(literal_map.literals, literal_type)
    _decode_or_conversion_error(codec, literal_map, variables)
    _decode_or_conversion_error(codec, literal_map, None)


def _arbitrary_literals(literals_pb2: Any) -> st.SearchStrategy[Any]:
    """Any literal message the wire can carry, valid or not: empty oneofs, odd enums, every kind."""
    lit = literals_pb2

    def scalar(**kwargs: Any) -> Any:
        return lit.Literal(scalar=lit.Scalar(**kwargs))

    def primitive(field: str, value: Any) -> Any:
        return scalar(primitive=lit.Primitive(**{field: value}))

    wide = st.integers(-(2**63), 2**63 - 1)
    nanos = st.integers(-(2**31), 2**31 - 1)
    leaves = st.one_of(
        st.just(lit.Literal()),
        st.just(scalar()),
        st.just(scalar(primitive=lit.Primitive())),
        st.just(scalar(none_type=lit.Void())),
        wide.map(lambda v: primitive("integer", v)),
        st.floats().map(lambda v: primitive("float_value", v)),
        st.text(max_size=5).map(lambda v: primitive("string_value", v)),
        st.booleans().map(lambda v: primitive("boolean", v)),
        st.builds(lambda s, n: primitive("datetime", {"seconds": s, "nanos": n}), wide, nanos),
        st.builds(lambda s, n: primitive("duration", {"seconds": s, "nanos": n}), wide, nanos),
        st.builds(
            lambda uri, fmt, dims: scalar(
                blob=lit.Blob(
                    uri=uri, metadata=lit.BlobMetadata(type={"format": fmt, "dimensionality": dims})
                )
            ),
            st.text(max_size=5),
            st.text(max_size=5),
            st.integers(-3, 3),
        ),
        st.text(max_size=5).map(lambda uri: scalar(structured_dataset=lit.StructuredDataset(uri=uri))),
        st.binary(max_size=5).map(lambda b: scalar(binary=lit.Binary(value=b))),
        st.just(scalar(schema=lit.Schema(uri="s3://s"))),
        st.just(lit.Literal(offloaded_metadata=lit.LiteralOffloadedMetadata(uri="s3://o"))),
        st.dictionaries(names, json_values, max_size=3).map(_struct).map(lambda s: scalar(generic=s)),
    )

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(children, max_size=3).map(lambda items: lit.Literal(collection={"literals": items})),
            st.dictionaries(names, children, max_size=3).map(
                lambda items: lit.Literal(map={"literals": items})
            ),
            children.map(lambda value: scalar(union=lit.Union(value=value))),
        )

    return st.recursive(leaves, extend, max_leaves=8)


def _struct(value: dict[str, Any]) -> Any:
    from google.protobuf import struct_pb2

    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


@pytest.mark.parametrize("idl", ["v1", "v2"])
@given(data=st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_literal_messages_decode_or_raise_a_conversion_error(idl: str, data: st.DataObject) -> None:
    codec, literals_pb2, types_pb2 = _modules(idl)
    literals = data.draw(st.dictionaries(names, _arbitrary_literals(literals_pb2), min_size=1, max_size=3))
    wire = literals_pb2.LiteralMap(literals=literals).SerializeToString()
    literal_map = literals_pb2.LiteralMap.FromString(wire)
    _decode_or_conversion_error(codec, literal_map, None)
    literal_type, _ = data.draw(_typed(types_pb2))
    _decode_or_conversion_error(codec, literal_map, dict.fromkeys(literals, literal_type))
