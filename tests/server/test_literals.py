"""The literal codec, against the generated flyteidl and flyteidl2 messages: round trips and exact errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from types import ModuleType
from typing import Any

import msgpack
import pytest
from google.protobuf import struct_pb2

import connector
from connector import BlobRef, LiteralConversionError, StructuredDatasetRef
from connector.server._literals import LiteralCodec, v1_codec, v2_codec

UTC = dt.timezone.utc


@dataclasses.dataclass
class Idl:
    """One IDL's codec and the generated modules to build messages with."""

    name: str
    codec: LiteralCodec
    lit: ModuleType
    types: ModuleType
    interface: ModuleType

    def simple(self, name: str, tag: str = "") -> Any:
        lt = self.types.LiteralType(simple=self.types.SimpleType.Value(name))
        if tag:
            lt.structure.tag = tag
        return lt

    def list_of(self, item: Any) -> Any:
        return self.types.LiteralType(collection_type=item)

    def map_of(self, value: Any) -> Any:
        return self.types.LiteralType(map_value_type=value)

    def union(self, *variants: Any) -> Any:
        return self.types.LiteralType(union_type=self.types.UnionType(variants=variants))

    def blob(self, fmt: str = "", multipart: bool = False) -> Any:
        dims = self.types.BlobType.BlobDimensionality.Value("MULTIPART" if multipart else "SINGLE")
        return self.types.LiteralType(blob=self.types.BlobType(format=fmt, dimensionality=dims))

    def dataset(self, fmt: str = "") -> Any:
        return self.types.LiteralType(structured_dataset_type=self.types.StructuredDatasetType(format=fmt))

    def enum(self, *values: str) -> Any:
        return self.types.LiteralType(enum_type=self.types.EnumType(values=values))

    def primitive(self, **kwargs: Any) -> Any:
        return self.lit.Literal(scalar=self.lit.Scalar(primitive=self.lit.Primitive(**kwargs)))

    def scalar(self, **kwargs: Any) -> Any:
        return self.lit.Literal(scalar=self.lit.Scalar(**kwargs))

    def literal_map(self, **literals: Any) -> Any:
        return self.lit.LiteralMap(literals=literals)

    def encode_one(self, value: Any, declared: Any = None) -> Any:
        variables = None if declared is None else {"x": declared}
        return self.codec.to_literal_map({"x": value}, variables).literals["x"]

    def decode_one(self, literal: Any, declared: Any = None) -> Any:
        variables = None if declared is None else {"x": declared}
        return self.codec.to_python(self.literal_map(x=literal), variables)["x"]


def _idl(name: str) -> Idl:
    package = "flyteidl" if name == "v1" else "flyteidl2"
    return Idl(
        name=name,
        codec=v1_codec() if name == "v1" else v2_codec(),
        lit=importlib.import_module(f"{package}.core.literals_pb2"),
        types=importlib.import_module(f"{package}.core.types_pb2"),
        interface=importlib.import_module(f"{package}.core.interface_pb2"),
    )


@pytest.fixture(params=["v1", "v2"])
def idl(request: pytest.FixtureRequest) -> Idl:
    return _idl(request.param)


NATIVE_VALUES = [
    pytest.param(0, id="int-zero"),
    pytest.param(-(2**63), id="int64-min"),
    pytest.param(2**63 - 1, id="int64-max"),
    pytest.param(2.5, id="float"),
    pytest.param(float("inf"), id="float-inf"),
    pytest.param("", id="str-empty"),
    pytest.param("héllo\n", id="str"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC), id="datetime"),
    pytest.param(dt.datetime(1, 1, 1, tzinfo=UTC), id="datetime-min"),
    pytest.param(dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="datetime-before-epoch"),
    pytest.param(dt.timedelta(0), id="duration-zero"),
    pytest.param(dt.timedelta(days=3, seconds=5, microseconds=7), id="duration"),
    pytest.param(dt.timedelta(microseconds=-1), id="duration-negative"),
    pytest.param(dt.timedelta(days=-2, seconds=1), id="duration-negative-days"),
    pytest.param(None, id="none"),
    pytest.param([], id="list-empty"),
    pytest.param([1, 2, 3], id="list"),
    pytest.param([[1], [], [2, 3]], id="list-of-lists"),
    pytest.param({}, id="map-empty"),
    pytest.param({"a": 1, "b": "x", "c": [None, 1.5]}, id="map-mixed"),
    pytest.param(BlobRef("s3://bucket/file.csv", "csv"), id="blob"),
    pytest.param(BlobRef("gs://bucket/dir/", "", "multipart"), id="blob-multipart"),
    pytest.param(StructuredDatasetRef("s3://bucket/table", "parquet"), id="structured-dataset"),
]


@pytest.mark.parametrize("value", NATIVE_VALUES)
def test_untyped_values_round_trip(idl: Idl, value: Any) -> None:
    literal_map = idl.codec.to_literal_map({"x": value}, None)
    back = idl.codec.to_python(literal_map, None)["x"]
    assert back == value
    assert type(back) is type(value)


