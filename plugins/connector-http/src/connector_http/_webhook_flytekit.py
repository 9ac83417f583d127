"""flytekit's WebhookTask schema of ``webhook``: fields formatted with the inputs, the request, the answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import connector

from ._exceptions import HttpConfigError, HttpEgressError
from ._http import Credentials, Request, Response, check_request, check_timeout, read_headers
from ._redact import Redactor, is_credential_header

#: The one output flytekit's WebhookTask declares; a template whose interface declares exactly this
#: output is answered as flytekit's connector answers it.
OUTPUT = "info"
#: Seconds a request may take when ``timeout_sec`` is not set: flytekit's default.
DEFAULT_TIMEOUT = 10.0
#: The most text filling in placeholders may add to the custom fields, in characters.
MAX_FORMATTED = 10 * 1024 * 1024
#: The message of a webhook answered with 200, word for word flytekit's.
SUCCEEDED_MESSAGE = "Webhook was successfully invoked!"

_METHODS = ("GET", "POST")
# flytekit's placeholder: braces around anything but a closing brace. Only those with a dot are
# filled in, by walking the dotted path; nothing is ever evaluated (str.format would read
# attributes: "{inputs.__class__}").
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_ROOT = "inputs"
# Checked on the URL as formatted, before httpx rewrites it ("file:///x" becomes "file:/x").
_HTTP = re.compile(r"https?://", re.IGNORECASE)
# How much of a template's own text (a placeholder, a field's path) a message quotes.
_QUOTED = 80
_KINDS = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "a list"}


def uses_flytekit_schema(task_template: connector.TaskTemplate) -> bool:
    """Whether the template is a flytekit ``WebhookTask``'s: its interface declares one output, ``info``.

    Decided from the template alone, never from the network or the inputs.
    """
    interface = task_template.interface
    return interface is not None and list(interface.outputs) == [OUTPUT]


class FormatError(Exception):
    """A placeholder cannot be filled in from the inputs (or filling them in would be too large).

    The task fails (``FAILED``), as flytekit's connector fails it; the message says which field and why.
    """


@dataclasses.dataclass(frozen=True)
class WebhookCall:
    """The request a WebhookTask's template asks for, checked, and what its answer shows.

    ``url`` and ``data`` are the fields as formatted (the outputs show them so); ``request`` is what is
    sent: the URL as httpx writes it (with ``data`` as the query string of a GET), the JSON body of a
    POST. ``credentials.redact`` masks the credential headers and query values in messages.
    """

    request: Request
    timeout: float
    credentials: Credentials
    url: str
    data: Any
    show_data: bool
    show_url: bool


def read_call(task_template: connector.TaskTemplate, inputs: Mapping[str, Any], *, task: str) -> WebhookCall:
    """The checked request of a WebhookTask's template, its placeholders filled in from ``inputs``.

    Raises ``FormatError`` when a placeholder names no input, ``HttpConfigError`` when a field cannot
    be used as given (naming it; credentials masked).
    """
    interface = task_template.interface
    declared = interface.inputs if interface is not None else {}
    formatter = _Formatter({_ROOT: input_reprs(inputs, declared, task=task)}, task=task)
    custom = _as_flytekit_reads(task_template.custom)
    fields = {key: formatter.format(value, str(key)) for key, value in custom.items()}
    headers = read_headers(fields.get("headers"), task=task, field="headers")
    for name, value in headers.items():
        if not value.isascii():  # httpx, flytekit's client, encodes header values as ASCII
            raise HttpConfigError(
                f"{task}: the custom field 'headers' has a value of header {name!r} that is not ASCII text, "
                "which flytekit's connector cannot send either",
                field="headers",
            )
    url = fields.get("url")
    if url is None:
        raise HttpConfigError(f"{task}: the custom field 'url' is required", field="url")
    # The inputs a credential header is made of are credentials too, wherever else they appear.
    secrets = _credential_inputs(custom.get("headers"), formatter)
    redact = _redactor(headers, [url], secrets)
    data = fields.get("data")
    try:
        method = _method(fields.get("method"), task=task)
        target, body = _encode(method, url, data, task=task)
    except HttpConfigError as exc:
        raise masked(exc, redact) from None
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    request = Request(method, target, headers, body)
    credentials = Credentials({}, _redactor(headers, [url, target], secrets))
    try:
        check_request(request, task=task)
        timeout = fields.get("timeout_sec")
        if timeout is not None:
            timeout = check_timeout(timeout, task=task, field="timeout_sec")
        show_data = _flag(fields, "show_data", task=task)
        show_url = _flag(fields, "show_url", task=task)
    except HttpConfigError as exc:
        raise masked(exc, credentials.redact) from None
    return WebhookCall(
        request=request,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        credentials=credentials,
        url=url,
        data=data,
        show_data=show_data,
        show_url=show_url,
    )


def answer(call: WebhookCall, response: Response) -> connector.Resource:
    """flytekit's answer: 200 succeeds with the ``info`` output, any other status fails quoting its start."""
    if response.status != 200:
        return connector.Resource(
            connector.Phase.FAILED,
            # The start of the text, as every message quotes an answer: the whole (up to
            # CONNECTOR_HTTP_MAX_BODY) could exceed what propeller accepts in one answer (4 MiB).
            message=f"Webhook failed with status code {response.status}, response: {response.excerpt()}",
        )
    info: dict[str, Any] = {"status_code": response.status, "response_data": response.text}
    if call.show_data:
        info["input_data"] = call.data
    if call.show_url:
        info["url"] = call.url
    return connector.Resource(connector.Phase.SUCCEEDED, message=SUCCEEDED_MESSAGE, outputs={OUTPUT: info})


