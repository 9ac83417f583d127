"""One IDL's literal types: the numbers its ``types_pb2`` gives them and the names messages use for them."""

from __future__ import annotations

from typing import Any

from ._literal_mismatch import Mismatch, shorten

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


class LiteralTypes:
    """The ``SimpleType`` and ``BlobDimensionality`` numbers of one IDL, and readable type names."""

    def __init__(self, types_pb2: Any) -> None:
        simple = types_pb2.SimpleType
        self.simple_names = {simple.Value(key): name for key, name in _SIMPLE_NAMES.items()}
        self.simple_names[simple.Value("BINARY")] = "binary"
        self.simple_names[simple.Value("ERROR")] = "error"
        self.none = simple.Value("NONE")
        self.integer = simple.Value("INTEGER")
        self.float = simple.Value("FLOAT")
        self.string = simple.Value("STRING")
        self.boolean = simple.Value("BOOLEAN")
        self.datetime = simple.Value("DATETIME")
        self.duration = simple.Value("DURATION")
        self.struct = simple.Value("STRUCT")
        dimensionality = types_pb2.BlobType.BlobDimensionality
        self.single = dimensionality.Value("SINGLE")
        self.multipart = dimensionality.Value("MULTIPART")

    def describe(self, literal_type: Any) -> str:
        if literal_type is None:
            return "unknown"
        kind = literal_type.WhichOneof("type")
        if kind == "simple":
            name = self.simple_names.get(literal_type.simple, "unknown")
            return name if name in _SIMPLE_NAMES.values() else "unknown"
        return _KIND_NAMES.get(kind or "", "unknown")

    def type_text(self, literal_type: Any) -> str:
        kind = literal_type.WhichOneof("type") if literal_type is not None else None
        if kind == "collection_type":
            return f"list of {self.type_text(literal_type.collection_type)}"
        if kind == "map_value_type":
            return f"map of {self.type_text(literal_type.map_value_type)}"
        if kind == "union_type":
            return "union of " + " | ".join(self.type_text(v) for v in literal_type.union_type.variants)
        if kind == "simple":
            return self.simple_names.get(literal_type.simple, f"simple type {literal_type.simple}")
        if kind == "schema":
            return "schema"
        if kind == "enum_type":
            return "enum of " + ", ".join(repr(v) for v in literal_type.enum_type.values)
        return self.describe(literal_type)

    def declared(self, literal_type: Any, got: str) -> Mismatch:
        declared = shorten(self.type_text(literal_type), 300)
        return Mismatch(f"expected {declared} (declared in the task interface), got {got}")