def test_tuple_is_encoded_as_a_list(idl: Idl) -> None:
    assert idl.decode_one(idl.encode_one((1, "a"))) == [1, "a"]


def test_untyped_literals_have_the_expected_shape(idl: Idl) -> None:
    assert idl.encode_one(7) == idl.primitive(integer=7)
    assert idl.encode_one(7.0) == idl.primitive(float_value=7.0)
    assert idl.encode_one("7") == idl.primitive(string_value="7")
    assert idl.encode_one(True) == idl.primitive(boolean=True)
    assert idl.encode_one(None) == idl.scalar(none_type=idl.lit.Void())
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    timestamp = idl.encode_one(when).scalar.primitive.datetime
    assert (timestamp.seconds, timestamp.nanos) == (1704164645, 6_000_000)
    duration = idl.encode_one(dt.timedelta(seconds=-1, microseconds=250_000)).scalar.primitive.duration
    # Protobuf durations keep seconds and nanos of one sign: -0.75 s.
    assert (duration.seconds, duration.nanos) == (0, -750_000_000)
    assert idl.encode_one([]).WhichOneof("value") == "collection"
    assert idl.encode_one({}).WhichOneof("value") == "map"


@pytest.mark.parametrize(
    ("declared", "value", "field", "expected"),
    [
        ("INTEGER", 5, "integer", 5),
        ("FLOAT", 5, "float_value", 5.0),
        ("FLOAT", 5.5, "float_value", 5.5),
        ("STRING", "five", "string_value", "five"),
        ("BOOLEAN", False, "boolean", False),
    ],
)
def test_declared_primitives_round_trip(
    idl: Idl, declared: str, value: Any, field: str, expected: Any
) -> None:
    lt = idl.simple(declared)
    literal = idl.encode_one(value, lt)
    assert literal.scalar.primitive.WhichOneof("value") == field
    back = idl.decode_one(literal, lt)
    assert back == expected
    assert type(back) is type(expected)


def test_declared_float_output_gets_a_float_literal_for_an_int(idl: Idl) -> None:
    literal_map = idl.codec.to_literal_map({"ratio": 1, "count": 1}, {"ratio": idl.simple("FLOAT")})
    assert literal_map.literals["ratio"] == idl.primitive(float_value=1.0)
    # Undeclared values are typed from their Python type.
    assert literal_map.literals["count"] == idl.primitive(integer=1)


def test_declared_float_input_accepts_an_integer_literal(idl: Idl) -> None:
    value = idl.decode_one(idl.primitive(integer=4), idl.simple("FLOAT"))
    assert value == 4.0
    assert isinstance(value, float)


def test_declared_datetime_duration_none_round_trip(idl: Idl) -> None:
    when = dt.datetime(2030, 6, 1, 12, tzinfo=UTC)
    assert idl.decode_one(idl.encode_one(when, idl.simple("DATETIME")), idl.simple("DATETIME")) == when
    span = dt.timedelta(hours=-5)
    assert idl.decode_one(idl.encode_one(span, idl.simple("DURATION")), idl.simple("DURATION")) == span
    assert idl.decode_one(idl.encode_one(None, idl.simple("NONE")), idl.simple("NONE")) is None


def test_datetimes_in_other_zones_are_decoded_as_utc(idl: Idl) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    back = idl.decode_one(idl.encode_one(dt.datetime(2024, 5, 1, 14, 0, tzinfo=paris)))
    assert back == dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert back.tzinfo is UTC


def test_sub_microsecond_parts_are_dropped(idl: Idl) -> None:
    timestamp = idl.primitive(datetime={"seconds": 0, "nanos": 1999})
    assert idl.decode_one(timestamp) == dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    duration = idl.primitive(duration={"seconds": -1, "nanos": -1999})
    assert idl.decode_one(duration) == -dt.timedelta(seconds=1, microseconds=1)


def test_structs_round_trip_with_nested_values(idl: Idl) -> None:
    value = {"name": "job", "retries": 3, "ratio": 0.5, "on": True, "tags": ["a", 1, None], "deep": {"x": {}}}
    literal = idl.encode_one(value, idl.simple("STRUCT"))
    assert literal.scalar.WhichOneof("value") == "generic"
    assert literal.scalar.generic["retries"] == 3.0
    back = idl.decode_one(literal, idl.simple("STRUCT"))
    assert back == value
    # A JSON number has no int/float distinction; whole numbers come back as int, like a JSON parser's.
    assert type(back["retries"]) is int
    assert type(back["ratio"]) is float
    assert type(back["tags"][1]) is int


def test_struct_numbers_beyond_2_53_stay_floats(idl: Idl) -> None:
    struct = struct_pb2.Struct()
    struct["big"] = 2.0**60
    assert type(idl.decode_one(idl.scalar(generic=struct))["big"]) is float


