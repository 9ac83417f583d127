"""The literal codec: Flyte literals (flyteidl and flyteidl2) to native Python values and back."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from .._exceptions import LiteralConversionError
from .._model import TaskInterface
from .._refs import BlobRef, StructuredDatasetRef

__all__ = ["LiteralCodec", "v1_codec", "v2_codec"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# protobuf refuses to parse messages nested deeper than 100; values built in Python get the same limit
# (a list that contains itself must fail with a clear error, not a RecursionError).
_MAX_DEPTH = 100
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A struct number is a double: integers beyond 2**53 would silently change value.
_STRUCT_INT_LIMIT = 2**53
# The ranges google.protobuf.Timestamp and Duration are defined for.
_TIMESTAMP_MIN, _TIMESTAMP_MAX = -62135596800, 253402300799
_DURATION_MAX_SECONDS = 315576000000
_NANOS_MAX = 999_999_999

_SIMPLE_NAMES = {
    "NONE": "none",
    "INTEGER": "integer",
    "FLOAT": "float",
    "STRING": "string",
    "BOOLEAN": "boolean",
    "DATETIME": "datetime",
    "DURATION": "duration",
    "STRUCT": "struct",
}
_KIND_NAMES = {
    "blob": "blob",
    "structured_dataset_type": "structured_dataset",
    "collection_type": "list",
    "map_value_type": "map",
    "union_type": "union",
    # An enum value travels as a string literal.
    "enum_type": "string",
}
_SUPPORTED_PYTHON = (
    "int, float, str, bool, datetime, timedelta, None, list, dict, BlobRef or StructuredDatasetRef"
)


class _Mismatch(Exception):
    """A value does not fit a type; ``path`` collects the list indexes and map keys on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[int | str] = []


def _shorten(text: str, limit: int) -> str:
    # Keys and enum values come from the request; an error message must stay short whatever they are.
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(path: list[int | str]) -> str:
    steps = [f"[{_shorten(repr(step), 40)}]" for step in reversed(path)]
    if len(steps) > 8:
        steps[4:-3] = ["..."]
    return "".join(steps)


def _python_type(value: object) -> str:
    return f"a Python {type(value).__name__}"


