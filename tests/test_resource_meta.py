"""ResourceMeta: versioned JSON round trips, tolerance of unknown keys, and every way decoding can fail."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import pathlib
import pickle
import sys
import zoneinfo
from typing import Any, ClassVar, Literal, Optional, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st

import connector
from connector import ConnectorError, ResourceMeta, ResourceMetaError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Inner:
    name: str
    at: dt.datetime | None = None


@dataclasses.dataclass
class Simple(ResourceMeta):
    job_id: str


@dataclasses.dataclass
class WithDefaults(ResourceMeta):
    job_id: str
    attempts: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Everything(ResourceMeta):
    job_id: str
    count: int
    ratio: float
    done: bool
    blob: bytes
    created: dt.datetime
    day: dt.date
    clock: dt.time
    timeout: dt.timedelta
    color: Color
    level: Level
    inner: Inner
    inners: list[Inner]
    maybe: int | None
    either: int | str
    pair: tuple[int, str]
    many: tuple[int, ...]
    tags: set[str]
    frozen: frozenset[int]
    labels: dict[str, int]
    anything: Any
    mode: Literal["fast", "slow"]
    old_optional: Optional[str]  # noqa: UP045 - the typing spelling must work too
    old_union: Union[int, list[int]]  # noqa: UP007


def everything(**changes: Any) -> Everything:
    meta = Everything(
        job_id="job-1",
        count=2**70,
        ratio=0.25,
        done=True,
        blob=b"\x00\xffbytes",
        created=dt.datetime(
            2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
        ),
        day=dt.date(2024, 2, 29),
        clock=dt.time(23, 59, 58, 1, tzinfo=dt.timezone.utc),
        timeout=dt.timedelta(days=-3, seconds=5, microseconds=7),
        color=Color.BLUE,
        level=Level.HIGH,
        inner=Inner("a", dt.datetime(2020, 1, 1)),
        inners=[Inner("b"), Inner("c", dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc))],
        maybe=None,
        either="text",
        pair=(1, "one"),
        many=(1, 2, 3),
        tags={"x", "y"},
        frozen=frozenset({3, 1}),
        labels={"a": 1, "b": 2},
        anything={"free": ["form", 1, None]},
        mode="slow",
        old_optional="set",
        old_union=[1, 2],
    )
    return dataclasses.replace(meta, **changes)


def document(data: dict[str, Any], version: Any = 1) -> bytes:
    return json.dumps({"v": version, "data": data}).encode()


# Round trips.


def test_every_supported_type_round_trips() -> None:
    meta = everything()
    decoded = Everything.decode(meta.encode())
    assert decoded == meta
    assert type(decoded) is Everything
    assert type(decoded.inner) is Inner
    assert type(decoded.pair) is tuple
    assert type(decoded.tags) is set
    assert type(decoded.frozen) is frozenset
    assert decoded.color is Color.BLUE
    assert decoded.level is Level.HIGH


def test_a_zoneinfo_comes_back_as_its_offset_at_that_time() -> None:
    zone = zoneinfo.ZoneInfo("Europe/Paris")
    meta = everything(created=dt.datetime(2024, 7, 1, 12, 0, tzinfo=zone))
    decoded = Everything.decode(meta.encode())
    assert decoded.created == meta.created  # the same instant
    assert decoded.created.tzinfo == dt.timezone(dt.timedelta(hours=2))


def test_datetimes_keep_their_time_zone_or_stay_naive() -> None:
    meta = everything()
    decoded = Everything.decode(meta.encode())
    assert decoded.created.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert decoded.clock.tzinfo == dt.timezone.utc
    assert decoded.inner.at is not None
    assert decoded.inner.at.tzinfo is None


def test_the_encoding_is_compact_sorted_versioned_json() -> None:
    assert Simple("j-1").encode() == b'{"data":{"job_id":"j-1"},"v":1}'
    encoded = json.loads(everything().encode())
    assert encoded["v"] == 1
    data = encoded["data"]
    assert data["blob"] == "AP9ieXRlcw=="  # base64
    assert data["created"] == "2024-05-06T07:08:09.123456+05:30"  # ISO 8601
    assert data["timeout"] == -3 * 86400 * 10**6 + 5 * 10**6 + 7  # whole microseconds
    assert data["color"] == "blue"
    assert data["level"] == 2
    assert data["tags"] == ["x", "y"]  # sets are written sorted, so equal metas give equal bytes
    assert data["frozen"] == [1, 3]


def test_equal_metas_encode_to_equal_bytes() -> None:
    first = everything(tags={"b", "a", "c"}, labels={"z": 1, "a": 2})
    second = everything(tags={"c", "a", "b"}, labels={"a": 2, "z": 1})
    assert first.encode() == second.encode()


def test_a_huge_timedelta_keeps_its_microseconds() -> None:
    # total_seconds() as a float would lose the microsecond here.
    meta = everything(timeout=dt.timedelta(days=999_999_999, hours=23, microseconds=1))
    assert Everything.decode(meta.encode()).timeout == meta.timeout


def test_bytearray_and_memoryview_are_accepted() -> None:
    data = Simple("j").encode()
    assert Simple.decode(bytearray(data)) == Simple("j")
    assert Simple.decode(memoryview(data)) == Simple("j")


def test_missing_fields_with_defaults_take_them() -> None:
    assert WithDefaults.decode(document({"job_id": "j"})) == WithDefaults("j", 0, [])


def test_unknown_keys_are_ignored_at_every_level() -> None:
    # A newer connector version may add fields; an older reader must still decode its meta.
    meta = everything()
    data = json.loads(meta.encode())
    data["data"]["added_later"] = {"x": 1}
    data["data"]["inner"]["also_new"] = [1, 2]
    data["extra_top_level"] = True
    assert Everything.decode(json.dumps(data).encode()) == meta


def test_class_variables_and_init_false_fields_are_not_read() -> None:
    decoded = WithState.decode(document({"job_id": "j", "cached": "ignored"}))
    assert decoded == WithState("j")
    assert decoded.cached == ""


@dataclasses.dataclass
class WithState(ResourceMeta):
    limit: ClassVar[int] = 3
    job_id: str
    cached: str = dataclasses.field(default="", init=False)


@given(
    job_id=st.text(),
    count=st.integers(),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    blob=st.binary(),
    created=st.datetimes(timezones=st.none() | st.timezones()),
    timeout=st.timedeltas(),
    tags=st.sets(st.text(max_size=5), max_size=5),
    labels=st.dictionaries(st.text(max_size=5), st.integers(), max_size=5),
)
def test_round_trips_hold_for_any_value(
    job_id: str,
    count: int,
    ratio: float,
    blob: bytes,
    created: dt.datetime,
    timeout: dt.timedelta,
    tags: set[str],
    labels: dict[str, int],
) -> None:
    meta = Generated(job_id, count, ratio, blob, created, timeout, tags, labels)
    decoded = Generated.decode(meta.encode())
    # A time zone comes back as its fixed UTC offset: the same wall time and offset, so the same
    # instant. (== between zones is False by design for a time in a DST gap or fold, PEP 495.)
    assert (decoded.created.replace(tzinfo=None), decoded.created.utcoffset()) == (
        created.replace(tzinfo=None),
        created.utcoffset(),
    )
    assert dataclasses.replace(decoded, created=created) == meta


@dataclasses.dataclass
class Generated(ResourceMeta):
    job_id: str
    count: int
    ratio: float
    blob: bytes
    created: dt.datetime
    timeout: dt.timedelta
    tags: set[str]
    labels: dict[str, int]


# Decoding failures: each one is a ResourceMetaError that says what is wrong.


def decode_error(cls: type[ResourceMeta], data: Any) -> str:
    with pytest.raises(ResourceMetaError) as info:
        cls.decode(data)
    return str(info.value)


def test_resource_meta_error_is_a_value_error_and_a_connector_error() -> None:
    assert issubclass(ResourceMetaError, ValueError)
    assert issubclass(ResourceMetaError, ConnectorError)


def test_not_bytes() -> None:
    assert decode_error(Simple, '{"v":1}') == "cannot decode Simple: expected bytes, got str"
    assert decode_error(Simple, None) == "cannot decode Simple: expected bytes, got NoneType"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "cannot decode Simple: not a JSON resource meta (Expecting value: line 1 column 1 (char 0))"),
        (
            b"job-123",
            "cannot decode Simple: not a JSON resource meta (Expecting value: line 1 column 1 (char 0))",
        ),
        (
            b'{"v": 1, "data": {',
            "cannot decode Simple: not a JSON resource meta "
            "(Expecting property name enclosed in double quotes: line 1 column 19 (char 18))",
        ),
    ],
)
def test_wrong_json(data: bytes, message: str) -> None:
    assert decode_error(Simple, data) == message


def test_bytes_that_are_not_utf8() -> None:
    assert decode_error(Simple, b'{"v":1,"data":{"job_id":"\xff"}}').startswith(
        "cannot decode Simple: not a JSON resource meta ('utf-8' codec can't decode byte 0xff"
    )


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    message = decode_error(Simple, b"[" * 50_000)
    assert message.startswith(
        "cannot decode Simple: not a JSON resource meta (maximum recursion depth exceeded"
    )


def test_a_pickle_is_refused() -> None:
    message = decode_error(Simple, pickle.dumps(Simple("j")))
    assert message.startswith("cannot decode Simple: not a JSON resource meta (")


@dataclasses.dataclass
class Measured(ResourceMeta):
    ratio: float = 0.0
    anything: Any = None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"v":1,"data":{"ratio":NaN}}', "NaN is not a JSON number"),
        (b'{"v":1,"data":{"ratio":Infinity}}', "Infinity is not a JSON number"),
        (b'{"v":1,"data":{"ratio":-Infinity}}', "-Infinity is not a JSON number"),
        # Past a float's range json.loads reads an infinity too.
        (b'{"v":1,"data":{"ratio":1e999}}', "the number 1e999 is out of a float's range"),
        (b'{"v":1,"data":{"ratio":-1E+400}}', "the number -1E+400 is out of a float's range"),
        (
            b'{"v":1,"data":{"ratio":%s.0}}' % (b"9" * 400),
            "the number 9999999999999999999999999999999999999... is out of a float's range",
        ),
        # Wherever it is: in an Any field, in a key decode ignores, in the envelope.
        (b'{"v":1,"data":{"anything":[1,{"x":NaN}]}}', "NaN is not a JSON number"),
        (b'{"v":1,"data":{"unknown":Infinity}}', "Infinity is not a JSON number"),
        (b'{"v":NaN,"data":{}}', "NaN is not a JSON number"),
    ],
)
def test_nan_and_infinities_are_refused_as_encode_refuses_them(data: bytes, reason: str) -> None:
    # Issue 9: json.loads reads NaN and Infinity, which encode (allow_nan=False) never writes.
    assert decode_error(Measured, data) == (
        f"cannot decode Measured: {reason}; encode never writes NaN or infinite numbers"
    )


def test_finite_floats_at_the_ends_of_the_range_still_decode() -> None:
    data = b'{"v":1,"data":{"ratio":-1.7976931348623157e308,"anything":[5e-324,1e-999,0.5]}}'
    assert Measured.decode(data) == Measured(-1.7976931348623157e308, [5e-324, 0.0, 0.5])
    meta = Measured(1.7976931348623157e308, {"x": -0.0})
    assert Measured.decode(meta.encode()) == meta


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b'"text"',
        b"1",
        b"null",
        b'{"data": {"job_id": "j"}}',
        b'{"v": 1}',
        b'{"version": 1, "data": {}}',
    ],
)
def test_json_that_is_not_a_meta_document(data: bytes) -> None:
    assert decode_error(Simple, data) == "cannot decode Simple: not a resource meta document"


@pytest.mark.parametrize("version", ["1", 0, -1, 1.0, True, None, [1]])
def test_bad_format_version(version: Any) -> None:
    assert decode_error(Simple, document({"job_id": "j"}, version)) == (
        f"cannot decode Simple: bad format version {version!r}"
    )


def test_a_newer_format_version_says_to_upgrade() -> None:
    assert decode_error(Simple, document({"job_id": "j"}, 2)) == (
        "cannot decode Simple: format version 2 is newer than this connector-core understands (1); "
        "upgrade connector-core"
    )


def test_data_that_is_not_an_object() -> None:
    assert decode_error(Simple, document([1, 2])) == (  # type: ignore[arg-type]
        "cannot decode Simple: the document: expected an object, got list"
    )


def test_a_missing_field_is_named_with_its_path() -> None:
    assert decode_error(Simple, document({})) == "cannot decode Simple: field 'job_id' is missing"
    data = json.loads(everything().encode())["data"]
    del data["inners"][1]["name"]
    assert (
        decode_error(Everything, document(data))
        == "cannot decode Everything: field 'inners[1].name' is missing"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("job_id", 5, "job_id: expected str, got int"),
        ("count", "5", "count: expected int, got str"),
        ("count", True, "count: expected int, got bool"),
        ("count", 1.5, "count: expected int, got float"),
        ("ratio", "0.5", "ratio: expected float, got str"),
        ("ratio", False, "ratio: expected float, got bool"),
        ("done", 1, "done: expected bool, got int"),
        ("blob", "not base64!", "blob: not base64 bytes"),
        ("blob", 5, "blob: expected bytes, got int"),
        ("created", "yesterday", "created: 'yesterday' is not an ISO datetime"),
        ("created", 1700000000, "created: expected datetime, got int"),
        ("day", "2024-13-01", "day: '2024-13-01' is not an ISO date"),
        ("clock", "25:00", "clock: '25:00' is not an ISO time"),
        ("timeout", 1.5, "timeout: expected timedelta, got float"),
        ("timeout", 10**30, f"timeout: {10**30} microseconds is out of a timedelta's range"),
        ("color", "green", "color: 'green' is not a Color"),
        ("level", 3, "level: 3 is not a Level"),
        ("inner", "a", "inner: expected an object, got str"),
        ("inner", {"name": 1}, "inner.name: expected str, got int"),
        ("inners", {"name": "a"}, "inners: expected a list, got dict"),
        ("inners", [{"name": "a"}, {"name": 2}], "inners[1].name: expected str, got int"),
        ("maybe", "x", "maybe: 'x' fits none of int | None"),
        ("either", [1], "either: [1] fits none of int | str"),
        ("pair", [1, "one", 2], "pair: expected 2 items, got 3"),
        ("pair", ["one", 1], "pair[0]: expected int, got str"),
        ("many", [1, "2"], "many[1]: expected int, got str"),
        ("tags", "x", "tags: expected a list, got str"),
        ("labels", {"a": "1"}, "labels['a']: expected int, got str"),
        ("labels", [1], "labels: expected an object, got list"),
        ("mode", "medium", "mode: 'medium' is not one of ('fast', 'slow')"),
        ("old_union", "x", "old_union: 'x' fits none of typing.Union[int, list[int]]"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_its_path(field: str, value: Any, message: str) -> None:
    data = json.loads(everything().encode())["data"]
    data[field] = value
    assert decode_error(Everything, document(data)) == f"cannot decode Everything: {message}"


@dataclasses.dataclass
class Checked(ResourceMeta):
    job_id: str

    def __post_init__(self) -> None:
        if not self.job_id.startswith("job-"):
            raise ValueError(f"job ids start with 'job-', not {self.job_id!r}")


def test_a_post_init_that_refuses_the_values_is_a_decode_error() -> None:
    assert Checked.decode(document({"job_id": "job-1"})) == Checked("job-1")
    with pytest.raises(ResourceMetaError) as info:
        Checked.decode(document({"job_id": "x"}))
    assert str(info.value) == (
        "cannot decode Checked: the document: Checked(...) raised ValueError: "
        "job ids start with 'job-', not 'x'"
    )
    assert isinstance(info.value.__cause__, ValueError)


def test_annotations_that_do_not_resolve_are_a_decode_error() -> None:
    @dataclasses.dataclass
    class Local:  # defined in a function: its string annotation cannot be resolved
        x: int

    @dataclasses.dataclass
    class Outer(ResourceMeta):
        inner: Local

    meta = Outer(Local(1))
    message = decode_error(Outer, meta.encode())
    assert message.startswith(
        "cannot decode Outer: the annotations of "
        "test_annotations_that_do_not_resolve_are_a_decode_error.<locals>.Outer cannot be resolved "
        "(NameError: "
    )
    assert message.endswith("define the dataclasses a meta uses at module level")


# Size limits, both ways.


def test_encode_refuses_a_meta_over_the_size_limit() -> None:
    with pytest.raises(ResourceMetaError) as info:
        Simple("x" * 70_000).encode()
    assert str(info.value) == (
        "encoded Simple is 70028 bytes, over the limit of 65536; keep large data out of the resource meta"
    )


def test_decode_refuses_bytes_over_the_size_limit() -> None:
    data = document({"job_id": "x" * 65_536})
    assert decode_error(Simple, data) == f"cannot decode Simple: {len(data)} bytes is over the limit of 65536"


def test_the_limit_is_set_per_class() -> None:
    @dataclasses.dataclass
    class Tiny(ResourceMeta):
        max_encoded_size: ClassVar[int] = 40
        job_id: str

    assert Tiny.decode(Tiny("short").encode()) == Tiny("short")
    with pytest.raises(ResourceMetaError, match=r"^encoded Tiny is 43 bytes, over the limit of 40;"):
        Tiny("a little longer").encode()
    assert decode_error(Tiny, Simple("a little longer").encode()) == (
        "cannot decode Tiny: 43 bytes is over the limit of 40"
    )


# Encoding failures.


@dataclasses.dataclass
class Free(ResourceMeta):
    value: Any


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot encode Free: values of type object are not supported"),
        ({1: "a"}, "cannot encode Free: dict keys must be strings"),
        (float("nan"), "cannot encode Free: Out of range float values are not JSON compliant"),
        (float("inf"), "cannot encode Free: Out of range float values are not JSON compliant"),
        (1 + 2j, "cannot encode Free: values of type complex are not supported"),
    ],
)
def test_values_that_cannot_be_encoded(value: Any, message: str) -> None:
    with pytest.raises(ResourceMetaError) as info:
        Free(value).encode()
    assert str(info.value).startswith(message)


# Never pickle.


def test_encode_and_decode_never_use_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle was used")

    for name in ("dumps", "loads", "dump", "load", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    meta = everything()
    assert Everything.decode(meta.encode()) == meta


def test_the_codec_module_does_not_import_pickle() -> None:
    module = sys.modules[ResourceMeta.__module__]
    assert "pickle" not in vars(module)
    source = pathlib.Path(module.__file__ or "").read_text(encoding="utf-8")
    assert "import pickle" not in source
    assert "from pickle" not in source


def test_resource_meta_is_exported() -> None:
    assert connector.ResourceMeta is ResourceMeta


def test_a_whole_number_past_a_floats_range_in_a_float_field_is_refused() -> None:
    @dataclasses.dataclass
    class Reading(ResourceMeta):
        value: float

    with pytest.raises(ResourceMetaError) as info:
        Reading.decode(b'{"v": 1, "data": {"value": 1' + b"0" * 400 + b"}}")
    assert str(info.value) == "cannot decode Reading: value: the number is out of a float's range"


# Plain JSON metas: the form flytekit's and Flyte 2's services write (issue 10's switch-over).


@dataclasses.dataclass
class SensorLike(ResourceMeta):
    accepts_plain_json: ClassVar[bool] = True

    sensor_module: str
    sensor_name: str
    sensor_config: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None


FLYTEKIT_BYTES = json.dumps(
    {"sensor_module": "m", "sensor_name": "S", "sensor_config": None, "inputs": {"path": "/x"}}
).encode()


def test_a_meta_that_declares_it_reads_the_plain_json_of_its_fields() -> None:
    meta = SensorLike.decode(FLYTEKIT_BYTES)
    assert meta == SensorLike("m", "S", None, {"path": "/x"})


def test_a_meta_that_reads_plain_json_still_reads_its_own_encoding() -> None:
    meta = SensorLike("m", "S", {"poke_interval": 3}, {"path": "/x"})
    assert SensorLike.decode(meta.encode()) == meta


def test_plain_json_keeps_the_checks_of_each_field() -> None:
    data = json.dumps({"sensor_module": 3, "sensor_name": "S"}).encode()
    assert decode_error(SensorLike, data) == "cannot decode SensorLike: sensor_module: expected str, got int"
    data = json.dumps({"sensor_name": "S"}).encode()
    assert decode_error(SensorLike, data) == "cannot decode SensorLike: field 'sensor_module' is missing"
    assert (
        decode_error(SensorLike, b"[1]")
        == "cannot decode SensorLike: the document: expected an object, got list"
    )


def test_plain_json_is_refused_by_a_meta_that_does_not_declare_it() -> None:
    @dataclasses.dataclass
    class Plain(ResourceMeta):
        sensor_module: str
        sensor_name: str

    assert decode_error(Plain, FLYTEKIT_BYTES) == "cannot decode Plain: not a resource meta document"


# encode_checked (issue 13): the call layer's check of create's meta, without a JSON round trip.


@dataclasses.dataclass
class _Mistyped(ResourceMeta):
    count: int
    ratio: float
    when: dt.datetime | None = None


@dataclasses.dataclass
class _Picky(ResourceMeta):
    job_id: str

    def __post_init__(self) -> None:
        if not self.job_id.startswith("job-"):
            raise ValueError("a job id starts with job-")


@dataclasses.dataclass
class _OwnCodec(ResourceMeta):
    job_id: str

    @classmethod
    def decode(cls, data: bytes) -> _OwnCodec:
        raise ResourceMetaError("this class reads nothing back")


def _changed(meta: ResourceMeta, **fields: Any) -> ResourceMeta:
    for name, value in fields.items():
        setattr(meta, name, value)
    return meta


def _slow_path(meta: ResourceMeta) -> bytes | str:
    try:
        data = meta.encode()
        type(meta).decode(data)
    except ResourceMetaError as exc:
        return str(exc)
    return data


def _fast_path(meta: ResourceMeta) -> bytes | str:
    from connector._resource_meta import encode_checked

    try:
        return encode_checked(meta)
    except ResourceMetaError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "meta",
    [
        _Mistyped(1, 2.5),
        _Mistyped(1, 2),  # an int in a float field comes back a float
        _Mistyped("1", 2.5),  # type: ignore[arg-type]
        _Mistyped(True, 2.5),  # a bool is no int
        _Mistyped(1, float("nan")),
        _Mistyped(1, 2.5, dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc)),
        _Mistyped(1, 2.5, "yesterday"),  # type: ignore[arg-type]
        _Picky("job-1"),
        _changed(_Picky("job-1"), job_id="nope"),  # changed after __post_init__, which decode runs
        _OwnCodec("job-1"),
    ],
    ids=repr,
)
def test_encode_checked_agrees_with_encode_then_decode(meta: ResourceMeta) -> None:
    assert _fast_path(meta) == _slow_path(meta)


# The JSON shortcuts of the hot path (issue 13): the same text, documents and errors as json's own.

_DOCUMENTS = [
    {"v": 1, "data": {"job_id": "job-1"}},
    {"v": 1, "data": {"z": [1, 2.5, True, None], "a": {"y": "é\u2028\ud800", "b": -(2**70)}}},
    {"v": 1, "data": {}},
]


@pytest.mark.parametrize("document", _DOCUMENTS, ids=repr)
def test_the_encoder_made_once_writes_what_json_writes(document: Any) -> None:
    from connector._resource_meta import _ENCODER, _encode_json

    assert _encode_json(document) == _ENCODER.encode(document)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_the_encoder_made_once_refuses_what_json_refuses(number: float) -> None:
    from connector._resource_meta import _encode_json

    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        _encode_json({"v": 1, "data": {"x": number}})


@pytest.mark.parametrize(
    "text",
    [
        '{"data":{"job_id":"job-1"},"v":1}',
        ' {"v":1}',  # leading and trailing whitespace: json's decode, which allows both
        '{"v":1}\n',
        '{"v":1}x',  # extra data
        '{"v":1}{"v":2}',
        "{",
        '{"v":[1,2}',
        '{"v":NaN}',
        '{"v":1e999}',
        "[1]",
        "",
    ],
    ids=repr,
)
def test_the_direct_scan_decodes_what_json_decodes(text: str) -> None:
    from connector._resource_meta import _DECODER, _decode_json

    def outcome(decode: Any) -> tuple[str, Any]:
        try:
            return "ok", decode(text)
        except Exception as exc:
            return type(exc).__name__, str(exc)

    assert outcome(_decode_json) == outcome(_DECODER.decode)