def test_nested_lists_and_maps_of_structs(idl: Idl) -> None:
    declared = idl.list_of(idl.map_of(idl.simple("STRUCT")))
    value = [{"first": {"a": [1, 2]}, "second": {}}, {}]
    literal = idl.encode_one(value, declared)
    first = literal.collection.literals[0].map.literals["first"]
    assert first.scalar.generic["a"][1] == 2.0
    assert idl.decode_one(literal, declared) == value
    assert idl.decode_one(literal) == value


def test_declared_list_of_floats_widens_each_item(idl: Idl) -> None:
    literal = idl.encode_one([1, 2.5], idl.list_of(idl.simple("FLOAT")))
    assert [item.scalar.primitive.float_value for item in literal.collection.literals] == [1.0, 2.5]
    assert [item.scalar.primitive.WhichOneof("value") for item in literal.collection.literals] == [
        "float_value",
        "float_value",
    ]


def test_blobs_and_datasets(idl: Idl) -> None:
    csv = idl.blob("csv")
    literal = idl.encode_one("s3://b/f.csv", csv)
    assert literal.scalar.blob.uri == "s3://b/f.csv"
    assert literal.scalar.blob.metadata.type.format == "csv"
    assert idl.decode_one(literal, csv) == BlobRef("s3://b/f.csv", "csv", "single")
    folder = idl.blob(multipart=True)
    literal = idl.encode_one(BlobRef("s3://b/dir", "npy", "multipart"), folder)
    assert literal.scalar.blob.metadata.type.format == "npy"
    assert idl.decode_one(literal) == BlobRef("s3://b/dir", "npy", "multipart")
    table = idl.types.LiteralType(
        structured_dataset_type=idl.types.StructuredDatasetType(
            format="parquet",
            columns=[
                idl.types.StructuredDatasetType.DatasetColumn(name="a", literal_type=idl.simple("INTEGER"))
            ],
        )
    )
    literal = idl.encode_one(StructuredDatasetRef("s3://b/t"), table)
    metadata_type = literal.scalar.structured_dataset.metadata.structured_dataset_type
    assert metadata_type.format == "parquet"
    assert [column.name for column in metadata_type.columns] == ["a"]
    assert idl.decode_one(literal, table) == StructuredDatasetRef("s3://b/t", "parquet")
    assert idl.decode_one(idl.encode_one("s3://b/u", idl.dataset())) == StructuredDatasetRef("s3://b/u", "")


def test_enum_values_travel_as_strings(idl: Idl) -> None:
    colour = idl.enum("red", "green")
    literal = idl.encode_one("red", colour)
    assert literal == idl.primitive(string_value="red")
    assert idl.decode_one(literal, colour) == "red"


def test_union_sets_the_chosen_variant_type_and_tag(idl: Idl) -> None:
    declared = idl.union(idl.simple("INTEGER", "int"), idl.simple("STRING", "str"))
    literal = idl.encode_one("abc", declared)
    union = literal.scalar.union
    assert union.value == idl.primitive(string_value="abc")
    assert union.type == idl.simple("STRING", "str")
    assert idl.decode_one(literal, declared) == "abc"
    assert idl.decode_one(literal) == "abc"


def test_union_prefers_an_exact_fit_over_a_widening(idl: Idl) -> None:
    declared = idl.union(idl.simple("FLOAT", "float"), idl.simple("INTEGER", "int"))
    assert idl.encode_one(3, declared).scalar.union.type.structure.tag == "int"
    assert idl.encode_one(3.0, declared).scalar.union.type.structure.tag == "float"
    with_blob = idl.union(idl.blob(), idl.simple("STRING", "str"))
    assert idl.encode_one("s3://x", with_blob).scalar.union.type.structure.tag == "str"
    only_float = idl.union(idl.simple("FLOAT", "float"), idl.simple("NONE", "none"))
    literal = idl.encode_one(3, only_float)
    assert literal.scalar.union.value == idl.primitive(float_value=3.0)


def test_optional_values(idl: Idl) -> None:
    optional = idl.union(idl.simple("INTEGER", "int"), idl.simple("NONE", "none"))
    literal = idl.encode_one(None, optional)
    assert literal.scalar.union.type.structure.tag == "none"
    assert idl.decode_one(literal, optional) is None
    assert idl.decode_one(idl.encode_one(4, optional), optional) == 4


def test_union_of_containers(idl: Idl) -> None:
    declared = idl.union(idl.list_of(idl.simple("INTEGER")), idl.map_of(idl.simple("STRING")))
    literal = idl.encode_one({"k": "v"}, declared)
    assert literal.scalar.union.type == idl.map_of(idl.simple("STRING"))
    assert idl.decode_one(literal, declared) == {"k": "v"}
    # A bare (untagged) value for a declared union is matched against the variants.
    assert idl.decode_one(idl.encode_one([1, 2]), declared) == [1, 2]


