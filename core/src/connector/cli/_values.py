"""Typed values for ``connector run``: ``KEY=VALUE`` options, ``@file`` values, and JSON or YAML files."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._exceptions import InputValueError
from .._model import TaskInterface, TaskTemplate
from ..runner._documents import template_from_document, value_kind

_INTEGER = re.compile(r"[-+]?[0-9]+")
# A decimal with a point or an exponent; "nan", "inf" and "1_000" stay strings on purpose.
_FLOAT = re.compile(r"[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)")
_BOOLEANS = {"true": True, "false": False}


def parse_value(text: str, *, option: str = "value") -> Any:
    """Turn one command-line value into a typed Python value.

    In order: ``@PATH`` is the text of that file (``@@`` escapes a leading ``@``); ``true`` and
    ``false`` (any case) are booleans; whole numbers are ints; decimals with a point or exponent
    are floats; text starting with ``{``, ``[`` or ``"``, and ``null``, is JSON (a quoted JSON
    string is how to pass ``"123"`` as text); anything else is the string as given.
    Raises ``InputValueError`` naming ``option`` for an unreadable file or malformed JSON.
    """
    if text.startswith("@@"):
        return text[1:]
    if text.startswith("@"):
        return _read_text(text[1:], option)
    lowered = text.lower()
    if lowered in _BOOLEANS:
        return _BOOLEANS[lowered]
    if _INTEGER.fullmatch(text) or _FLOAT.fullmatch(text):
        return _number(text, option)
    if text == "null" or text[:1] in ("{", "[", '"'):
        try:
            return _json_loads(text)
        except ValueError as exc:
            raise InputValueError(
                f"{option}: {text!r} looks like JSON but is not valid JSON ({_json_problem(exc)}); "
                "fix it, or pass text that starts with '{', '[' or '\"' as a quoted JSON string",
                option=option,
            ) from None
    return text


def _number(text: str, option: str) -> int | float:
    try:
        number: int | float = int(text) if _INTEGER.fullmatch(text) else float(text)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        number = math.inf
    if math.isinf(number):
        raise InputValueError(
            f"{option}: the number {_shorten(text)} is too large; pass it as a quoted JSON string",
            option=option,
        )
    return number


def _shorten(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}...({len(text)} characters)"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_loads(text: str) -> Any:
    """``json.loads``, refusing the NaN and Infinity Python's parser accepts (they cannot be printed back)."""
    return json.loads(text, parse_constant=_reject_constant)


def _json_problem(exc: ValueError, *, line: bool = False) -> str:
    """What ``_json_loads`` found wrong, and where when the parser says."""
    if not isinstance(exc, json.JSONDecodeError):
        return str(exc)  # NaN or Infinity: the parser does not say where
    where = f"line {exc.lineno} column {exc.colno}" if line else f"column {exc.colno}"
    # Some messages end in "starting at", which reads badly before our own "at column N".
    return f"{exc.msg.removesuffix(' at')} at {where}"


def _read_text(path_text: str, option: str) -> str:
    if not path_text:
        raise InputValueError(
            f"{option}: '@' must be followed by a file name (use '@@' for a literal '@')", option=option
        )
    path = Path(path_text).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputValueError(f"{option}: file {path_text!r} does not exist", option=option) from None
    except IsADirectoryError:
        raise InputValueError(f"{option}: {path_text!r} is a directory, not a file", option=option) from None
    except UnicodeDecodeError:
        raise InputValueError(f"{option}: file {path_text!r} is not UTF-8 text", option=option) from None
    except OSError as exc:
        raise InputValueError(f"{option}: cannot read {path_text!r}: {exc.strerror}", option=option) from None


def split_assignments(items: Iterable[str], *, option: str) -> dict[str, str]:
    """Split ``KEY=VALUE`` items into a dict of the values' text (keys stripped of spaces).

    Raises ``InputValueError`` for an item without ``=``, an empty key, or a key given twice.
    """
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise InputValueError(f"{option} {item!r}: expected KEY=VALUE", option=option)
        if not key:
            raise InputValueError(f"{option} {item!r}: the key before '=' is empty", option=option)
        if key in result:
            raise InputValueError(f"{option} {key!r} is given twice", option=option)
        result[key] = value
    return result


def parse_assignments(items: Iterable[str], *, option: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` items (see ``split_assignments``), each value typed by ``parse_value``."""
    texts = split_assignments(items, option=option)
    return {key: parse_value(text, option=f"{option} {key}") for key, text in texts.items()}


def custom_over(
    base: Mapping[str, Any], values: Mapping[str, Any], *, dotted: bool, option: str = "--custom"
) -> dict[str, Any]:
    """The template file's ``custom`` with the ``--custom`` values set over it.

    A whole key replaces the file's value (``--custom headers={}`` clears the file's headers). With
    ``dotted`` (the connector declares its fields), a dotted key sets one field of an object and
    keeps the object's other fields: ``--custom submit.url=...`` keeps the file's ``submit.method``.
    Without it a dot is part of the key, as before issue 12: an undeclared connector's keys may hold
    dots. Raises ``InputValueError`` when a key is both a value and an object (``a=1`` and ``a.b=2``)
    or has an empty part (``a..b``).
    """
    result = dict(base)
    if not dotted:
        result.update(values)
        return result
    for key in values:
        if not all(key.split(".")):
            raise InputValueError(f"{option} {key!r}: a dotted key has an empty part", option=option)
        inner = next((other for other in values if other.startswith(f"{key}.")), None)
        if inner is not None:
            raise InputValueError(
                f"{option} {key!r} and {inner!r}: give the object or its fields, not both", option=option
            )
    for key, value in values.items():
        *parents, last = key.split(".")
        target = result
        for part in parents:
            # A copy of each object on the way, so the file's document is left as it was.
            inner_value = target.get(part)
            target[part] = dict(inner_value) if isinstance(inner_value, Mapping) else {}
            target = target[part]
        target[last] = value
    return result


def load_document(path_text: str, *, option: str) -> Any:
    """Read a JSON or YAML file: ``.yaml``/``.yml`` as YAML, anything else as JSON, then YAML.

    YAML needs PyYAML (``pip install 'connector-core[yaml]'``); without it a YAML file raises
    ``InputValueError`` saying so.
    """
    text = _read_text(path_text, option)
    suffix = Path(path_text).suffix.lower()
    if suffix not in (".yaml", ".yml"):
        try:
            return _json_loads(text)
        except ValueError as exc:
            json_error = _json_problem(exc, line=True)
            if suffix == ".json":
                raise InputValueError(
                    f"{option}: {path_text!r} is not valid JSON: {json_error}", option=option
                ) from None
            return _load_yaml(text, path_text, option, json_error=json_error)
    return _load_yaml(text, path_text, option)


def _load_yaml(text: str, path_text: str, option: str, *, json_error: str | None = None) -> Any:
    try:
        import yaml
    except ImportError:
        not_json = f"it is not JSON ({json_error}) and " if json_error else ""
        raise InputValueError(
            f"{option}: cannot read {path_text!r}: {not_json}reading YAML needs PyYAML, "
            "which is not installed; "
            "install it with: pip install 'connector-core[yaml]'",
            option=option,
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1} column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        kind = "JSON or YAML" if json_error else "YAML"
        raise InputValueError(
            f"{option}: {path_text!r} is not valid {kind}: {problem}{where}", option=option
        ) from None


def load_mapping(path_text: str, *, option: str) -> dict[str, Any]:
    """Read a JSON or YAML file whose top level must be a mapping with string keys."""
    document = load_document(path_text, option=option)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InputValueError(
            f"{option}: {path_text!r} must hold a mapping of names to values, not a {value_kind(document)}",
            option=option,
        )
    bad = [repr(k) for k in document if not isinstance(k, str)]
    if bad:
        raise InputValueError(
            f"{option}: {path_text!r} has keys that are not strings: {', '.join(bad)}", option=option
        )
    return document


def coerce_to_interface(
    inputs: Mapping[str, Any], raw: Mapping[str, str], interface: TaskInterface | None
) -> dict[str, Any]:
    """Check inputs against the template's interface, when it declares inputs.

    ``raw`` holds the text of each ``--input`` as typed on the command line, so an input declared
    ``string`` keeps ``007`` as text rather than the integer ``parse_value`` made of it (a value
    that is already a string, such as a quoted JSON string or a file's text, stays as it is). Raises
    ``InputValueError`` for an input the interface does not declare or a value that does not fit.
    """
    if interface is None or not interface.inputs:
        return dict(inputs)
    declared = interface.inputs
    unknown = sorted(set(inputs) - set(declared))
    if unknown:
        raise InputValueError(
            f"unknown input(s) {', '.join(map(repr, unknown))}; the task's interface declares: "
            f"{', '.join(f'{k} ({v})' for k, v in declared.items())}",
            option="--input",
        )
    result = dict(inputs)
    for name, value in inputs.items():
        type_name = declared[name]
        text = raw.get(name)
        if type_name == "string" and text is not None and not isinstance(value, str):
            result[name] = text
        elif type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
            result[name] = float(value)
        elif not _fits(type_name, value):
            raise InputValueError(
                f"input {name!r} is declared {type_name} but got {value!r} ({value_kind(value)})",
                option="--input",
            )
    return result


def _fits(type_name: str, value: Any) -> bool:
    checks: dict[str, Any] = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, float),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "none": lambda v: v is None,
        "struct": lambda v: isinstance(v, dict),
        "map": lambda v: isinstance(v, dict),
        "list": lambda v: isinstance(v, list),
    }
    check = checks.get(type_name)
    return True if check is None else bool(check(value))


def build_template(
    category_name: str,
    category_version: int,
    *,
    document: Mapping[str, Any] | None = None,
    source: str = "",
    custom: Mapping[str, Any] | None = None,
    dotted: bool = True,
) -> TaskTemplate:
    """Make the ``TaskTemplate`` of a local run: the file's fields, ``custom`` set over its ``custom``.

    See ``custom_over``: with ``dotted``, ``--custom submit.url=...`` replaces one field of the
    file's ``submit``; a whole key replaces the file's value.

    Raises ``InputValueError`` when the file names another task type or version than the command.
    """
    kwargs = template_from_document(document, source=source) if document is not None else {}
    for key, wanted in (("type", category_name), ("task_type_version", category_version)):
        if key in kwargs and kwargs[key] != wanted:
            raise InputValueError(
                f"--template {source!r}: {key} is {kwargs[key]!r} but the command runs {category_name}@"
                f"{category_version}; remove {key!r} from the file or run the type it names",
                option="--template",
            )
    kwargs["type"] = category_name
    kwargs["task_type_version"] = category_version
    kwargs["custom"] = custom_over(kwargs.get("custom", {}), custom or {}, dotted=dotted)
    return TaskTemplate(**kwargs)
