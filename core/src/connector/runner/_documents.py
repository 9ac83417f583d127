"""Template documents: a ``TaskTemplate`` as the JSON-ready mapping a template file and the journal hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._exceptions import InputValueError
from .._model import TaskInterface, TaskTemplate

# The keys a ``--template`` file may have, each with the type its value must have.
_TEMPLATE_SHAPES: dict[str, type] = {
    "type": str,
    "task_type_version": int,
    "custom": dict,
    "config": dict,
    "container_image": str,
    "container_args": list,
    "sql": str,
    "metadata": dict,
    "interface": dict,
    "id": str,
}
#: The keys a ``--template`` file may have, with what each becomes in the ``TaskTemplate``.
TEMPLATE_KEYS = tuple(_TEMPLATE_SHAPES)


def value_kind(value: Any) -> str:
    """What a document's value is, in words for an error message: list, string, number, boolean..."""
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def template_from_document(document: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """Check a ``--template`` document and return the ``TaskTemplate`` keyword arguments it gives.

    Raises ``InputValueError`` for an unknown key or a value of the wrong shape.
    """
    option = f"--template {source!r}"
    unknown = sorted(set(document) - set(TEMPLATE_KEYS))
    if unknown:
        raise InputValueError(
            f"{option}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(TEMPLATE_KEYS)}",
            option="--template",
        )
    kwargs: dict[str, Any] = {}
    for key, value in document.items():
        if value is None:
            continue
        wanted = _TEMPLATE_SHAPES[key]
        if not isinstance(value, wanted) or (key == "task_type_version" and isinstance(value, bool)):
            raise InputValueError(
                f"{option}: {key!r} must be a {_kind_of(wanted)}, not a {value_kind(value)}",
                option="--template",
            )
        kwargs[key] = value
    if "config" in kwargs:
        kwargs["config"] = {str(k): str(v) for k, v in kwargs["config"].items()}
    if "container_args" in kwargs:
        kwargs["container_args"] = [str(a) for a in kwargs["container_args"]]
    if "interface" in kwargs:
        kwargs["interface"] = _interface(kwargs["interface"], option)
    return kwargs


def _kind_of(tp: type) -> str:
    return {dict: "mapping", list: "list", str: "string", int: "whole number"}[tp]


#: Interface type names whose values a raw command-line string can be converted to.
INTERFACE_TYPES = (
    "integer",
    "float",
    "string",
    "boolean",
    "datetime",
    "duration",
    "none",
    "struct",
    "blob",
    "structured_dataset",
    "list",
    "map",
    "union",
    "unknown",
)


def _interface(document: Mapping[str, Any], option: str) -> TaskInterface:
    unknown = sorted(set(document) - {"inputs", "outputs"})
    if unknown:
        raise InputValueError(
            f"{option}: interface has unknown key(s) {', '.join(map(repr, unknown))}; "
            "known keys: inputs, outputs",
            option="--template",
        )
    parts: dict[str, dict[str, str]] = {}
    for side in ("inputs", "outputs"):
        declared = document.get(side) or {}
        if not isinstance(declared, dict):
            raise InputValueError(
                f"{option}: interface {side} must be a mapping of names to type names", option="--template"
            )
        for name, type_name in declared.items():
            if type_name not in INTERFACE_TYPES:
                raise InputValueError(
                    f"{option}: interface {side} {name!r} has unknown type {type_name!r}; "
                    f"known types: {', '.join(INTERFACE_TYPES)}",
                    option="--template",
                )
        parts[side] = {str(k): str(v) for k, v in declared.items()}
    return TaskInterface(inputs=parts["inputs"], outputs=parts["outputs"])


def template_to_document(template: TaskTemplate) -> dict[str, Any]:
    """The JSON-ready fields of a template (everything but ``raw``), as the journal stores them."""
    document = {f.name: getattr(template, f.name) for f in dataclasses.fields(template) if f.name != "raw"}
    if template.interface is not None:
        document["interface"] = {
            "inputs": dict(template.interface.inputs),
            "outputs": dict(template.interface.outputs),
        }
    return document