def test_bare_literal_for_a_declared_union_picks_the_exact_variant(idl: Idl) -> None:
    declared = idl.union(idl.simple("FLOAT"), idl.simple("INTEGER"))
    value = idl.decode_one(idl.primitive(integer=2), declared)
    assert type(value) is int


def test_literal_messages_pass_through(idl: Idl) -> None:
    prebuilt = idl.primitive(string_value="as is")
    assert idl.encode_one(prebuilt, idl.simple("INTEGER")) == prebuilt


def test_undeclared_inputs_are_decoded_and_missing_declared_ones_are_not_required(idl: Idl) -> None:
    literal_map = idl.literal_map(a=idl.primitive(integer=1))
    assert idl.codec.to_python(literal_map, {"b": idl.simple("STRING")}) == {"a": 1}


def test_plain_mapping_of_literals_is_accepted(idl: Idl) -> None:
    assert idl.codec.to_python({"a": idl.primitive(boolean=True)}, None) == {"a": True}


def test_empty_literal_type_means_undeclared(idl: Idl) -> None:
    assert idl.decode_one(idl.primitive(integer=1), idl.types.LiteralType()) == 1
    assert idl.encode_one(1.5, idl.types.LiteralType()) == idl.primitive(float_value=1.5)


# -- errors --------------------------------------------------------------------------------------


def _encode_error(idl: Idl, value: Any, declared: Any = None) -> str:
    with pytest.raises(LiteralConversionError) as info:
        idl.encode_one(value, declared)
    assert info.value.name == "x"
    assert info.value.kind == "output"
    return str(info.value)


def _decode_error(idl: Idl, literal: Any, declared: Any = None) -> str:
    with pytest.raises(LiteralConversionError) as info:
        idl.decode_one(literal, declared)
    assert info.value.name == "x"
    assert info.value.kind == "input"
    return str(info.value)


ENCODE_ERRORS = [
    ("STRING", 5, "output 'x': expected string (declared in the task interface), got a Python int"),
    ("INTEGER", 5.0, "output 'x': expected integer (declared in the task interface), got a Python float"),
    ("INTEGER", True, "output 'x': expected integer (declared in the task interface), got a Python bool"),
    ("FLOAT", True, "output 'x': expected float (declared in the task interface), got a Python bool"),
    ("FLOAT", "1.5", "output 'x': expected float (declared in the task interface), got a Python str"),
    ("BOOLEAN", 1, "output 'x': expected boolean (declared in the task interface), got a Python int"),
    ("NONE", 0, "output 'x': expected none (declared in the task interface), got a Python int"),
    (
        "DATETIME",
        "2024-01-01",
        "output 'x': expected datetime (declared in the task interface), got a Python str",
    ),
    ("DURATION", 3, "output 'x': expected duration (declared in the task interface), got a Python int"),
    ("STRUCT", [1], "output 'x': expected struct (declared in the task interface), got a Python list"),
    ("BINARY", b"x", "output 'x': binary values are not supported by the connector service"),
    ("ERROR", "x", "output 'x': error values are not supported by the connector service"),
]


@pytest.mark.parametrize(("declared", "value", "message"), ENCODE_ERRORS)
def test_values_that_do_not_fit_the_declared_type(idl: Idl, declared: str, value: Any, message: str) -> None:
    assert _encode_error(idl, value, idl.simple(declared)) == message


def test_encoding_errors_of_containers_name_the_path(idl: Idl) -> None:
    declared = idl.map_of(idl.list_of(idl.simple("INTEGER")))
    assert _encode_error(idl, {"a": [1], "b": [2, "3"]}, declared) == (
        "output 'x': expected integer (declared in the task interface), got a Python str (at ['b'][1])"
    )
    assert _encode_error(idl, "abc", idl.list_of(idl.simple("STRING"))) == (
        "output 'x': expected list of string (declared in the task interface), got a Python str"
    )
    assert _encode_error(idl, [1], idl.map_of(idl.simple("INTEGER"))) == (
        "output 'x': expected map of integer (declared in the task interface), got a Python list"
    )
    assert _encode_error(idl, {1: 2}) == "output 'x': map keys must be strings, not a Python int"
    assert _encode_error(idl, {"k": {2: 2}}, idl.simple("STRUCT")) == (
        "output 'x': struct keys must be strings, not a Python int (at ['k'])"
    )


def test_struct_values_must_be_json_like(idl: Idl) -> None:
    assert _encode_error(idl, {"a": [dt.timedelta(1)]}, idl.simple("STRUCT")) == (
        "output 'x': a struct holds JSON-like values (None, bool, int, float, str, list, dict), "
        "not a Python timedelta (at ['a'][0])"
    )
    assert _encode_error(idl, {"a": 2**53 + 1}, idl.simple("STRUCT")) == (
        "output 'x': the integer is too large for a struct number (a double; at most 2**53) (at ['a'])"
    )


