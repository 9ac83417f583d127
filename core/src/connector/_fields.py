"""Declared connector fields: the custom fields, inputs and outputs a connector documents and checks."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ._exceptions import CustomFieldError

if TYPE_CHECKING:
    from ._model import TaskTemplate

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
        if wanted is float and (
            isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        ):
            return True  # NaN and infinities are no numbers a template means (a Struct can carry them)
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


#: The longest key a message or a ``CustomFieldError.field`` shows whole; longer ones are cut (issue 12).
_SHOWN = 60
# difflib's default cutoff (0.6) needs 2*matches/(len(a)+len(b)) >= 0.6, so a key longer than
# 7/3 of every candidate can match none: it is never handed to difflib (a 1 MB key cost 0.5 s).
_CLOSE_RATIO = 7 / 3


def _shown(name: str) -> str:
    return name if len(name) <= _SHOWN else name[: _SHOWN - 1] + "…"


class _Entry(NamedTuple):
    """One declared key of one object: what the check of that key needs, worked out once."""

    key: str
    full: str
    required: bool
    types: (
        tuple[type, ...] | None
    )  # None: any value (type ``object``, or a group declared only by its fields)
    is_group: bool
    default: Any  # converted, so a hook never sees 3.0 for an int field's default 3.0
    mutable_default: bool


class _Plan(NamedTuple):
    """The check of one object (the template's custom, or a group in it)."""

    allowed: frozenset[str]
    names: tuple[str, ...]  # full names, in declaration order, for messages
    longest: int
    entries: tuple[_Entry, ...]


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
        by_name = {field.name: field for field in self.fields}
        # Every dotted prefix is an object (a group) whose keys are checked too.
        groups = {
            ".".join(parts[:n])
            for parts in (f.name.split(".") for f in self.fields)
            for n in range(1, len(parts))
        }
        names = list(dict.fromkeys([*by_name, *groups]))
        # Each object's plan is made here once, not at every call (the check runs on every create/do).
        self._plans: dict[str, _Plan] = {}
        for prefix in ["", *(f"{group}." for group in groups)]:
            children = tuple(n for n in names if n.startswith(prefix) and "." not in n[len(prefix) :])
            entries = []
            for full in children:
                field = by_name.get(full)
                types = _types(field.type) if field is not None else None
                if types is not None and object in types:
                    types = None
                default = None if field is None else field.default
                if default is not None and types is not None:
                    default = _converted(types, default)
                mutable = not isinstance(default, (str, int, float, bool, type(None)))
                entries.append(
                    _Entry(
                        full[len(prefix) :],
                        full,
                        field is not None and field.required,
                        types,
                        full in groups,
                        default,
                        mutable,
                    )
                )
            keys = frozenset(entry.key for entry in entries)
            self._plans[prefix] = _Plan(keys, children, max(map(len, children), default=0), tuple(entries))

    def _fail(self, message: str, name: str) -> CustomFieldError:
        return CustomFieldError(f"{self.task}: {message}", field=name)

    def check(self, custom: Mapping[str, Any]) -> dict[str, Any]:
        """``custom`` with defaults filled in; ``CustomFieldError`` naming the first field at fault."""
        return self._level(custom, "")

    def checked(self, template: TaskTemplate) -> TaskTemplate:
        """A copy of ``template`` whose ``custom`` is ``check``-ed; ``raw`` is left as it was.

        ``applies`` is not asked here: the call layer asks it, as connector code (``checked_template``).
        """
        copied = object.__new__(type(template))  # cheaper than dataclasses.replace, which runs __init__
        copied.__dict__.update(template.__dict__)
        copied.custom = self._level(template.custom, "")
        return copied

    def _level(self, values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        plan = self._plans[prefix]
        allowed = plan.allowed
        for key in values:
            if key not in allowed:
                raise self._unknown(f"{prefix}{key}", plan)
        result = dict(values)
        for key, full, required, types, is_group, default, mutable in plan.entries:
            value = values.get(key)
            if value is None:
                if required:
                    raise self._fail(f"the custom field {full!r} is required", full)
                if default is None:
                    continue  # left out, or null on purpose: passed on as it is, and a group goes unchecked
                # A default (also for an explicit null: flytekit writes null for unset fields) is then
                # checked like a given value, so a group's default gets its own fields' defaults.
                value = copy.deepcopy(default) if mutable else default
            elif types is not None:
                if not _fits(types, value):
                    wanted = _article(" or ".join(TYPE_NAMES[t] for t in types))
                    raise self._fail(
                        f"the custom field {full!r} must be {wanted}; got {_described(value)}", full
                    )
                value = _converted(types, value)
            if is_group:
                if not isinstance(value, Mapping):
                    raise self._fail(
                        f"the custom field {full!r} must be an object; got {_described(value)}", full
                    )
                value = self._level(value, f"{full}.")
            result[key] = value
        return result

    def _unknown(self, name: str, plan: _Plan) -> CustomFieldError:
        shown = _shown(name)
        # Only the first unknown key is looked at, and one far longer than any declared name
        # cannot be close to one: difflib (quadratic) never sees a huge key.
        if len(name) <= plan.longest * _CLOSE_RATIO:
            import difflib

            close = difflib.get_close_matches(name, plan.names, n=1)
            if close:
                return self._fail(f"unknown custom field {shown!r}; did you mean {close[0]!r}?", shown)
        listed = ", ".join(plan.names) if plan.names else "none"
        return self._fail(f"unknown custom field {shown!r}; the custom fields are: {listed}", shown)


def _types(declared: FieldType) -> tuple[type, ...]:
    return declared if isinstance(declared, tuple) else (declared,)


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _described(value: Any) -> str:
    """What a refused value is, by kind and size: never the value, which may be a secret (issue 12)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return f"a string of {_count(len(value), 'character')}"
    if isinstance(value, Mapping):
        return f"an object of {_count(len(value), 'key')}"
    if isinstance(value, (list, tuple)):
        return f"an array of {_count(len(value), 'item')}"
    return _article(type(value).__name__)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
