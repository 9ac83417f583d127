"""Local runs of raw-literals connectors: the run's template and inputs as flyteidl v1 messages, and back.

A connector with ``raw_literals = True`` takes the protocol's own messages. ``connector run`` speaks
flyteidl v1 to it, as propeller would: ``task_template.raw`` is a v1 ``TaskTemplate`` built from the
template view, ``inputs`` a v1 ``LiteralMap`` encoded by the core's literal codec (typed by the
template's interface where it declares one), and a ``LiteralMap`` in its outputs is decoded back to
native values for the display, ``--json`` and the result. Needs the server extra.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Mapping
from typing import Any

from .._exceptions import HookResultError, InputValueError, LiteralConversionError, MissingExtraError
from .._model import Resource, TaskCategory, TaskInterface, TaskTemplate
from ..registry._loaded import LoadedConnector

#: What building and reading v1 messages needs, by import name (both come with the server extra).
_NEEDED = ("google.protobuf", "flyteidl")
_INSTALL = 'pip install "connector-core[server]"'


def _check_extra(category: TaskCategory) -> None:
    for name in _NEEDED:
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:  # a parent package is missing
            found = False
        if not found:
            raise MissingExtraError(
                f"task type {category} takes raw literals (flyteidl messages), so running it locally "
                f"needs the server extra (module {name!r} is missing). Install it with: {_INSTALL}",
                extra="server",
                module=name,
            )


def raw_template(category: TaskCategory, template: TaskTemplate) -> TaskTemplate:
    """``template`` with ``raw`` set to the v1 ``TaskTemplate`` message of its view (kept if set already).

    The message has the type, version, custom fields (a ``Struct``), config, container, SQL and,
    when the view declares one, the interface. Raises ``MissingExtraError`` without the server extra
    and ``InputValueError`` for custom fields a ``Struct`` cannot hold.
    """
    _check_extra(category)
    if template.raw is not None:
        return template
    from flyteidl.core import tasks_pb2

    from ..server._adapters import python_to_struct

    message = tasks_pb2.TaskTemplate(type=template.type, task_type_version=template.task_type_version)
    try:
        python_to_struct(template.custom, message.custom)
    except ValueError as exc:
        raise InputValueError(
            f"the template's custom fields cannot be sent: {exc}", option="--custom"
        ) from exc
    message.config.update(template.config)
    if template.container_image is not None or template.container_args:
        message.container.image = template.container_image or ""
        message.container.args.extend(template.container_args)
    if template.sql is not None:
        message.sql.statement = template.sql
    if template.interface is not None:
        message.interface.CopyFrom(_typed_interface(template.interface))
    return dataclasses.replace(template, raw=message)


def raw_inputs(category: TaskCategory, template: TaskTemplate, inputs: Mapping[str, Any]) -> Any:
    """``inputs`` as a v1 ``LiteralMap``, typed by the template's declared inputs.

    Raises ``MissingExtraError`` without the server extra and ``InputValueError`` naming an input
    that has no literal form (or does not fit its declared type).
    """
    _check_extra(category)
    from ..server._literals import v1_codec

    declared = _literal_types(template.interface.inputs) if template.interface is not None else None
    try:
        return v1_codec().to_literal_map(inputs, declared)
    except LiteralConversionError as exc:
        raise InputValueError(
            f"input {exc.name!r} cannot be sent as a literal: {exc.reason}", option="--input"
        ) from exc


def native_resource(
    loaded: LoadedConnector, hook: str, template: TaskTemplate, resource: Resource
) -> Resource:
    """``resource`` with a v1 ``LiteralMap`` in its outputs decoded to native values (typed by the
    template's interface); ``HookResultError`` for a literal map of flyteidl2 or one that does not decode.
    """
    outputs = resource.outputs
    if outputs is None or isinstance(outputs, Mapping):
        return resource
    from ..server._literals import v1_codec

    full_name = type(outputs).DESCRIPTOR.full_name
    if full_name != "flyteidl.core.LiteralMap":
        raise HookResultError(
            f"returned outputs of type {full_name}, but connector run speaks flyteidl v1, whose outputs "
            "are a flyteidl.core.LiteralMap; return the literal map of the protocol of the inputs given",
            category=loaded.category,
            hook=hook,
            origin=loaded.origin,
        )
    declared = _literal_types(template.interface.outputs) if template.interface is not None else None
    try:
        native = v1_codec().to_python(outputs, declared)
    except LiteralConversionError as exc:
        problem = (
            f"returned a literal map that connector run cannot decode: output {exc.name!r}: {exc.reason}"
        )
        raise HookResultError(problem, category=loaded.category, hook=hook, origin=loaded.origin) from exc
    return dataclasses.replace(resource, outputs=native)


def _typed_interface(interface: TaskInterface) -> Any:
    from flyteidl.core import interface_pb2

    message = interface_pb2.TypedInterface()
    for side, declared in (("inputs", interface.inputs), ("outputs", interface.outputs)):
        variables = getattr(message, side).variables
        for name, literal_type in _literal_types(declared).items():
            variables[name].type.CopyFrom(literal_type)
    return message


def _literal_types(declared: Mapping[str, str]) -> dict[str, Any]:
    """``{name: LiteralType}`` of the interface's simple type names (see ``TaskInterface``).

    A list or map has element types the view does not keep: their elements are typed by their
    values, as are values of a union or ``unknown`` type.
    """
    from flyteidl.core import types_pb2

    simple = {
        "integer": types_pb2.SimpleType.INTEGER,
        "float": types_pb2.SimpleType.FLOAT,
        "string": types_pb2.SimpleType.STRING,
        "boolean": types_pb2.SimpleType.BOOLEAN,
        "datetime": types_pb2.SimpleType.DATETIME,
        "duration": types_pb2.SimpleType.DURATION,
        "none": types_pb2.SimpleType.NONE,
        "struct": types_pb2.SimpleType.STRUCT,
    }
    types = {}
    for name, type_name in declared.items():
        literal_type = types_pb2.LiteralType()
        if type_name in simple:
            literal_type.simple = simple[type_name]
        elif type_name == "blob":
            literal_type.blob.dimensionality = types_pb2.BlobType.SINGLE
        elif type_name == "structured_dataset":
            literal_type.structured_dataset_type.SetInParent()
        elif type_name == "list":
            literal_type.collection_type.SetInParent()
        elif type_name == "map":
            literal_type.map_value_type.SetInParent()
        types[name] = literal_type
    return types