def test_uninferable_python_values(idl: Idl) -> None:
    expected = (
        "output 'x': no Flyte type for a Python {} (the task interface does not declare it); return one of "
        "int, float, str, bool, datetime, timedelta, None, list, dict, BlobRef or StructuredDatasetRef"
    )
    assert _encode_error(idl, b"raw") == expected.format("bytes")
    assert _encode_error(idl, dt.date(2024, 1, 1)) == expected.format("date")
    assert _encode_error(idl, {1, 2}) == expected.format("set")


def test_integers_must_fit_64_bits(idl: Idl) -> None:
    assert _encode_error(idl, 2**63) == "output 'x': the integer does not fit in 64 bits"
    assert (
        _encode_error(idl, -(2**63) - 1, idl.simple("INTEGER"))
        == "output 'x': the integer does not fit in 64 bits"
    )
    assert (
        _encode_error(idl, 10**400, idl.simple("FLOAT")) == "output 'x': the integer is too large for a float"
    )


def test_naive_datetimes_are_refused(idl: Idl) -> None:
    assert _encode_error(idl, dt.datetime(2024, 1, 1)) == (
        "output 'x': the datetime is naive (no tzinfo); attach a time zone, e.g. tzinfo=datetime.timezone.utc"
    )


def test_durations_beyond_ten_thousand_years(idl: Idl) -> None:
    assert _encode_error(idl, dt.timedelta(days=999_999_999)) == (
        "output 'x': the timedelta is longer than a duration can hold (10000 years)"
    )


def test_union_without_a_fitting_variant(idl: Idl) -> None:
    declared = idl.union(idl.simple("INTEGER", "int"), idl.list_of(idl.simple("STRING")))
    assert _encode_error(idl, 1.5, declared) == (
        "output 'x': expected union of integer | list of string (declared in the task interface), "
        "got a Python float"
    )
    assert _decode_error(idl, idl.primitive(boolean=True), declared) == (
        "input 'x': expected union of integer | list of string (declared in the task interface), "
        "got a boolean literal"
    )


def test_enum_errors(idl: Idl) -> None:
    colour = idl.enum("red", "green")
    message = "expected enum of 'red', 'green' (declared in the task interface), got "
    assert (
        _encode_error(idl, "blue", colour)
        == f"output 'x': {message}a string that is not one of the enum's values"
    )
    assert _encode_error(idl, 1, colour) == f"output 'x': {message}a Python int"
    assert _decode_error(idl, idl.primitive(string_value="blue"), colour) == (
        f"input 'x': {message}a string that is not one of the enum's values"
    )


def test_blob_errors(idl: Idl) -> None:
    assert _encode_error(idl, BlobRef("s3://x", "json"), idl.blob("csv")) == (
        "output 'x': expected blob (declared in the task interface), got a BlobRef of format 'json'"
    )
    assert _encode_error(idl, BlobRef("s3://x"), idl.blob(multipart=True)) == (
        "output 'x': expected blob (declared in the task interface), got a single BlobRef"
    )
    assert _encode_error(idl, StructuredDatasetRef("s3://x"), idl.blob()) == (
        "output 'x': expected blob (declared in the task interface), got a Python StructuredDatasetRef"
    )
    assert _encode_error(idl, StructuredDatasetRef("s3://x", "csv"), idl.dataset("parquet")) == (
        "output 'x': expected structured_dataset (declared in the task interface), "
        "got a StructuredDatasetRef of format 'csv'"
    )
    assert _encode_error(idl, 3, idl.dataset()) == (
        "output 'x': expected structured_dataset (declared in the task interface), got a Python int"
    )


def test_schema_types_are_not_supported(idl: Idl) -> None:
    schema = idl.types.LiteralType(schema=idl.types.SchemaType())
    assert (
        _encode_error(idl, "s3://x", schema)
        == "output 'x': schema values are not supported by the connector service"
    )


DECODE_MISMATCHES = [
    ("STRING", {"integer": 1}, "an integer literal"),
    ("INTEGER", {"float_value": 1.0}, "a float literal"),
    ("INTEGER", {"string_value": "1"}, "a string literal"),
    ("STRING", {"boolean": True}, "a boolean literal"),
    ("DURATION", {"datetime": {"seconds": 1}}, "a datetime literal"),
    ("DATETIME", {"duration": {"seconds": 1}}, "a duration literal"),
]


@pytest.mark.parametrize(("declared", "primitive", "got"), DECODE_MISMATCHES)
def test_literals_that_do_not_match_the_declared_type(
    idl: Idl, declared: str, primitive: dict[str, Any], got: str
) -> None:
    message = _decode_error(idl, idl.primitive(**primitive), idl.simple(declared))
    assert message == f"input 'x': expected {declared.lower()} (declared in the task interface), got {got}"


