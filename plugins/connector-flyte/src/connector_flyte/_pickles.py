"""Where a caller's bytes would reach a pickle loader in Flyte 2, found before Flyte 2 is given them.

Flyte 2 unpickles (``cloudpickle.loads``) an input its TypeEngine types as ``FlytePickle`` (a
declared ``simple: BINARY``, or a blob of format ``PythonPickle``), and a generic literal whose
metadata says ``format: pickle`` (the file it names). A caller of CreateTask chooses both the
template and the literals, so either would run the caller's code in the serving process (issue 11).
A Flyte 2 connector's meta class may unpickle too, if it overrides Flyte 2's JSON ``decode``.
"""

from __future__ import annotations

import importlib
import os
import typing
from typing import Any

from connector import ConfigurationError

#: Set to 1 to let Flyte 2's TypeEngine unpickle the inputs a caller sends (see the README).
PICKLED_INPUTS_VARIABLE = "CONNECTOR_FLYTE_ACCEPT_PICKLED_INPUTS"
#: Set to 1 to let a connector's own meta ``decode`` read bytes no signature vouches for (see the README).
PICKLED_META_VARIABLE = "CONNECTOR_FLYTE_ACCEPT_PICKLED_META"

# What Flyte 2 writes and reads (flyte.types: MESSAGEPACK, FlytePickleTransformer.PYTHON_PICKLE_FORMAT).
_MESSAGEPACK = "msgpack"
_PICKLE_BLOB_FORMAT = "PythonPickle"
_BINARY = 7  # flyteidl2.core.types_pb2.SimpleType.BINARY
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def accepts(variable: str) -> bool:
    """Whether the operator set an opt-in ``variable`` (1/true/yes/on); unset or 0 is no.

    Any other value raises ``ConfigurationError`` naming it, so a typo never opts in.
    """
    value = os.environ.get(variable, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{variable}: {os.environ[variable]!r} is not a boolean (use 1 or 0)")


def pickle_in_type(literal_type: Any, path: str) -> str | None:
    """Where a declared flyteidl2 ``LiteralType`` is one Flyte 2 reads as a pickle, and what it is; else None.

    Collections, maps and unions are walked; ``path`` names the place (``x``, ``x[]`` a list item,
    ``x{}`` a map value, ``x|1`` a union's second variant).
    """
    kind = literal_type.WhichOneof("type")
    if kind == "simple" and literal_type.simple == _BINARY:
        return f"simple type BINARY at {path}"
    if kind == "blob" and literal_type.blob.format == _PICKLE_BLOB_FORMAT:
        return f"a blob of format {_PICKLE_BLOB_FORMAT} at {path}"
    if kind == "collection_type":
        return pickle_in_type(literal_type.collection_type, f"{path}[]")
    if kind == "map_value_type":
        return pickle_in_type(literal_type.map_value_type, f"{path}{{}}")
    if kind == "union_type":
        for index, variant in enumerate(literal_type.union_type.variants):
            found = pickle_in_type(variant, f"{path}|{index}")
            if found is not None:
                return found
    return None


def pickle_in_literal(literal: Any, path: str) -> str | None:
    """Where a flyteidl2 ``Literal`` holds bytes Flyte 2 may unpickle, and what they are; else None.

    A binary scalar not tagged ``msgpack`` (only the pickle transformer reads one), a blob of format
    ``PythonPickle``, a literal marked ``format: pickle``, and an offloaded literal (its contents
    are fetched by Flyte 2 from where the caller says, so cannot be checked here).
    """
    if literal.metadata.get("format") == "pickle":
        return f"a literal marked format: pickle at {path}"
    kind = literal.WhichOneof("value")
    if kind == "offloaded_metadata":
        uri = literal.offloaded_metadata.uri
        return f"an offloaded literal at {path} (Flyte 2 fetches it from {uri!r}, unchecked)"
    if kind == "collection":
        for index, item in enumerate(literal.collection.literals):
            found = pickle_in_literal(item, f"{path}[{index}]")
            if found is not None:
                return found
    if kind == "map":
        for key, item in sorted(literal.map.literals.items()):
            found = pickle_in_literal(item, f"{path}[{key!r}]")
            if found is not None:
                return found
    if kind != "scalar":
        return None
    scalar = literal.scalar
    value = scalar.WhichOneof("value")
    if value == "binary" and scalar.binary.tag != _MESSAGEPACK:
        return f"a binary scalar tagged {scalar.binary.tag!r}, not {_MESSAGEPACK!r}, at {path}"
    if value == "blob" and scalar.blob.metadata.type.format == _PICKLE_BLOB_FORMAT:
        return f"a blob of format {_PICKLE_BLOB_FORMAT} at {path}"
    if value == "union":
        return pickle_in_literal(scalar.union.value, path)
    return None


def holds_flyte_pickle(python_type: Any) -> bool:
    """Whether a Python type Flyte 2 guessed is, or has among its arguments, its ``FlytePickle``.

    A second check behind ``pickle_in_type``: whatever a release's TypeEngine guesses, an input it
    would hand to its pickle transformer is refused.
    """
    if isinstance(python_type, type) and any(
        klass.__name__ == "FlytePickle" and klass.__module__.startswith("flyte.")
        for klass in python_type.__mro__
    ):
        return True
    return any(holds_flyte_pickle(argument) for argument in typing.get_args(python_type))


def decodes_as_json(metadata_type: Any) -> bool:
    """Whether a Flyte 2 meta class's ``decode`` is Flyte 2's own (``json.loads``, then its fields).

    True only when the first class in its MRO that defines ``decode`` is ``flyte.connectors.ResourceMeta``.
    """
    flyte_meta = importlib.import_module("flyte.connectors").ResourceMeta
    for klass in getattr(metadata_type, "__mro__", ()):
        if "decode" in vars(klass):
            return klass is flyte_meta
    return False
