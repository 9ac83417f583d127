"""Declared connector fields: the custom fields, inputs and outputs a connector documents and checks."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._exceptions import CustomFieldError

#: The types a field may declare, with the name messages, ``connector show`` and the docs use.
#: JSON's names, since a template's custom fields travel as a protobuf ``Struct`` (JSON's model).
TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    object: "any",
}

FieldType = type | tuple[type, ...]


@dataclasses.dataclass(frozen=True)
class Field:
    """One declared field of a connector: a custom field of its template, an input or an output.

    ``name`` may be dotted (``submit.url``): the field ``url`` of the object ``submit``. ``type``
    is ``str``, ``int``, ``float`` (any number), ``bool``, ``dict``, ``list``, ``object`` (any
    value) or a tuple of them; a custom field's value is checked against it before ``create`` and
    ``do`` (an ``int`` field takes a whole ``float``, as a ``Struct`` carries every number, and the
    hook sees an ``int``). ``required`` fields must be present and not null; a missing field with
    a ``default`` gets a copy of it, so the hook sees it. ``help`` is one sentence for
    ``connector show``, ``connector run --help-fields`` and the generated docs.
    """

    name: str
    type: FieldType = object
    default: Any = None
    required: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not all(part.strip() for part in self.name.split(".")):
            raise TypeError(f"a field's name must be a non-empty string of dotted parts; got {self.name!r}")
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        unknown = [t for t in types if t not in TYPE_NAMES]
        if not types or unknown:
            raise TypeError(
                f"field {self.name!r}: type {self.type!r} is not one of "
                f"{', '.join(t.__name__ for t in TYPE_NAMES)}, or a tuple of them"
            )
        if self.required and self.default is not None:
            raise TypeError(f"field {self.name!r} is required and has a default; give it one or the other")
        if self.default is not None and not _fits(types, self.default):
            raise TypeError(
                f"field {self.name!r}: its default {self.default!r} is not {_article(self.type_name)}"
            )

    @property
    def type_name(self) -> str:
        """The type as messages and docs name it: ``string``, ``number or string``, ..."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        return " or ".join(TYPE_NAMES[t] for t in types)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the declaration (``connector show --json``)."""
        return {
            "name": self.name,
            "type": self.type_name,
            "required": self.required,
            "default": self.default,
            "help": self.help,
        }


def _fits(types: tuple[type, ...], value: Any) -> bool:
    for wanted in types:
        if wanted is object:
            return True
        if wanted is bool and isinstance(value, bool):
            return True
        if isinstance(value, bool):
            continue  # a bool is an int to Python, never a number to a template
        if wanted is int and (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            return True
        if wanted is float and isinstance(value, (int, float)):
            return True
        if wanted is str and isinstance(value, str):
            return True
        if wanted is dict and isinstance(value, Mapping):
            return True
        if wanted is list and isinstance(value, (list, tuple)):
            return True
    return False


def _converted(types: tuple[type, ...], value: Any) -> Any:
    # A whole float for an int field is the Struct's way of sending an integer: the hook gets the int.
    if int in types and float not in types and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class FieldSet:
    """The checked custom-field declaration of one loaded connector; ``check`` applies it to a template.

    ``applies`` is the connector's ``custom_fields_apply``, if it has one: it answers, for a
    template, whether the declaration describes it (a connector that also takes another schema,
    as ``webhook`` takes flytekit's ``WebhookTask``, answers False for those, which pass unchecked).
    """

    def __init__(
        self, fields: Iterable[Field], *, task: str, applies: Callable[[Any], object] | None = None
    ) -> None:
        self.fields = tuple(fields)
        self.task = task
        self.applies = applies
        self._by_name = {field.name: field for field in self.fields}
        # Every dotted prefix is an object (a group) whose keys are checked too.
        self._groups = {
            ".".join(parts[:n])
            for parts in (f.name.split(".") for f in self.fields)
            for n in range(1, len(parts))
        }

    def _fail(self, message: str, name: str) -> CustomFieldError:
        return CustomFieldError(f"{self.task}: {message}", field=name)

    def check(self, custom: Mapping[str, Any]) -> dict[str, Any]:
        """``custom`` with defaults filled in; ``CustomFieldError`` naming the first field at fault."""
        return self._level(custom, "")

    def _children(self, prefix: str) -> list[str]:
        names = [*self._by_name, *self._groups]
        return [n for n in dict.fromkeys(names) if n.startswith(prefix) and "." not in n[len(prefix) :]]

    def _level(self, values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        known = self._children(prefix)
        for key in values:
            full = f"{prefix}{key}"
            if full not in known:
                raise self._fail(_unknown(full, known), full)
        result = dict(values)
        for full in known:
            key = full[len(prefix) :]
            field = self._by_name.get(full)
            value = values.get(key)
            if value is None:
                if field is not None and field.required:
                    raise self._fail(f"the custom field {full!r} is required", full)
                if field is not None and field.default is not None and key not in values:
                    result[key] = copy.deepcopy(field.default)
                continue
            if field is not None:
                types = field.type if isinstance(field.type, tuple) else (field.type,)
                if not _fits(types, value):
                    wanted = _article(field.type_name)
                    raise self._fail(
                        f"the custom field {full!r} must be {wanted}; got {_described(value)}", full
                    )
                result[key] = _converted(types, value)
            if full in self._groups:
                if not isinstance(value, Mapping):
                    raise self._fail(
                        f"the custom field {full!r} must be an object; got {_described(value)}", full
                    )
                result[key] = self._level(value, f"{full}.")
        return result


def _unknown(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"unknown custom field {name!r}; did you mean {close[0]!r}?"
    listed = ", ".join(known) if known else "none"
    return f"unknown custom field {name!r}; the custom fields are: {listed}"


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _described(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    kinds = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (Mapping, "object"))
    kind = next((name for t, name in kinds if isinstance(value, t)), "")
    if isinstance(value, (list, tuple)):
        kind = "array"
    return f"{_article(kind)} {text}" if kind else text


def declared_fields(declared: object, *, attribute: str) -> tuple[Field, ...]:
    """A connector's ``custom_fields``, ``input_fields`` or ``output_fields``, checked as a declaration.

    Raises ``TypeError`` saying what is wrong: not a sequence of ``Field``, a name given twice, or
    an object (a dotted name's prefix) declared with a type other than ``dict`` or ``object``.
    """
    if isinstance(declared, (str, bytes, Mapping)) or not isinstance(declared, Iterable):
        raise TypeError(f"{attribute} must be a tuple of connector.Field; got {type(declared).__name__}")
    fields = tuple(declared)
    for item in fields:
        if not isinstance(item, Field):
            raise TypeError(f"{attribute} must hold connector.Field objects only; got {item!r}")
    seen: set[str] = set()
    for field in fields:
        if field.name in seen:
            raise TypeError(f"{attribute} declares {field.name!r} twice")
        seen.add(field.name)
    for field in fields:
        parts = field.name.split(".")
        for n in range(1, len(parts)):
            group = ".".join(parts[:n])
            owner = next((f for f in fields if f.name == group), None)
            if owner is not None and owner.type not in (dict, object):
                raise TypeError(
                    f"{attribute} declares {field.name!r} inside {group!r}, whose type is "
                    f"{owner.type_name}, not an object (dict)"
                )
    return fields