def test_container_and_scalar_kind_mismatches(idl: Idl) -> None:
    as_list = idl.encode_one([1])
    as_map = idl.encode_one({"a": 1})
    prefix = "input 'x': expected "
    assert _decode_error(idl, as_list, idl.simple("INTEGER")) == (
        f"{prefix}integer (declared in the task interface), got a list literal"
    )
    assert _decode_error(idl, as_map, idl.list_of(idl.simple("INTEGER"))) == (
        f"{prefix}list of integer (declared in the task interface), got a map literal"
    )
    assert _decode_error(idl, idl.encode_one(None), idl.simple("STRING")) == (
        f"{prefix}string (declared in the task interface), got a none literal"
    )
    assert _decode_error(
        idl, idl.encode_one({"a": 1}, idl.simple("STRUCT")), idl.map_of(idl.simple("INTEGER"))
    ) == (f"{prefix}map of integer (declared in the task interface), got a struct literal")
    assert _decode_error(idl, idl.encode_one(BlobRef("s3://x")), idl.dataset()) == (
        f"{prefix}structured_dataset (declared in the task interface), got a blob literal"
    )
    assert _decode_error(idl, idl.encode_one(StructuredDatasetRef("s3://x")), idl.blob()) == (
        f"{prefix}blob (declared in the task interface), got a structured dataset literal"
    )
    nested = idl.encode_one({"a": [1, "two"]})
    assert _decode_error(idl, nested, idl.map_of(idl.list_of(idl.simple("INTEGER")))) == (
        f"{prefix}integer (declared in the task interface), got a string literal (at ['a'][1])"
    )


def test_offloaded_literals_are_refused(idl: Idl) -> None:
    literal = idl.lit.Literal(
        offloaded_metadata=idl.lit.LiteralOffloadedMetadata(uri="s3://big", size_bytes=9)
    )
    assert _decode_error(idl, literal) == (
        "input 'x': the literal is offloaded to blob storage, which the connector service does not read; "
        "send it inline (raise the engine's literal offloading threshold)"
    )


@pytest.mark.parametrize("kind", ["binary", "schema", "error"])
def test_unsupported_scalar_kinds(idl: Idl, kind: str) -> None:
    messages = {
        "binary": idl.lit.Binary(value=b"\x80", tag="pickle"),
        "schema": idl.lit.Schema(uri="s3://s"),
        "error": idl.types.Error(message="failed upstream"),
    }
    assert _decode_error(idl, idl.scalar(**{kind: messages[kind]})) == (
        f"input 'x': {kind} literals are not supported by the connector service "
        "(supported: primitives, none, struct, blob, structured dataset, union, list, map)"
    )


def test_empty_messages(idl: Idl) -> None:
    assert (
        _decode_error(idl, idl.lit.Literal())
        == "input 'x': the literal is empty (no scalar, list or map is set)"
    )
    assert _decode_error(idl, idl.scalar()) == "input 'x': the scalar literal is empty (no value is set)"
    assert (
        _decode_error(idl, idl.primitive()) == "input 'x': the primitive literal is empty (no value is set)"
    )
    struct = struct_pb2.Struct()
    struct.fields["k"].Clear()
    struct.fields["k"].SetInParent()
    assert _decode_error(idl, idl.scalar(generic=struct)) == (
        "input 'x': a struct value is empty (no kind is set) (at ['k'])"
    )


def test_out_of_range_timestamps_and_durations(idl: Idl) -> None:
    assert _decode_error(idl, idl.primitive(datetime={"seconds": 2**40})) == (
        "input 'x': the datetime is outside the range of a timestamp (years 1 to 9999)"
    )
    assert _decode_error(idl, idl.primitive(datetime={"seconds": 0, "nanos": -1})) == (
        "input 'x': the datetime is outside the range of a timestamp (years 1 to 9999)"
    )
    assert _decode_error(idl, idl.primitive(duration={"seconds": -(2**62)})) == (
        "input 'x': the duration is outside the range of a duration (10000 years)"
    )


def test_unknown_blob_dimensionality(idl: Idl) -> None:
    literal = idl.encode_one(BlobRef("s3://x"))
    literal.scalar.blob.metadata.type.dimensionality = 7
    assert _decode_error(idl, literal) == "input 'x': the blob has an unknown dimensionality (7)"


def test_values_nested_too_deeply(idl: Idl) -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert (
        _encode_error(idl, loop) == "output 'x': nested deeper than 100 levels (at [0][0][0][0]...[0][0][0])"
    )
    struct_loop: dict[str, Any] = {}
    struct_loop["a"] = struct_loop
    assert _encode_error(idl, struct_loop, idl.simple("STRUCT")) == (
        "output 'x': nested deeper than 100 levels (at ['a']['a']['a']['a']...['a']['a']['a'])"
    )
    literal = idl.lit.Literal()
    innermost = literal
    for _ in range(150):
        innermost = innermost.collection.literals.add()
    innermost.scalar.primitive.integer = 1
    assert (
        _decode_error(idl, literal)
        == "input 'x': nested deeper than 100 levels (at [0][0][0][0]...[0][0][0])"
    )