class LiteralCodec:
    """Converts between one IDL's literals and native Python values, guided by declared types.

    Build it from an IDL's generated ``literals_pb2`` and ``types_pb2`` modules (``v1_codec()`` and
    ``v2_codec()`` return cached ones for flyteidl and flyteidl2). Native values are ``int``,
    ``float``, ``str``, ``bool``, aware UTC ``datetime``, ``timedelta``, ``None``, ``list``, ``dict``
    (a map, or a struct of JSON-like values), :class:`~connector.BlobRef` and
    :class:`~connector.StructuredDatasetRef`. A union decodes to its value; encoding one picks the first
    variant the value fits exactly, then the first it fits after a widening (``int`` to ``float``, a URI
    string to a blob or dataset). Values the interface does not declare are typed from their Python type.
    """

    def __init__(self, literals_pb2: Any, types_pb2: Any) -> None:
        self._literal_cls = literals_pb2.Literal
        self._literal_map_cls = literals_pb2.LiteralMap
        simple = types_pb2.SimpleType
        self._simple_names = {simple.Value(key): name for key, name in _SIMPLE_NAMES.items()}
        self._simple_names[simple.Value("BINARY")] = "binary"
        self._simple_names[simple.Value("ERROR")] = "error"
        self._none = simple.Value("NONE")
        self._integer = simple.Value("INTEGER")
        self._float = simple.Value("FLOAT")
        self._string = simple.Value("STRING")
        self._boolean = simple.Value("BOOLEAN")
        self._datetime = simple.Value("DATETIME")
        self._duration = simple.Value("DURATION")
        self._struct = simple.Value("STRUCT")
        # Primitive field -> the simple type that declares it, and how a message names it.
        self._primitive_kinds = {
            "integer": (self._integer, "an integer literal"),
            "float_value": (self._float, "a float literal"),
            "string_value": (self._string, "a string literal"),
            "boolean": (self._boolean, "a boolean literal"),
            "datetime": (self._datetime, "a datetime literal"),
            "duration": (self._duration, "a duration literal"),
        }
        dimensionality = types_pb2.BlobType.BlobDimensionality
        self._single = dimensionality.Value("SINGLE")
        self._multipart = dimensionality.Value("MULTIPART")

    # -- public surface -------------------------------------------------------------------------

    def to_python(self, literal_map: Any, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        """Decode a literal map into ``{name: value}``, each typed by ``variables[name]`` when declared.

        ``literal_map`` is a ``LiteralMap``, a message whose ``literals`` are ``NamedLiteral`` entries
        (flyteidl2's ``Inputs``/``Outputs``), or a plain mapping of names to ``Literal`` messages.
        Raises :class:`~connector.LiteralConversionError` naming the first input that cannot be decoded
        (offloaded literals, unsupported kinds, a literal of another type than declared).
        """
        declared = variables or {}
        result: dict[str, Any] = {}
        for name, literal in self._named_literals(literal_map):
            if name in result:
                raise LiteralConversionError(name, "given more than once")
            try:
                result[name] = self._decode(literal, declared.get(name), 0, strict=False)
            except _Mismatch as exc:
                raise self._error(name, exc, "input") from None
        return result

    def to_literal_map(self, values: Mapping[str, Any], variables: Mapping[str, Any] | None) -> Any:
        """Encode ``{name: value}`` as a ``LiteralMap``, each typed by ``variables[name]`` when declared.

        A declared float gets a float literal even for an ``int``; a value that does not fit its
        declared type (an ``int`` declared as string) raises :class:`~connector.LiteralConversionError`
        naming the output rather than being converted silently.
        """
        return self.encode_into(self._literal_map_cls(), values, variables)

    def encode_into(
        self, message: Any, values: Mapping[str, Any], variables: Mapping[str, Any] | None
    ) -> Any:
        """Encode ``values`` into ``message.literals`` and return ``message``.

        ``message`` is a ``LiteralMap`` or a message with ``NamedLiteral`` entries (flyteidl2 ``Outputs``).
        """
        declared = variables or {}
        literals = message.literals
        named = not isinstance(literals, Mapping)
        for name, value in values.items():
            if not isinstance(name, str):
                raise LiteralConversionError(str(name), f"names must be strings, not {_python_type(name)}")
            target = literals.add(name=name).value if named else literals[name]
            try:
                self._encode(target, value, declared.get(name), 0, strict=False)
            except _Mismatch as exc:
                raise self._error(name, exc, "output") from None
        return message

    def describe(self, literal_type: Any) -> str:
        """The simple type name (as in :class:`~connector.TaskInterface`) of a ``LiteralType``."""
        if literal_type is None:
            return "unknown"
        kind = literal_type.WhichOneof("type")
        if kind == "simple":
            name = self._simple_names.get(literal_type.simple, "unknown")
            return name if name in _SIMPLE_NAMES.values() else "unknown"
        return _KIND_NAMES.get(kind or "", "unknown")

    def variables(self, variable_map: Any) -> dict[str, Any]:
        """The ``{name: LiteralType}`` of a ``VariableMap`` (a map in flyteidl, a list in flyteidl2)."""
        entries = variable_map.variables
        if isinstance(entries, Mapping):
            return {name: variable.type for name, variable in entries.items()}
        return {entry.key: entry.value.type for entry in entries}

    def task_interface(self, typed_interface: Any) -> TaskInterface:
        """The :class:`~connector.TaskInterface` view (simple type names) of a ``TypedInterface``."""
        return TaskInterface(
            inputs={k: self.describe(t) for k, t in self.variables(typed_interface.inputs).items()},
            outputs={k: self.describe(t) for k, t in self.variables(typed_interface.outputs).items()},
        )

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _named_literals(source: Any) -> list[tuple[str, Any]]:
        if isinstance(source, Mapping):
            return list(source.items())
        literals = source.literals
        if isinstance(literals, Mapping):
            return list(literals.items())
        return [(entry.name, entry.value) for entry in literals]

    @staticmethod
    def _error(name: str, exc: _Mismatch, kind: str) -> LiteralConversionError:
        reason = exc.reason
        if exc.path:
            reason = f"{reason} (at {_where(exc.path)})"
        return LiteralConversionError(name, reason, kind=kind)

    def type_text(self, literal_type: Any) -> str:
        """A readable rendering of a ``LiteralType`` for messages: ``list of integer``, ``union of ...``."""
        kind = literal_type.WhichOneof("type") if literal_type is not None else None
        if kind == "collection_type":
            return f"list of {self.type_text(literal_type.collection_type)}"
        if kind == "map_value_type":
            return f"map of {self.type_text(literal_type.map_value_type)}"
        if kind == "union_type":
            return "union of " + " | ".join(self.type_text(v) for v in literal_type.union_type.variants)
        if kind == "simple":
            return self._simple_names.get(literal_type.simple, f"simple type {literal_type.simple}")
        if kind == "schema":
            return "schema"
        if kind == "enum_type":
            return "enum of " + ", ".join(repr(v) for v in literal_type.enum_type.values)
        return self.describe(literal_type)

    def _declared(self, literal_type: Any, got: str) -> _Mismatch:
        declared = _shorten(self.type_text(literal_type), 300)
        return _Mismatch(f"expected {declared} (declared in the task interface), got {got}")

    # -- decoding -----------------------------------------------------------------------------------

    def _decode(self, literal: Any, literal_type: Any, depth: int, *, strict: bool) -> Any:
        if depth > _MAX_DEPTH:
            raise _Mismatch(f"nested deeper than {_MAX_DEPTH} levels")
        kind = literal_type.WhichOneof("type") if literal_type is not None else None
        which = literal.WhichOneof("value")
        if which == "scalar":
            scalar = literal.scalar
            if scalar.WhichOneof("value") == "union":
                union = scalar.union
                if kind is None and union.HasField("type"):
                    return self._decode(union.value, union.type, depth + 1, strict=strict)
                return self._decode(union.value, literal_type, depth + 1, strict=strict)
            if kind == "union_type":
                return self._decode_variants(literal, literal_type, depth)
            return self._decode_scalar(scalar, literal_type, kind, strict=strict)
        if kind == "union_type" and which in ("collection", "map"):
            return self._decode_variants(literal, literal_type, depth)
        if which == "collection":
            if kind not in (None, "collection_type"):
                raise self._declared(literal_type, "a list literal")
            return self._decode_list(
                literal.collection, literal_type.collection_type if kind else None, depth, strict
            )
        if which == "map":
            if kind not in (None, "map_value_type"):
                raise self._declared(literal_type, "a map literal")
            return self._decode_map(literal.map, literal_type.map_value_type if kind else None, depth, strict)
        if which == "offloaded_metadata":
            raise _Mismatch(
                "the literal is offloaded to blob storage, which the connector service does not read; "
                "send it inline (raise the engine's literal offloading threshold)"
            )
        raise _Mismatch("the literal is empty (no scalar, list or map is set)")

    def _decode_list(self, collection: Any, item_type: Any, depth: int, strict: bool) -> list[Any]:
        items = []
        for index, item in enumerate(collection.literals):
            try:
                items.append(self._decode(item, item_type, depth + 1, strict=strict))
            except _Mismatch as exc:
                exc.path.append(index)
                raise
        return items

    def _decode_map(self, literal_map: Any, value_type: Any, depth: int, strict: bool) -> dict[str, Any]:
        result = {}
        for key, item in literal_map.literals.items():
            try:
                result[key] = self._decode(item, value_type, depth + 1, strict=strict)
            except _Mismatch as exc:
                exc.path.append(key)
                raise
        return result

    def _decode_variants(self, literal: Any, literal_type: Any, depth: int) -> Any:
        variants = literal_type.union_type.variants
        for strict in (True, False):
            for variant in variants:
                try:
                    return self._decode(literal, variant, depth + 1, strict=strict)
                except _Mismatch:
                    continue
        raise self._declared(literal_type, f"a {self._literal_kind(literal)} literal")

    def _literal_kind(self, literal: Any) -> str:
        which = literal.WhichOneof("value")
        if which != "scalar":
            return {"collection": "list", "map": "map", "offloaded_metadata": "offloaded"}.get(which, "empty")
        scalar_kind = literal.scalar.WhichOneof("value")
        if scalar_kind == "primitive":
            primitive = literal.scalar.primitive.WhichOneof("value") or "empty primitive"
            return {"float_value": "float", "string_value": "string"}.get(primitive, primitive)
        return {"none_type": "none", "generic": "struct", "structured_dataset": "structured dataset"}.get(
            scalar_kind, scalar_kind or "empty scalar"
        )

    def _decode_scalar(self, scalar: Any, literal_type: Any, kind: str | None, *, strict: bool) -> Any:
        which = scalar.WhichOneof("value")
        simple = literal_type.simple if kind == "simple" else None
        if which == "primitive":
            return self._decode_primitive(scalar.primitive, literal_type, kind, simple, strict=strict)
        if which == "none_type":
            if kind is not None and simple != self._none:
                raise self._declared(literal_type, "a none literal")
            return None
        if which == "generic":
            if kind is not None and simple != self._struct:
                raise self._declared(literal_type, "a struct literal")
            return self._decode_struct(scalar.generic, 0)
        if which == "blob":
            if kind not in (None, "blob"):
                raise self._declared(literal_type, "a blob literal")
            blob = scalar.blob
            dimensionality = blob.metadata.type.dimensionality
            if dimensionality not in (self._single, self._multipart):
                raise _Mismatch(f"the blob has an unknown dimensionality ({dimensionality})")
            return BlobRef(
                uri=blob.uri,
                format=blob.metadata.type.format,
                dimensionality="multipart" if dimensionality == self._multipart else "single",
            )
        if which == "structured_dataset":
            if kind not in (None, "structured_dataset_type"):
                raise self._declared(literal_type, "a structured dataset literal")
            dataset = scalar.structured_dataset
            return StructuredDatasetRef(
                uri=dataset.uri, format=dataset.metadata.structured_dataset_type.format
            )
        if which is None:
            raise _Mismatch("the scalar literal is empty (no value is set)")
        # binary (msgpack-encoded objects), schema (the legacy dataframe type) and error.
        raise _Mismatch(
            f"{which} literals are not supported by the connector service "
            "(supported: primitives, none, struct, blob, structured dataset, union, list, map)"
        )

    def _decode_primitive(
        self, primitive: Any, literal_type: Any, kind: str | None, simple: int | None, *, strict: bool
    ) -> Any:
        which = primitive.WhichOneof("value")
        if which is None:
            raise _Mismatch("the primitive literal is empty (no value is set)")
        if which == "string_value" and kind == "enum_type":
            if primitive.string_value not in literal_type.enum_type.values:
                raise self._declared(literal_type, "a string that is not one of the enum's values")
            return primitive.string_value
        expected, got = self._primitive_kinds[which]
        if kind is not None and simple != expected:
            if which == "integer" and simple == self._float and not strict:
                return float(primitive.integer)
            raise self._declared(literal_type, got)
        if which == "datetime":
            return self._decode_timestamp(primitive.datetime)
        if which == "duration":
            return self._decode_duration(primitive.duration)
        return getattr(primitive, which)

    @staticmethod
    def _decode_timestamp(timestamp: Any) -> dt.datetime:
        seconds, nanos = timestamp.seconds, timestamp.nanos
        if not (_TIMESTAMP_MIN <= seconds <= _TIMESTAMP_MAX and 0 <= nanos <= _NANOS_MAX):
            raise _Mismatch("the datetime is outside the range of a timestamp (years 1 to 9999)")
        # Python datetimes hold microseconds; the sub-microsecond part is dropped.
        return _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)

    @staticmethod
    def _decode_duration(duration: Any) -> dt.timedelta:
        seconds, nanos = duration.seconds, duration.nanos
        if abs(seconds) > _DURATION_MAX_SECONDS or abs(nanos) > _NANOS_MAX:
            raise _Mismatch("the duration is outside the range of a duration (10000 years)")
        micros = nanos // 1000 if nanos >= 0 else -(-nanos // 1000)
        return dt.timedelta(seconds=seconds, microseconds=micros)

    def _decode_struct(self, struct: Any, depth: int) -> dict[str, Any]:
        result = {}
        for key, value in struct.fields.items():
            try:
                result[key] = self._decode_value(value, depth + 1)
            except _Mismatch as exc:
                exc.path.append(key)
                raise
        return result

    def _decode_value(self, value: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise _Mismatch(f"nested deeper than {_MAX_DEPTH} levels")
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
            return self._decode_struct(value.struct_value, depth)
        if which == "list_value":
            items = []
            for index, item in enumerate(value.list_value.values):
                try:
                    items.append(self._decode_value(item, depth + 1))
                except _Mismatch as exc:
                    exc.path.append(index)
                    raise
            return items
        raise _Mismatch("a struct value is empty (no kind is set)")

    # -- encoding -----------------------------------------------------------------------------------

    def _encode(self, target: Any, value: Any, literal_type: Any, depth: int, *, strict: bool) -> None:
        if depth > _MAX_DEPTH:
            raise _Mismatch(f"nested deeper than {_MAX_DEPTH} levels")
        if isinstance(value, self._literal_cls):
            # A connector that builds its own literal knows best.
            target.CopyFrom(value)
            return
        kind = literal_type.WhichOneof("type") if literal_type is not None else None
        if kind is None:
            self._infer(target, value, depth)
        elif kind == "simple":
            self._encode_simple(target, value, literal_type, strict=strict)
        elif kind == "collection_type":
            if not isinstance(value, (list, tuple)):
                raise self._declared(literal_type, _python_type(value))
            self._encode_list(target, value, literal_type.collection_type, depth, strict=strict)
        elif kind == "map_value_type":
            if not isinstance(value, Mapping):
                raise self._declared(literal_type, _python_type(value))
            self._encode_map(target, value, literal_type.map_value_type, depth, strict=strict)
        elif kind == "union_type":
            self._encode_union(target, value, literal_type, depth)
        elif kind == "blob":
            self._encode_blob(target, value, literal_type, strict=strict)
        elif kind == "structured_dataset_type":
            self._encode_dataset(target, value, literal_type, strict=strict)
        elif kind == "enum_type":
            if not isinstance(value, str):
                raise self._declared(literal_type, _python_type(value))
            if value not in literal_type.enum_type.values:
                raise self._declared(literal_type, "a string that is not one of the enum's values")
            target.scalar.primitive.string_value = value
        else:
            raise _Mismatch(f"{kind} values are not supported by the connector service")

    def _infer(self, target: Any, value: Any, depth: int) -> None:
        if value is None:
            target.scalar.none_type.SetInParent()
        elif isinstance(value, bool):
            target.scalar.primitive.boolean = value
        elif isinstance(value, int):
            target.scalar.primitive.integer = self._int64(value)
        elif isinstance(value, float):
            target.scalar.primitive.float_value = value
        elif isinstance(value, str):
            target.scalar.primitive.string_value = value
        elif isinstance(value, dt.datetime):
            self._encode_timestamp(target.scalar.primitive.datetime, value)
        elif isinstance(value, dt.timedelta):
            self._encode_duration(target.scalar.primitive.duration, value)
        elif isinstance(value, (list, tuple)):
            self._encode_list(target, value, None, depth, strict=False)
        elif isinstance(value, Mapping):
            self._encode_map(target, value, None, depth, strict=False)
        elif isinstance(value, BlobRef):
            self._fill_blob(target.scalar.blob, value.uri, value.format, value.dimensionality)
        elif isinstance(value, StructuredDatasetRef):
            dataset = target.scalar.structured_dataset
            dataset.uri = value.uri
            dataset.metadata.structured_dataset_type.format = value.format
        else:
            raise _Mismatch(
                f"no Flyte type for {_python_type(value)} (the task interface does not declare it); "
                f"return one of {_SUPPORTED_PYTHON}"
            )

    def _encode_simple(self, target: Any, value: Any, literal_type: Any, *, strict: bool) -> None:
        simple = literal_type.simple
        is_bool = isinstance(value, bool)
        if simple == self._integer and isinstance(value, int) and not is_bool:
            target.scalar.primitive.integer = self._int64(value)
        elif simple == self._float and isinstance(value, float):
            target.scalar.primitive.float_value = value
        elif simple == self._float and isinstance(value, int) and not is_bool and not strict:
            try:
                target.scalar.primitive.float_value = float(value)
            except OverflowError:
                raise _Mismatch("the integer is too large for a float") from None
        elif simple == self._string and isinstance(value, str):
            target.scalar.primitive.string_value = value
        elif simple == self._boolean and is_bool:
            target.scalar.primitive.boolean = value
        elif simple == self._datetime and isinstance(value, dt.datetime):
            self._encode_timestamp(target.scalar.primitive.datetime, value)
        elif simple == self._duration and isinstance(value, dt.timedelta):
            self._encode_duration(target.scalar.primitive.duration, value)
        elif simple == self._none and value is None:
            target.scalar.none_type.SetInParent()
        elif simple == self._struct and isinstance(value, Mapping):
            self._encode_struct(target.scalar.generic, value, 0)
        elif simple not in self._simple_names or self._simple_names[simple] in ("binary", "error"):
            raise _Mismatch(
                f"{self.type_text(literal_type)} values are not supported by the connector service"
            )
        else:
            raise self._declared(literal_type, _python_type(value))

    @staticmethod
    def _int64(value: int) -> int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Mismatch("the integer does not fit in 64 bits")
        return value

    @staticmethod
    def _encode_timestamp(timestamp: Any, value: dt.datetime) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise _Mismatch(
                "the datetime is naive (no tzinfo); attach a time zone, e.g. tzinfo=datetime.timezone.utc"
            )
        delta = value - _EPOCH
        timestamp.seconds = delta.days * 86400 + delta.seconds
        timestamp.nanos = delta.microseconds * 1000

    @staticmethod
    def _encode_duration(duration: Any, value: dt.timedelta) -> None:
        micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
        sign = -1 if micros < 0 else 1
        seconds, rest = divmod(abs(micros), 1_000_000)
        if seconds > _DURATION_MAX_SECONDS:
            raise _Mismatch("the timedelta is longer than a duration can hold (10000 years)")
        duration.seconds = sign * seconds
        duration.nanos = sign * rest * 1000

    def _encode_list(
        self, target: Any, value: list[Any] | tuple[Any, ...], item_type: Any, depth: int, *, strict: bool
    ) -> None:
        literals = target.collection.literals
        target.collection.SetInParent()
        for index, item in enumerate(value):
            try:
                self._encode(literals.add(), item, item_type, depth + 1, strict=strict)
            except _Mismatch as exc:
                exc.path.append(index)
                raise

    def _encode_map(
        self, target: Any, value: Mapping[Any, Any], value_type: Any, depth: int, *, strict: bool
    ) -> None:
        literals = target.map.literals
        target.map.SetInParent()
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Mismatch(f"map keys must be strings, not {_python_type(key)}")
            try:
                self._encode(literals[key], item, value_type, depth + 1, strict=strict)
            except _Mismatch as exc:
                exc.path.append(key)
                raise

    def _encode_union(self, target: Any, value: Any, literal_type: Any, depth: int) -> None:
        variants = literal_type.union_type.variants
        # An exact fit wins over a widening one: 3 for `float | int` is an int, "s3://x" for
        # `str | blob` a string.
        for strict in (True, False):
            for variant in variants:
                candidate = self._literal_cls()
                try:
                    self._encode(candidate, value, variant, depth + 1, strict=strict)
                except _Mismatch:
                    continue
                union = target.scalar.union
                union.value.CopyFrom(candidate)
                # Flyte finds the chosen variant by this type (and its structure tag).
                union.type.CopyFrom(variant)
                return
        raise self._declared(literal_type, _python_type(value))

    def _fill_blob(self, blob: Any, uri: str, blob_format: str, dimensionality: str) -> None:
        blob.uri = uri
        blob.metadata.type.format = blob_format
        blob.metadata.type.dimensionality = self._multipart if dimensionality == "multipart" else self._single

    def _encode_blob(self, target: Any, value: Any, literal_type: Any, *, strict: bool) -> None:
        declared = literal_type.blob
        declared_dimensionality = "multipart" if declared.dimensionality == self._multipart else "single"
        if isinstance(value, BlobRef):
            if value.format and declared.format and value.format != declared.format:
                raise self._declared(literal_type, f"a BlobRef of format {value.format!r}")
            if value.dimensionality != declared_dimensionality:
                raise self._declared(literal_type, f"a {value.dimensionality} BlobRef")
            uri, blob_format = value.uri, declared.format or value.format
        elif isinstance(value, str) and not strict:
            uri, blob_format = value, declared.format
        else:
            raise self._declared(literal_type, _python_type(value))
        self._fill_blob(target.scalar.blob, uri, blob_format, declared_dimensionality)

    def _encode_dataset(self, target: Any, value: Any, literal_type: Any, *, strict: bool) -> None:
        declared = literal_type.structured_dataset_type
        if isinstance(value, StructuredDatasetRef):
            if value.format and declared.format and value.format != declared.format:
                raise self._declared(literal_type, f"a StructuredDatasetRef of format {value.format!r}")
            uri, dataset_format = value.uri, declared.format or value.format
        elif isinstance(value, str) and not strict:
            uri, dataset_format = value, declared.format
        else:
            raise self._declared(literal_type, _python_type(value))
        dataset = target.scalar.structured_dataset
        dataset.uri = uri
        metadata_type = dataset.metadata.structured_dataset_type
        metadata_type.CopyFrom(declared)
        metadata_type.format = dataset_format

    def _encode_struct(self, struct: Any, value: Mapping[Any, Any], depth: int) -> None:
        struct.SetInParent()
        fields = struct.fields
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Mismatch(f"struct keys must be strings, not {_python_type(key)}")
            try:
                self._encode_value(fields[key], item, depth + 1)
            except _Mismatch as exc:
                exc.path.append(key)
                raise

    def _encode_value(self, target: Any, value: Any, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Mismatch(f"nested deeper than {_MAX_DEPTH} levels")
        if value is None:
            target.null_value = 0
        elif isinstance(value, bool):
            target.bool_value = value
        elif isinstance(value, int):
            if abs(value) > _STRUCT_INT_LIMIT:
                raise _Mismatch("the integer is too large for a struct number (a double; at most 2**53)")
            target.number_value = value
        elif isinstance(value, float):
            target.number_value = value
        elif isinstance(value, str):
            target.string_value = value
        elif isinstance(value, Mapping):
            self._encode_struct(target.struct_value, value, depth)
        elif isinstance(value, (list, tuple)):
            values = target.list_value.values
            target.list_value.SetInParent()
            for index, item in enumerate(value):
                try:
                    self._encode_value(values.add(), item, depth + 1)
                except _Mismatch as exc:
                    exc.path.append(index)
                    raise
        else:
            raise _Mismatch(
                "a struct holds JSON-like values (None, bool, int, float, str, list, dict), "
                f"not {_python_type(value)}"
            )


@functools.cache
def v1_codec() -> LiteralCodec:
    """The codec for flyteidl (v1) literals, ``flyteidl.core``; built once."""
    from flyteidl.core import literals_pb2, types_pb2

    return LiteralCodec(literals_pb2, types_pb2)


@functools.cache
def v2_codec() -> LiteralCodec:
    """The codec for flyteidl2 literals, ``flyteidl2.core``; built once."""
    from flyteidl2.core import literals_pb2, types_pb2

    return LiteralCodec(literals_pb2, types_pb2)
