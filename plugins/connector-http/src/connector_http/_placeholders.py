"""flytekit's placeholders: a WebhookTask's fields filled in from the inputs, shown as flytekit shows them."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

import connector

#: The most text filling in placeholders may add to the custom fields, in characters.
MAX_FORMATTED = 10 * 1024 * 1024

# flytekit's placeholder: braces around anything but a closing brace. Only those with a dot are
# filled in, by walking the dotted path; nothing is ever evaluated (str.format would read
# attributes: "{inputs.__class__}").
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_ROOT = "inputs"
# How much of a template's own text (a placeholder, a field's path) a message quotes.
_QUOTED = 80
_KINDS = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "a list"}


class FormatError(Exception):
    """A placeholder cannot be filled in from the inputs (or filling them in would be too large).

    The task fails (``FAILED``), as flytekit's connector fails it; the message says which field and why.
    """


def input_reprs(inputs: Mapping[str, Any], declared: Mapping[str, str], *, task: str) -> dict[str, Any]:
    """The inputs as flytekit's connector shows them to placeholders (its "string repr" of literals).

    Primitives stay themselves, a datetime is its ``isoformat()``, a duration its ``total_seconds()``,
    a blob or structured dataset its URI, lists and maps item by item. A ``dict`` input (declared
    ``struct``) arrives from flytekit as a msgpack literal, which flytekit shows as a JSON string.
    """
    shown: dict[str, Any] = {}
    for name, value in inputs.items():
        try:
            if declared.get(name) == "struct" and isinstance(value, Mapping):
                shown[name] = json.dumps(dict(value))
            else:
                shown[name] = _repr(value)
        except (TypeError, ValueError) as exc:
            raise FormatError(
                f"{task}: the input {_quoted(str(name))} cannot be shown as flytekit's WebhookTask shows "
                f"inputs: {exc}"
            ) from None
    return shown


def _repr(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (connector.BlobRef, connector.StructuredDatasetRef)):
        return value.uri
    if isinstance(value, Mapping):
        return {key: _repr(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_repr(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not a value a Flyte literal decodes to")


class Formatter:
    """Fills in placeholders as flytekit's ``format_dict`` does, within a budget of added text.

    One pass over each text: the placeholders written in the template are filled in, and the text
    an input adds is not searched again (flytekit's replace, one placeholder after the other over
    the whole text, is quadratic and fills in placeholders that an input's text holds).
    """

    def __init__(self, inputs: dict[str, Any], *, task: str) -> None:
        self._root = {_ROOT: inputs}
        self._task = task
        self._budget = MAX_FORMATTED
        self._values: dict[str, Any] = {}
        self._texts: dict[str, str] = {}

    def format(self, value: Any, field: str) -> Any:
        """``value`` with its strings formatted, recursively; dict keys are left as they are."""
        if isinstance(value, str):
            return self._text(value, field)
        if isinstance(value, list):
            return [self.format(item, f"{field}.{index}") for index, item in enumerate(value)]
        if isinstance(value, dict):
            return {key: self.format(item, f"{field}.{key}") for key, item in value.items()}
        return value

    def inputs_in(self, text: str) -> list[Any]:
        """The values of the placeholders with a dot of ``text``, a template's text already formatted."""
        return [self._value(name, "") for name in _PLACEHOLDER.findall(text) if "." in name]

    def _text(self, text: str, field: str) -> Any:
        names = _PLACEHOLDER.findall(text)
        # Each path is looked up once, in the order of the text: the first that names nothing fails.
        values = {name: self._value(name, field) for name in names if "." in name}
        if not values:
            return text
        whole = self._whole(text, names, values)
        if whole is not None:
            self._charge(len(self._shown(whole)), field)
            return values[whole]

        def filled(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                return match.group(0)  # no dot: left as it is
            shown = self._shown(name)
            self._charge(len(shown), field)
            return shown

        return _PLACEHOLDER.sub(filled, text)

    def _whole(self, text: str, names: list[str], values: dict[str, Any]) -> str | None:
        """The placeholder ``text`` is exactly, by the time flytekit's sequential replace reaches it.

        That is the text as written, or the text made of placeholders only, where each one filled
        in before the last distinct one (which appears once) adds nothing: flytekit's replace has
        then left exactly that one, and answers its value with its type.
        """
        if len(values) != len(set(names)) or sum(len(name) + 2 for name in names) != len(text):
            return None  # a placeholder without a dot, or text between them, stays
        last = next(reversed(values))
        if names.count(last) != 1 or any(self._shown(name) for name in values if name != last):
            return None
        return last

    def _value(self, name: str, field: str) -> Any:
        if name not in self._values:
            self._values[name] = self._lookup(name, field)
        return self._values[name]

    def _shown(self, name: str) -> str:
        # str() of a large input is computed once, however many fields use it.
        if name not in self._texts:
            self._texts[name] = str(self._values[name])
        return self._texts[name]

    def _charge(self, size: int, field: str) -> None:
        self._budget -= size
        if self._budget < 0:
            raise FormatError(
                f"{self._task}: filling in the placeholders of the custom fields adds more than "
                f"{MAX_FORMATTED} characters (at {_quoted(field)}); a webhook's request is smaller than "
                "that, check which inputs the template repeats"
            )

    def _lookup(self, name: str, field: str) -> Any:
        node: Any = self._root
        walked: list[str] = []
        for part in name.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise FormatError(self._missing(name, field, walked, node, part))
            node = node[part]
            walked.append(part)
        return node

    def _missing(self, name: str, field: str, walked: list[str], node: Any, part: str) -> str:
        start = f"{self._task}: the custom field {_quoted(field)} uses {_quoted('{' + name + '}')}"
        if not walked:
            return (
                f"{start}, which names no input: a placeholder with a dot reads the task's inputs, "
                f"written {{{_ROOT}.NAME}}"
            )
        if len(walked) == 1:
            names = ", ".join(_quoted(str(key)) for key in list(node)[:20]) or "none"
            return f"{start}, but the task has no input {_quoted(part)} (its inputs: {names})"
        at = ".".join(walked)
        if isinstance(node, Mapping):
            return f"{start}, but {_quoted(at)} has no key {_quoted(part)}"
        kind = "none" if node is None else _KINDS.get(type(node), type(node).__name__)
        return f"{start}, but {_quoted(at)} is {kind}, which has no keys"


def _quoted(text: str) -> str:
    return repr(text if len(text) <= _QUOTED else text[:_QUOTED] + "...")
