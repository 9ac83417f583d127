"""google.protobuf Timestamp, Duration and Struct to Python values and back, within the types' ranges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ._literal_mismatch import MAX_DEPTH, Mismatch, python_type

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# A struct number is a double: integers beyond 2**53 would silently change value.
_STRUCT_INT_LIMIT = 2**53
# The ranges google.protobuf.Timestamp and Duration are defined for.
_TIMESTAMP_MIN, _TIMESTAMP_MAX = -62135596800, 253402300799
_DURATION_MAX_SECONDS = 315576000000
_NANOS_MAX = 999_999_999


def decode_timestamp(timestamp: Any) -> dt.datetime:
    seconds, nanos = timestamp.seconds, timestamp.nanos
    if not (_TIMESTAMP_MIN <= seconds <= _TIMESTAMP_MAX and 0 <= nanos <= _NANOS_MAX):
        raise Mismatch("the datetime is outside the range of a timestamp (years 1 to 9999)")
    # Python datetimes hold microseconds; the sub-microsecond part is dropped.
    return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)


def decode_duration(duration: Any) -> dt.timedelta:
    seconds, nanos = duration.seconds, duration.nanos
    if abs(seconds) > _DURATION_MAX_SECONDS or abs(nanos) > _NANOS_MAX:
        raise Mismatch("the duration is outside the range of a duration (10000 years)")
    micros = nanos // 1000 if nanos >= 0 else -(-nanos // 1000)
    return dt.timedelta(seconds=seconds, microseconds=micros)


def encode_timestamp(timestamp: Any, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise Mismatch(
            "the datetime is naive (no tzinfo); attach a time zone, e.g. tzinfo=datetime.timezone.utc"
        )
    delta = value - _EPOCH
    timestamp.seconds = delta.days * 86400 + delta.seconds
    timestamp.nanos = delta.microseconds * 1000


def encode_duration(duration: Any, value: dt.timedelta) -> None:
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign = -1 if micros < 0 else 1
    seconds, rest = divmod(abs(micros), 1_000_000)
    if seconds > _DURATION_MAX_SECONDS:
        raise Mismatch("the timedelta is longer than a duration can hold (10000 years)")
    duration.seconds = sign * seconds
    duration.nanos = sign * rest * 1000


def decode_struct(struct: Any, depth: int) -> dict[str, Any]:
    result = {}
    for key, value in struct.fields.items():
        try:
            result[key] = _decode_value(value, depth + 1)
        except Mismatch as exc:
            exc.path.append(key)
            raise
    return result


def _decode_value(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise Mismatch(f"nested deeper than {MAX_DEPTH} levels")
    which = value.WhichOneof("kind")
    if which == "number_value":
        number = value.number_value
        # JSON does not tell 3 from 3.0; whole numbers come back as int, as a JSON parser returns them.
        if number.is_integer() and abs(number) <= _STRUCT_INT_LIMIT:
            return int(number)
        return number
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "null_value":
        return None
    if which == "struct_value":
        return decode_struct(value.struct_value, depth)
    if which == "list_value":
        items = []
        for index, item in enumerate(value.list_value.values):
            try:
                items.append(_decode_value(item, depth + 1))
            except Mismatch as exc:
                exc.path.append(index)
                raise
        return items
    raise Mismatch("a struct value is empty (no kind is set)")


def encode_struct(struct: Any, value: Mapping[Any, Any], depth: int) -> None:
    struct.SetInParent()
    fields = struct.fields
    for key, item in value.items():
        if not isinstance(key, str):
            raise Mismatch(f"struct keys must be strings, not {python_type(key)}")
        try:
            _encode_value(fields[key], item, depth + 1)
        except Mismatch as exc:
            exc.path.append(key)
            raise


def _encode_value(target: Any, value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Mismatch(f"nested deeper than {MAX_DEPTH} levels")
    if value is None:
        target.null_value = 0
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        if abs(value) > _STRUCT_INT_LIMIT:
            raise Mismatch("the integer is too large for a struct number (a double; at most 2**53)")
        target.number_value = value
    elif isinstance(value, float):
        target.number_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, Mapping):
        encode_struct(target.struct_value, value, depth)
    elif isinstance(value, (list, tuple)):
        values = target.list_value.values
        target.list_value.SetInParent()
        for index, item in enumerate(value):
            try:
                _encode_value(values.add(), item, depth + 1)
            except Mismatch as exc:
                exc.path.append(index)
                raise
    else:
        raise Mismatch(
            "a struct holds JSON-like values (None, bool, int, float, str, list, dict), "
            f"not {python_type(value)}"
        )
