"""The literal codec (Flyte literals to native Python values and back) and its per-IDL instances."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .._exceptions import LiteralConversionError
from .._model import TaskInterface
from ._literal_decoder import LiteralDecoder
from ._literal_encoder import LiteralEncoder
from ._literal_mismatch import Mismatch, python_type, where
from ._literal_types import LiteralTypes

__all__ = ["LiteralCodec", "v1_codec", "v2_codec"]


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
        self._literal_map_cls = literals_pb2.LiteralMap
        self._types = LiteralTypes(types_pb2)
        self._decoder = LiteralDecoder(self._types)
        self._encoder = LiteralEncoder(literals_pb2.Literal, self._types)

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
                result[name] = self._decoder.decode(literal, declared.get(name), 0, strict=False)
            except Mismatch as exc:
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
                raise LiteralConversionError(str(name), f"names must be strings, not {python_type(name)}")
            target = literals.add(name=name).value if named else literals[name]
            try:
                self._encoder.encode(target, value, declared.get(name), 0, strict=False)
            except Mismatch as exc:
                raise self._error(name, exc, "output") from None
        return message

    def describe(self, literal_type: Any) -> str:
        """The simple type name (as in :class:`~connector.TaskInterface`) of a ``LiteralType``."""
        return self._types.describe(literal_type)

    def type_text(self, literal_type: Any) -> str:
        """A readable rendering of a ``LiteralType`` for messages: ``list of integer``, ``union of ...``."""
        return self._types.type_text(literal_type)

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
    def _error(name: str, exc: Mismatch, kind: str) -> LiteralConversionError:
        reason = exc.reason
        if exc.path:
            reason = f"{reason} (at {where(exc.path)})"
        return LiteralConversionError(name, reason, kind=kind)


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