def failed(call: WebhookCall, error: Exception) -> connector.Resource:
    """``FAILED`` with the error's message, credentials masked (no answer, or one over the size limit)."""
    return connector.Resource(connector.Phase.FAILED, message=call.credentials.redact(str(error)))


def masked(error: HttpConfigError, redact: Redactor) -> HttpConfigError:
    """``error`` again, its message with the credentials masked (a URL may carry them in its query)."""
    message = redact(str(error))
    if message == str(error):
        return error
    if isinstance(error, HttpEgressError):
        return HttpEgressError(message, origin=error.origin, reason=error.reason, setting=error.setting)
    return HttpConfigError(message, field=error.field)


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


def _as_flytekit_reads(value: Any) -> Any:
    # flytekit's connector reads the template's custom Struct with MessageToDict, where every number
    # is a float: data={"page": 1} is sent as {"page":1.0}. Inputs keep their types.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {key: _as_flytekit_reads(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_flytekit_reads(item) for item in value]
    return value


class _Formatter:
    """Fills in placeholders as flytekit's ``format_dict`` does, within a budget of added text.

    One pass over each text: the placeholders written in the template are filled in, and the text
    an input adds is not searched again (flytekit's replace, one placeholder after the other over
    the whole text, is quadratic and fills in placeholders that an input's text holds).
    """

    def __init__(self, root: dict[str, Any], *, task: str) -> None:
        self._root = root
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


def _method(value: object, *, task: str) -> str:
    # WebhookTask writes GET or POST (its default); it refuses any other at construction, and
    # flytekit's connector would POST them.
    if value is None:
        return "POST"
    if not isinstance(value, str) or value.upper() not in _METHODS:
        raise HttpConfigError(
            f"{task}: the custom field 'method' must be GET or POST, as flytekit's WebhookTask allows; "
            f"got {value!r}",
            field="method",
        )
    return value.upper()


def _flag(fields: Mapping[str, Any], name: str, *, task: str) -> bool:
    value = fields.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise HttpConfigError(
            f"{task}: the custom field '{name}' must be true or false; got {value!r}", field=name
        )
    return value


def _encode(method: str, url: object, data: Any, *, task: str) -> tuple[str, str | None]:
    """The URL and body of httpx's ``get(url, params=data)`` or ``post(url, json=data)``, flytekit's calls."""
    import httpx  # here, not at import: only this schema needs it

    if not isinstance(url, str) or not _HTTP.match(url):
        raise HttpConfigError(
            f"{task}: the custom field 'url' must be an http:// or https:// URL; got {url!r}", field="url"
        )
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HttpConfigError(
            f"{task}: the custom field 'url' is not a URL: {exc}; got {url!r}", field="url"
        ) from None
    if method == "GET":
        if data is not None and not isinstance(data, Mapping):
            raise HttpConfigError(
                f"{task}: the custom field 'data' of a GET must be an object (it is sent as the query "
                f"string); got {type(data).__name__}",
                field="data",
            )
        # As httpx 0.28 builds it, the query string is data's alone: a query written in the URL is
        # replaced, even by an empty data (flytekit's default).
        return str(httpx.Request(method, target, params=data).url), None
    try:
        built = httpx.Request(method, target, json=data)
    except UnicodeError:
        raise HttpConfigError(
            f"{task}: the custom field 'data' is not valid Unicode text (it has a lone surrogate)",
            field="data",
        ) from None
    except ValueError:  # httpx encodes with allow_nan=False
        raise HttpConfigError(
            f"{task}: the custom field 'data' cannot be sent as JSON: it holds NaN or an infinity, which "
            "JSON has no number for",
            field="data",
        ) from None
    except TypeError as exc:
        raise HttpConfigError(
            f"{task}: the custom field 'data' cannot be sent as JSON: {exc}", field="data"
        ) from None
    return str(built.url), built.content.decode("utf-8") if data is not None else None


def _credential_inputs(headers: object, formatter: _Formatter) -> list[str]:
    """The text inputs the template's credential headers (``Bearer {inputs.token}``) are made of."""
    if not isinstance(headers, Mapping):
        return []
    return [
        value
        for name, text in headers.items()
        if isinstance(name, str) and is_credential_header(name) and isinstance(text, str)
        for value in formatter.inputs_in(text)
        if isinstance(value, str)
    ]


def _redactor(headers: Mapping[str, str], urls: list[object], secrets: list[str]) -> Redactor:
    """Masks ``secrets``, every credential header's value, and every query parameter's named like one."""
    values = [*secrets, *(value for name, value in headers.items() if is_credential_header(name))]
    for url in urls:
        try:
            query = urllib.parse.urlsplit(url).query if isinstance(url, str) else ""
        except ValueError:  # "http://[::1": not a URL, which the caller is told; nothing to mask in it
            query = url.partition("?")[2] if isinstance(url, str) else ""
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if value and is_credential_header(urllib.parse.unquote_plus(name)):
                values += [value, urllib.parse.unquote_plus(value)]
    return Redactor.of(values)
