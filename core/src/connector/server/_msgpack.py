"""msgpack Binary literals: how flytekit 1.14 and later write a ``dict`` (a STRUCT tagged msgpack)."""

from __future__ import annotations

from typing import Any

from ._literal_mismatch import MAX_DEPTH, Mismatch

#: The literal's tag, and the annotation of a STRUCT type that asks for it (flytekit's names).
MSGPACK_TAG = "msgpack"
_METADATA_KEY = "cache-key-metadata"
_FORMAT_KEY = "serialization-format"


def wants_msgpack(literal_type: Any) -> bool:
    """Whether a STRUCT literal type is annotated to be carried as msgpack bytes."""
    if not literal_type.HasField("annotation"):
        return False
    metadata = literal_type.annotation.annotations.fields.get(_METADATA_KEY)
    if metadata is None or metadata.WhichOneof("kind") != "struct_value":
        return False
    fmt = metadata.struct_value.fields.get(_FORMAT_KEY)
    return fmt is not None and fmt.string_value == MSGPACK_TAG


def pack(value: Any) -> bytes:
    """msgpack bytes of a JSON-like value (dicts, lists, strings, numbers, booleans, None, bytes)."""
    import msgpack

    try:
        return bytes(msgpack.packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError) as exc:
        raise Mismatch(f"the value cannot be written as msgpack: {exc}") from None


def unpack(data: bytes) -> Any:
    """The value of msgpack bytes: a timestamp comes back an aware ``datetime``; other extensions fail."""
    import msgpack

    def refuse(code: int, _data: bytes) -> Any:
        raise Mismatch(f"msgpack extension type {code} is not supported")

    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=refuse, timestamp=3)
    except Mismatch:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        # Corrupt bytes, trailing data, nesting past msgpack's limit, an unhashable map key.
        raise Mismatch(f"the msgpack bytes do not decode: {exc}") from None
    _check_shape(value)
    return value


def _check_shape(value: Any) -> None:
    """The codec's own limits, which msgpack's are looser than: nesting depth, and string map keys."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise Mismatch(f"the msgpack value is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise Mismatch(f"the msgpack map has a key that is not a string: {type(key).__name__}")
                pending.append((child, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