def test_messages_stay_short_whatever_the_request_holds(idl: Idl) -> None:
    key = "k" * 5000
    message = _decode_error(idl, idl.encode_one({key: "v"}), idl.map_of(idl.simple("INTEGER")))
    assert message == (
        "input 'x': expected integer (declared in the task interface), got a string literal "
        f"(at ['{'k' * 36}...])"
    )
    declared = idl.enum(*(f"value{i}" for i in range(500)))
    message = _encode_error(idl, 1, declared)
    assert len(message) < 450
    assert message.endswith("... (declared in the task interface), got a Python int")


def test_non_string_names(idl: Idl) -> None:
    with pytest.raises(LiteralConversionError) as info:
        idl.codec.to_literal_map({1: 1}, None)  # type: ignore[dict-item]
    assert str(info.value) == "input '1': names must be strings, not a Python int"


def test_error_type() -> None:
    error = LiteralConversionError("rows", "expected integer")
    assert isinstance(error, ValueError)
    assert isinstance(error, connector.ConnectorError)
    assert (error.name, error.kind, error.reason) == ("rows", "input", "expected integer")
    assert str(error) == "input 'rows': expected integer"


# -- flyteidl2 named literals and interfaces -------------------------------------------------


def test_flyteidl2_inputs_and_outputs_with_named_literals() -> None:
    from flyteidl2.task import common_pb2

    idl = _idl("v2")
    inputs = common_pb2.Inputs(
        literals=[
            common_pb2.NamedLiteral(name="n", value=idl.primitive(integer=2)),
            common_pb2.NamedLiteral(name="s", value=idl.primitive(string_value="x")),
        ]
    )
    assert idl.codec.to_python(inputs, {"n": idl.simple("FLOAT")}) == {"n": 2.0, "s": "x"}
    outputs = idl.codec.encode_into(common_pb2.Outputs(), {"r": 1, "t": "y"}, {"r": idl.simple("FLOAT")})
    assert [(entry.name, entry.value) for entry in outputs.literals] == [
        ("r", idl.primitive(float_value=1.0)),
        ("t", idl.primitive(string_value="y")),
    ]
    assert idl.codec.to_python(outputs, None) == {"r": 1.0, "t": "y"}
    one = idl.primitive(integer=1)
    twice = common_pb2.Inputs(
        literals=[common_pb2.NamedLiteral(name="n", value=one), common_pb2.NamedLiteral(name="n", value=one)]
    )
    with pytest.raises(LiteralConversionError) as info:
        idl.codec.to_python(twice, None)
    assert str(info.value) == "input 'n': given more than once"


def test_encode_into_a_literal_map(idl: Idl) -> None:
    literal_map = idl.codec.encode_into(idl.lit.LiteralMap(), {"a": 1}, None)
    assert literal_map.literals["a"] == idl.primitive(integer=1)


def test_variables_and_task_interface(idl: Idl) -> None:
    types = {"n": idl.simple("INTEGER"), "tags": idl.list_of(idl.simple("STRING")), "t": idl.dataset()}
    outputs = {"o": idl.union(idl.simple("FLOAT"), idl.simple("NONE"))}
    variable = idl.interface.Variable
    if idl.name == "v1":
        inputs_map = idl.interface.VariableMap(variables={k: variable(type=t) for k, t in types.items()})
        outputs_map = idl.interface.VariableMap(variables={k: variable(type=t) for k, t in outputs.items()})
    else:
        entry = idl.interface.VariableEntry
        inputs_map = idl.interface.VariableMap(
            variables=[entry(key=k, value=variable(type=t)) for k, t in types.items()]
        )
        outputs_map = idl.interface.VariableMap(
            variables=[entry(key=k, value=variable(type=t)) for k, t in outputs.items()]
        )
    assert idl.codec.variables(inputs_map) == types
    typed = idl.interface.TypedInterface(inputs=inputs_map, outputs=outputs_map)
    assert idl.codec.task_interface(typed) == connector.TaskInterface(
        inputs={"n": "integer", "tags": "list", "t": "structured_dataset"}, outputs={"o": "union"}
    )


