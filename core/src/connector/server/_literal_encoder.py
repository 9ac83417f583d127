"""Encoding: native Python values to one IDL's ``Literal`` messages, fitted to declared types."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .._refs import BlobRef, StructuredDatasetRef
from ._literal_mismatch import MAX_DEPTH, Mismatch, python_type
from ._literal_types import LiteralTypes
from ._msgpack import MSGPACK_TAG, pack, wants_msgpack
from ._protobuf_values import encode_duration, encode_struct, encode_timestamp

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SUPPORTED_PYTHON = (
    "int, float, str, bool, datetime, timedelta, None, list, dict, BlobRef or StructuredDatasetRef"
)


def _int64(value: int) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise Mismatch("the integer does not fit in 64 bits")
    return value


class LiteralEncoder:
    """Fills a ``Literal`` from a native value; a declared type is honoured, an absent one is inferred."""

    def __init__(self, literal_cls: Any, types: LiteralTypes) -> None:
        self._literal_cls = literal_cls
        self._types = types

    def encode(self, target: Any, value: Any, literal_type: Any, depth: int, *, strict: bool) -> None:
        if depth > MAX_DEPTH:
            raise Mismatch(f"nested deeper than {MAX_DEPTH} levels")
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
                raise self._types.declared(literal_type, python_type(value))
            self._encode_list(target, value, literal_type.collection_type, depth, strict=strict)
        elif kind == "map_value_type":
            if not isinstance(value, Mapping):
                raise self._types.declared(literal_type, python_type(value))
            self._encode_map(target, value, literal_type.map_value_type, depth, strict=strict)
        elif kind == "union_type":
            self._encode_union(target, value, literal_type, depth)
        elif kind == "blob":
            self._encode_blob(target, value, literal_type, strict=strict)
        elif kind == "structured_dataset_type":
            self._encode_dataset(target, value, literal_type, strict=strict)
        elif kind == "enum_type":
            if not isinstance(value, str):
                raise self._types.declared(literal_type, python_type(value))
            if value not in literal_type.enum_type.values:
                raise self._types.declared(literal_type, "a string that is not one of the enum's values")
            target.scalar.primitive.string_value = value
        else:
            raise Mismatch(f"{kind} values are not supported by the connector service")

    def _infer(self, target: Any, value: Any, depth: int) -> None:
        if value is None:
            target.scalar.none_type.SetInParent()
        elif isinstance(value, bool):
            target.scalar.primitive.boolean = value
        elif isinstance(value, int):
            target.scalar.primitive.integer = _int64(value)
        elif isinstance(value, float):
            target.scalar.primitive.float_value = value
        elif isinstance(value, str):
            target.scalar.primitive.string_value = value
        elif isinstance(value, dt.datetime):
            encode_timestamp(target.scalar.primitive.datetime, value)
        elif isinstance(value, dt.timedelta):
            encode_duration(target.scalar.primitive.duration, value)
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
            raise Mismatch(
                f"no Flyte type for {python_type(value)} (the task interface does not declare it); "
                f"return one of {_SUPPORTED_PYTHON}"
            )

    def _encode_simple(self, target: Any, value: Any, literal_type: Any, *, strict: bool) -> None:
        types = self._types
        simple = literal_type.simple
        is_bool = isinstance(value, bool)
        if simple == types.integer and isinstance(value, int) and not is_bool:
            target.scalar.primitive.integer = _int64(value)
        elif simple == types.float and isinstance(value, float):
            target.scalar.primitive.float_value = value
        elif simple == types.float and isinstance(value, int) and not is_bool and not strict:
            try:
                target.scalar.primitive.float_value = float(value)
            except OverflowError:
                raise Mismatch("the integer is too large for a float") from None
        elif simple == types.string and isinstance(value, str):
            target.scalar.primitive.string_value = value
        elif simple == types.boolean and is_bool:
            target.scalar.primitive.boolean = value
        elif simple == types.datetime and isinstance(value, dt.datetime):
            encode_timestamp(target.scalar.primitive.datetime, value)
        elif simple == types.duration and isinstance(value, dt.timedelta):
            encode_duration(target.scalar.primitive.duration, value)
        elif simple == types.none and value is None:
            target.scalar.none_type.SetInParent()
        elif simple == types.struct and isinstance(value, Mapping):
            if wants_msgpack(literal_type):
                target.scalar.binary.value = pack(value)
                target.scalar.binary.tag = MSGPACK_TAG
            else:
                encode_struct(target.scalar.generic, value, 0)
        elif simple not in types.simple_names or types.simple_names[simple] in ("binary", "error"):
            raise Mismatch(
                f"{types.type_text(literal_type)} values are not supported by the connector service"
            )
        else:
            raise types.declared(literal_type, python_type(value))

    def _encode_list(
        self, target: Any, value: list[Any] | tuple[Any, ...], item_type: Any, depth: int, *, strict: bool
    ) -> None:
        literals = target.collection.literals
        target.collection.SetInParent()
        for index, item in enumerate(value):
            try:
                self.encode(literals.add(), item, item_type, depth + 1, strict=strict)
            except Mismatch as exc:
                exc.path.append(index)
                raise

    def _encode_map(
        self, target: Any, value: Mapping[Any, Any], value_type: Any, depth: int, *, strict: bool
    ) -> None:
        literals = target.map.literals
        target.map.SetInParent()
        for key, item in value.items():
            if not isinstance(key, str):
                raise Mismatch(f"map keys must be strings, not {python_type(key)}")
            try:
                self.encode(literals[key], item, value_type, depth + 1, strict=strict)
            except Mismatch as exc:
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
                    self.encode(candidate, value, variant, depth + 1, strict=strict)
                except Mismatch:
                    continue
                union = target.scalar.union
                union.value.CopyFrom(candidate)
                # Flyte finds the chosen variant by this type (and its structure tag).
                union.type.CopyFrom(variant)
                return
        raise self._types.declared(literal_type, python_type(value))

    def _fill_blob(self, blob: Any, uri: str, blob_format: str, dimensionality: str) -> None:
        blob.uri = uri
        blob.metadata.type.format = blob_format
        blob.metadata.type.dimensionality = (
            self._types.multipart if dimensionality == "multipart" else self._types.single
        )

    def _encode_blob(self, target: Any, value: Any, literal_type: Any, *, strict: bool) -> None:
        declared = literal_type.blob
        declared_dimensionality = (
            "multipart" if declared.dimensionality == self._types.multipart else "single"
        )
        if isinstance(value, BlobRef):
            if value.format and declared.format and value.format != declared.format:
                raise self._types.declared(literal_type, f"a BlobRef of format {value.format!r}")
            if value.dimensionality != declared_dimensionality:
                raise self._types.declared(literal_type, f"a {value.dimensionality} BlobRef")
            uri, blob_format = value.uri, declared.format or value.format
        elif isinstance(value, str) and not strict:
            uri, blob_format = value, declared.format
        else:
            raise self._types.declared(literal_type, python_type(value))
        self._fill_blob(target.scalar.blob, uri, blob_format, declared_dimensionality)

    def _encode_dataset(self, target: Any, value: Any, literal_type: Any, *, strict: bool) -> None:
        declared = literal_type.structured_dataset_type
        if isinstance(value, StructuredDatasetRef):
            if value.format and declared.format and value.format != declared.format:
                raise self._types.declared(literal_type, f"a StructuredDatasetRef of format {value.format!r}")
            uri, dataset_format = value.uri, declared.format or value.format
        elif isinstance(value, str) and not strict:
            uri, dataset_format = value, declared.format
        else:
            raise self._types.declared(literal_type, python_type(value))
        dataset = target.scalar.structured_dataset
        dataset.uri = uri
        metadata_type = dataset.metadata.structured_dataset_type
        metadata_type.CopyFrom(declared)
        metadata_type.format = dataset_format
