"""flytekit's WebhookTask schema of ``webhook``: the request its formatted fields ask for, and the answer."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import connector

from ._exceptions import HttpConfigError
from ._http import Credentials, Request, Response, check_request, check_timeout, read_headers
from ._placeholders import Formatter, input_reprs
from ._redact import Redactor, is_credential_header, masked

#: The one output flytekit's WebhookTask declares; a template whose interface declares exactly this
#: output is answered as flytekit's connector answers it.
OUTPUT = "info"
#: Seconds a request may take when ``timeout_sec`` is not set: flytekit's default.
DEFAULT_TIMEOUT = 10.0
#: The message of a webhook answered with 200, word for word flytekit's.
SUCCEEDED_MESSAGE = "Webhook was successfully invoked!"

_METHODS = ("GET", "POST")
# Checked on the URL as formatted, before httpx rewrites it ("file:///x" becomes "file:/x").
_HTTP = re.compile(r"https?://", re.IGNORECASE)


def uses_flytekit_schema(task_template: connector.TaskTemplate) -> bool:
    """Whether the template is a flytekit ``WebhookTask``'s: its interface declares one output, ``info``.

    Decided from the template alone, never from the network or the inputs.
    """
    interface = task_template.interface
    return interface is not None and list(interface.outputs) == [OUTPUT]


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
    formatter = Formatter(input_reprs(inputs, declared, task=task), task=task)
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

    from ._httpx import parsed_url

    if not isinstance(url, str) or not _HTTP.match(url):
        raise HttpConfigError(
            f"{task}: the custom field 'url' must be an http:// or https:// URL; got {url!r}", field="url"
        )
    try:
        target = parsed_url(url)
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


def _credential_inputs(headers: object, formatter: Formatter) -> list[str]:
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