def test_describe_every_kind(idl: Idl) -> None:
    describe = idl.codec.describe
    simple = {
        "NONE": "none",
        "INTEGER": "integer",
        "FLOAT": "float",
        "STRING": "string",
        "BOOLEAN": "boolean",
        "DATETIME": "datetime",
        "DURATION": "duration",
        "STRUCT": "struct",
        "BINARY": "unknown",
        "ERROR": "unknown",
    }
    assert {name: describe(idl.simple(name)) for name in simple} == simple
    assert describe(idl.blob()) == "blob"
    assert describe(idl.dataset()) == "structured_dataset"
    assert describe(idl.list_of(idl.simple("INTEGER"))) == "list"
    assert describe(idl.map_of(idl.simple("INTEGER"))) == "map"
    assert describe(idl.union(idl.simple("INTEGER"))) == "union"
    assert describe(idl.enum("a")) == "string"
    assert describe(idl.types.LiteralType(schema=idl.types.SchemaType())) == "unknown"
    assert describe(idl.types.LiteralType()) == "unknown"
    assert describe(idl.types.LiteralType(simple=42)) == "unknown"
    assert describe(None) == "unknown"


def test_codecs_are_cached_and_bound_to_their_idl() -> None:
    assert v1_codec() is v1_codec()
    assert v2_codec() is v2_codec()
    v1, v2 = _idl("v1"), _idl("v2")
    # A message of the other IDL is not a literal of this one: it is refused, not copied.
    with pytest.raises(LiteralConversionError, match="no Flyte type for a Python Literal"):
        v2.encode_one(v1.primitive(integer=1))


def test_refs_validate_their_fields() -> None:
    with pytest.raises(
        ValueError, match=r"BlobRef\.dimensionality must be 'single' or 'multipart', not 'many'"
    ):
        BlobRef("s3://x", "", "many")
    with pytest.raises(TypeError, match=r"BlobRef\.uri must be a str, not int"):
        BlobRef(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"StructuredDatasetRef\.uri must be a str, not NoneType"):
        StructuredDatasetRef(None)  # type: ignore[arg-type]


# -- msgpack: how flytekit 1.14+ writes a dict (issue 10) ---------------------------------------


def _msgpack_struct(idl: Idl) -> Any:
    literal_type = idl.simple("STRUCT")
    literal_type.annotation.annotations.update({"cache-key-metadata": {"serialization-format": "msgpack"}})
    return literal_type


def test_a_struct_annotated_msgpack_is_written_as_msgpack_bytes(idl: Idl) -> None:
    value = {"status_code": 200, "response_data": "ok", "input_data": {"n": [1, 2.5, None, True]}}
    literal = idl.encode_one(value, _msgpack_struct(idl))
    assert literal.scalar.binary.tag == "msgpack"
    assert literal.scalar.binary.value == msgpack.packb(value)
    back = idl.decode_one(literal, _msgpack_struct(idl))
    assert back == value
    assert type(back["status_code"]) is int  # a generic struct would make it 200.0


def test_a_plain_struct_is_still_a_generic_struct(idl: Idl) -> None:
    assert idl.encode_one({"a": 1}, idl.simple("STRUCT")).scalar.WhichOneof("value") == "generic"


def test_msgpack_literals_decode_when_undeclared_or_declared_struct(idl: Idl) -> None:
    literal = idl.scalar(binary=idl.lit.Binary(value=msgpack.packb({"a": [1, "b"]}), tag="msgpack"))
    assert idl.decode_one(literal) == {"a": [1, "b"]}
    assert idl.decode_one(literal, idl.simple("STRUCT")) == {"a": [1, "b"]}
    assert _decode_error(idl, literal, idl.simple("STRING")) == (
        "input 'x': expected string (declared in the task interface), got a msgpack binary literal"
    )


def test_msgpack_errors(idl: Idl) -> None:
    def binary(data: bytes) -> Any:
        return idl.scalar(binary=idl.lit.Binary(value=data, tag="msgpack"))

    assert _decode_error(idl, binary(b"\xc1")).startswith("input 'x': the msgpack bytes do not decode: ")
    assert _decode_error(idl, binary(msgpack.packb(1) + b"\x01")).startswith(
        "input 'x': the msgpack bytes do not decode: "
    )
    assert _decode_error(idl, binary(msgpack.packb(msgpack.ExtType(5, b"x")))) == (
        "input 'x': msgpack extension type 5 is not supported"
    )
    assert _encode_error(idl, {"at": dt.datetime(2024, 1, 1, tzinfo=UTC)}, _msgpack_struct(idl)) == (
        "output 'x': the value cannot be written as msgpack: can not serialize 'datetime.datetime' object"
    )


def test_msgpack_values_keep_the_codecs_limits(idl: Idl) -> None:
    def binary(value: Any) -> Any:
        return idl.scalar(binary=idl.lit.Binary(value=msgpack.packb(value), tag="msgpack"))

    deep: Any = "leaf"
    for _ in range(150):
        deep = [deep]
    assert _decode_error(idl, binary(deep)) == "input 'x': the msgpack value is nested deeper than 100 levels"
    assert _decode_error(idl, binary({"a": {1: "x"}})) == (
        "input 'x': the msgpack map has a key that is not a string: int"
    )
    assert _decode_error(idl, binary([1, 2]), _msgpack_struct(idl)) == (
        "input 'x': expected struct (declared in the task interface), got msgpack of a Python list"
    )
