"""Decoding: one IDL's ``Literal`` messages to native Python values, checked against declared types."""

from __future__ import annotations

from typing import Any

from .._refs import BlobRef, StructuredDatasetRef
from ._literal_mismatch import MAX_DEPTH, Mismatch, python_type
from ._literal_types import LiteralTypes
from ._msgpack import MSGPACK_TAG, unpack
from ._protobuf_values import decode_duration, decode_struct, decode_timestamp


class LiteralDecoder:
    """Turns a ``Literal`` into a native value; a declared type is checked, an absent one is inferred."""

    def __init__(self, types: LiteralTypes) -> None:
        self._types = types
        # Primitive field -> the simple type that declares it, and how a message names it.
        self._primitive_kinds = {
            "integer": (types.integer, "an integer literal"),
            "float_value": (types.float, "a float literal"),
            "string_value": (types.string, "a string literal"),
            "boolean": (types.boolean, "a boolean literal"),
            "datetime": (types.datetime, "a datetime literal"),
            "duration": (types.duration, "a duration literal"),
        }

    def decode(self, literal: Any, literal_type: Any, depth: int, *, strict: bool) -> Any:
        if depth > MAX_DEPTH:
            raise Mismatch(f"nested deeper than {MAX_DEPTH} levels")
        kind = literal_type.WhichOneof("type") if literal_type is not None else None
        which = literal.WhichOneof("value")
        if which == "scalar":
            scalar = literal.scalar
            if scalar.WhichOneof("value") == "union":
                union = scalar.union
                if kind is None and union.HasField("type"):
                    return self.decode(union.value, union.type, depth + 1, strict=strict)
                return self.decode(union.value, literal_type, depth + 1, strict=strict)
            if kind == "union_type":
                return self._decode_variants(literal, literal_type, depth)
            return self._decode_scalar(scalar, literal_type, kind, strict=strict)
        if kind == "union_type" and which in ("collection", "map"):
            return self._decode_variants(literal, literal_type, depth)
        if which == "collection":
            if kind not in (None, "collection_type"):
                raise self._types.declared(literal_type, "a list literal")
            return self._decode_list(
                literal.collection, literal_type.collection_type if kind else None, depth, strict
            )
        if which == "map":
            if kind not in (None, "map_value_type"):
                raise self._types.declared(literal_type, "a map literal")
            return self._decode_map(literal.map, literal_type.map_value_type if kind else None, depth, strict)
        if which == "offloaded_metadata":
            raise Mismatch(
                "the literal is offloaded to blob storage, which the connector service does not read; "
                "send it inline (raise the engine's literal offloading threshold)"
            )
        raise Mismatch("the literal is empty (no scalar, list or map is set)")

    def _decode_list(self, collection: Any, item_type: Any, depth: int, strict: bool) -> list[Any]:
        items = []
        for index, item in enumerate(collection.literals):
            try:
                items.append(self.decode(item, item_type, depth + 1, strict=strict))
            except Mismatch as exc:
                exc.path.append(index)
                raise
        return items

    def _decode_map(self, literal_map: Any, value_type: Any, depth: int, strict: bool) -> dict[str, Any]:
        result = {}
        for key, item in literal_map.literals.items():
            try:
                result[key] = self.decode(item, value_type, depth + 1, strict=strict)
            except Mismatch as exc:
                exc.path.append(key)
                raise
        return result

    def _decode_variants(self, literal: Any, literal_type: Any, depth: int) -> Any:
        variants = literal_type.union_type.variants
        for strict in (True, False):
            for variant in variants:
                try:
                    return self.decode(literal, variant, depth + 1, strict=strict)
                except Mismatch:
                    continue
        raise self._types.declared(literal_type, f"a {self._literal_kind(literal)} literal")

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
            if kind is not None and simple != self._types.none:
                raise self._types.declared(literal_type, "a none literal")
            return None
        if which == "generic":
            if kind is not None and simple != self._types.struct:
                raise self._types.declared(literal_type, "a struct literal")
            return decode_struct(scalar.generic, 0)
        if which == "blob":
            if kind not in (None, "blob"):
                raise self._types.declared(literal_type, "a blob literal")
            blob = scalar.blob
            dimensionality = blob.metadata.type.dimensionality
            if dimensionality not in (self._types.single, self._types.multipart):
                raise Mismatch(f"the blob has an unknown dimensionality ({dimensionality})")
            return BlobRef(
                uri=blob.uri,
                format=blob.metadata.type.format,
                dimensionality="multipart" if dimensionality == self._types.multipart else "single",
            )
        if which == "structured_dataset":
            if kind not in (None, "structured_dataset_type"):
                raise self._types.declared(literal_type, "a structured dataset literal")
            dataset = scalar.structured_dataset
            return StructuredDatasetRef(
                uri=dataset.uri, format=dataset.metadata.structured_dataset_type.format
            )
        if which == "binary" and scalar.binary.tag == MSGPACK_TAG:
            if kind is not None and simple != self._types.struct:
                raise self._types.declared(literal_type, "a msgpack binary literal")
            value = unpack(scalar.binary.value)
            if kind is not None and not isinstance(value, dict):
                raise self._types.declared(literal_type, f"msgpack of {python_type(value)}")
            return value
        if which is None:
            raise Mismatch("the scalar literal is empty (no value is set)")
        # binary of another tag, schema (the legacy dataframe type) and error.
        raise Mismatch(
            f"{which} literals are not supported by the connector service "
            "(supported: primitives, none, struct, blob, structured dataset, union, list, map)"
        )

    def _decode_primitive(
        self, primitive: Any, literal_type: Any, kind: str | None, simple: int | None, *, strict: bool
    ) -> Any:
        which = primitive.WhichOneof("value")
        if which is None:
            raise Mismatch("the primitive literal is empty (no value is set)")
        if which == "string_value" and kind == "enum_type":
            if primitive.string_value not in literal_type.enum_type.values:
                raise self._types.declared(literal_type, "a string that is not one of the enum's values")
            return primitive.string_value
        expected, got = self._primitive_kinds[which]
        if kind is not None and simple != expected:
            if which == "integer" and simple == self._types.float and not strict:
                return float(primitive.integer)
            raise self._types.declared(literal_type, got)
        if which == "datetime":
            return decode_timestamp(primitive.datetime)
        if which == "duration":
            return decode_duration(primitive.duration)
        return getattr(primitive, which)
