"""webhook answers flytekit's WebhookTask as flytekit's connector does, against a real local HTTP server.

Templates are written as flytekit 1.16 serializes a ``WebhookTask``: custom fields ``url``, ``method``,
``headers``, ``data``, ``show_data``, ``show_url`` and ``timeout_sec``, and an interface whose one
output is ``info`` (its inputs are the task's ``dynamic_inputs``).
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Callable, Mapping
from typing import Any

import grpc
import httpx
import pytest
from connector_http import HttpConfigError, HttpEgressError, Webhook
from connector_http._placeholders import MAX_FORMATTED, input_reprs
from connector_http._webhook_flytekit import read_call
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl.service import agent_pb2_grpc
from google.protobuf import struct_pb2
from localhttp import Answer, LocalServer

import connector
from connector.server import ConnectorService, ServiceOptions
from connector.testing import LifecycleDriver, registry_of

Phase = connector.Phase
OK = "Webhook was successfully invoked!"


def webhook_task(
    url: str,
    *,
    method: str = "POST",
    headers: dict[str, Any] | None = None,
    data: Any = None,
    show_data: bool = False,
    show_url: bool = False,
    timeout_sec: float = 10,
) -> dict[str, Any]:
    """The custom fields of ``WebhookTask(...)`` as flytekit's ``get_custom`` writes them."""
    return {
        "url": url,
        "method": method,
        "headers": headers or {},
        "data": {} if data is None else data,
        "show_data": show_data,
        "show_url": show_url,
        "timeout_sec": timeout_sec,
    }


def template(custom: Mapping[str, Any], declared: Mapping[str, str] | None = None) -> connector.TaskTemplate:
    interface = connector.TaskInterface(inputs=dict(declared or {}), outputs={"info": "struct"})
    return connector.TaskTemplate("webhook", custom=dict(custom), interface=interface)


def call(
    custom: Mapping[str, Any],
    inputs: Mapping[str, Any] | None = None,
    declared: Mapping[str, str] | None = None,
) -> connector.Resource:
    driver = LifecycleDriver(Webhook())
    return driver.do(template(custom, declared), inputs=dict(inputs or {}))


def config_error(message: str) -> pytest.RaisesExc[HttpConfigError]:
    return pytest.raises(HttpConfigError, match=f"^{re.escape(message)}$")


# -- requests ---------------------------------------------------------------------------------------


def test_a_post_sends_data_as_httpx_json_with_the_inputs_filled_in(server: LocalServer) -> None:
    server.route("POST", "/hook", Answer(200, {"ok": True}))
    data = {
        "text": "{inputs.s}",  # the whole string: the input's value, its type kept
        "count": "{inputs.n}",
        "label": "n={inputs.n}, s={inputs.s}",  # spliced: str(value)
        "nested": {"items": ["{inputs.f}", "x", {"flag": "{inputs.b}"}]},
        "{inputs.s}": "keys are not formatted",
        "page": 1,  # a number of the template itself: a float, as flytekit reads the custom Struct
    }
    inputs = {"s": "h\u00e9llo \u20ac", "n": 3, "f": 1.5, "b": True}
    resource = call(webhook_task(f"{server.url}/hook", data=data), inputs)
    assert (resource.phase, resource.message) == (Phase.SUCCEEDED, OK)
    assert resource.outputs == {"info": {"status_code": 200, "response_data": '{"ok": true}'}}
    (seen,) = server.seen
    assert seen.method == "POST"
    assert seen.path == "/hook"
    assert seen.headers["content-type"] == "application/json"
    assert (
        seen.body
        == (
            '{"text":"h\u00e9llo \u20ac","count":3,"label":"n=3, s=h\u00e9llo \u20ac",'
            '"nested":{"items":[1.5,"x",{"flag":true}]},"{inputs.s}":"keys are not formatted","page":1.0}'
        ).encode()
    )


def test_the_body_is_byte_for_byte_what_httpx_sends() -> None:
    data = {"a": "caf\u00e9 \U0001f600", "n": 2, "x": [None, False, 0.1], "q": 'he said "hi"\n'}
    call_ = read_call(
        template(webhook_task("https://hooks.example/h", data="{inputs.d}")), {"d": data}, task="t"
    )
    sent = httpx.Request("POST", "https://hooks.example/h", json=data)
    assert call_.request.body is not None
    assert call_.request.body.encode() == sent.content
    assert call_.request.headers == {"Content-Type": "application/json"}


def test_a_get_sends_data_as_the_query_string_as_httpx_encodes_it(server: LocalServer) -> None:
    expected = (
        "/items?q=%C3%BC+%E2%82%AC%26%3D%2F%3F&yes=true&no=false&none=&tags=a&tags=7&tags=&page=2.0&n=7"
    )
    server.route("GET", expected, Answer(200, "found"))
    data = {
        "q": "{inputs.q}",
        "yes": True,
        "no": False,
        "none": None,
        "tags": ["a", "{inputs.n}", None],
        "page": 2,
        "n": "{inputs.n}",
    }
    custom = webhook_task(f"{server.url}/items?written=replaced", method="GET", data=data)
    resource = call(custom, {"q": "\u00fc \u20ac&=/?", "n": 7})
    assert resource.phase is Phase.SUCCEEDED
    (seen,) = server.seen
    assert (seen.method, seen.path, seen.body) == ("GET", expected, b"")
    assert "content-type" not in seen.headers
    # What flytekit's client.get(url, params=data) sends, data formatted (the template's 2 a float):
    formatted: dict[str, Any] = {
        **data,
        "q": "\u00fc \u20ac&=/?",
        "tags": ["a", 7, None],
        "page": 2.0,
        "n": 7,
    }
    sent = httpx.Request("GET", f"{server.url}/items?written=replaced", params=formatted)
    assert sent.url.raw_path == expected.encode()


def test_a_get_with_flytekits_default_empty_data_drops_a_query_written_in_the_url(
    server: LocalServer,
) -> None:
    # httpx 0.28 replaces the URL's query string with params, even empty ones: flytekit's GET sends
    # http://host/items for url="http://host/items?id={inputs.id}".
    server.route("GET", "/items", Answer(200))
    resource = call(webhook_task(f"{server.url}/items?id={{inputs.id}}", method="GET"), {"id": 5})
    assert resource.phase is Phase.SUCCEEDED
    assert [seen.path for seen in server.seen] == ["/items"]


def test_a_lower_case_method_is_upper_cased(server: LocalServer) -> None:
    server.route("GET", "/g", Answer(200))
    assert call(webhook_task(f"{server.url}/g", method="get")).phase is Phase.SUCCEEDED
    assert server.seen[0].method == "GET"


def test_headers_and_url_are_formatted(server: LocalServer) -> None:
    server.route("POST", "/runs/r-42/done", Answer(200))
    headers = {"X-Run": "run-{inputs.run}", "Authorization": "Bearer {inputs.token}"}
    custom = webhook_task(f"{server.url}/runs/{{inputs.run}}/done", headers=headers, data={"ok": True})
    resource = call(custom, {"run": "r-42", "token": "t0k"})
    assert resource.phase is Phase.SUCCEEDED
    (seen,) = server.seen
    assert (seen.headers["x-run"], seen.headers["authorization"]) == ("run-r-42", "Bearer t0k")


def test_the_templates_content_type_wins(server: LocalServer) -> None:
    server.route("POST", "/h", Answer(200))
    call(webhook_task(f"{server.url}/h", headers={"content-type": "application/vnd.x+json"}, data={"a": 1}))
    assert server.seen[0].headers["content-type"] == "application/vnd.x+json"


def test_a_placeholder_without_a_dot_is_left_as_it_is(server: LocalServer) -> None:
    server.route("POST", "/h", Answer(200))
    call(
        webhook_task(f"{server.url}/h", data={"t": "{name} {__class__} {0}", "j": '{"a": 1}'}), {"name": "x"}
    )
    assert server.seen[0].json() == {"t": "{name} {__class__} {0}", "j": '{"a": 1}'}


def test_placeholders_are_filled_in_one_after_the_other_as_flytekit_does(server: LocalServer) -> None:
    # Once {inputs.a} is filled in with "", the text is exactly {inputs.b}: its value, typed.
    server.route("POST", "/h", Answer(200))
    call(webhook_task(f"{server.url}/h", data={"v": "{inputs.a}{inputs.b}"}), {"a": "", "b": 5})
    assert server.seen[0].json() == {"v": 5}


def test_a_whole_placeholder_once_the_others_are_empty_keeps_its_type_as_in_flytekit(
    server: LocalServer,
) -> None:
    # flytekit fills {inputs.a} in first, everywhere; the text is then exactly {inputs.b}.
    server.route("POST", "/h", Answer(200))
    data = {"v": "{inputs.a}{inputs.b}{inputs.a}", "w": "{inputs.b}{inputs.a}", "x": "{inputs.a}{inputs.a}"}
    call(webhook_task(f"{server.url}/h", data=data), {"a": "", "b": 5})
    assert server.seen[0].json() == {"v": 5, "w": "5", "x": ""}


def test_an_inputs_text_is_not_searched_for_placeholders(server: LocalServer) -> None:
    # flytekit's replace, one placeholder after the other over the whole text, fills in a placeholder
    # an input's text holds (here the token, into the body); one pass over the template does not.
    server.route("POST", "/h", Answer(200))
    custom = webhook_task(
        f"{server.url}/h",
        headers={"Authorization": "Bearer {inputs.token}"},
        data={"text": "{inputs.note} (by {inputs.token})", "n": "{inputs.note}"},
    )
    call(custom, {"note": "{inputs.token}", "token": SECRET})
    assert server.seen[0].json() == {"text": f"{{inputs.token}} (by {SECRET})", "n": "{inputs.token}"}


def test_many_placeholders_are_filled_in_one_pass(server: LocalServer) -> None:
    server.route("POST", "/h", Answer(200))
    text = " ".join(f"{{inputs.v{index % 50}}}" for index in range(4_000))
    inputs = {f"v{index}": f"<{index}>" for index in range(50)}
    call(webhook_task(f"{server.url}/h", data={"t": text}), inputs)
    assert server.seen[0].json() == {"t": " ".join(f"<{index % 50}>" for index in range(4_000))}


def test_the_inputs_are_shown_as_flytekit_shows_literals(server: LocalServer) -> None:
    inputs = {
        "when": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc),
        "wait": dt.timedelta(minutes=1, milliseconds=500),
        "nothing": None,
        "file": connector.BlobRef("s3://bucket/f.csv", format="csv"),
        "table": connector.StructuredDatasetRef("s3://bucket/t", format="parquet"),
        "files": [connector.BlobRef("s3://b/1"), connector.BlobRef("s3://b/2")],
        "sizes": {"a": 1, "b": 2.5},
        "config": {"k": [1, "v"], "\u00e9": None},
        "ratio": 0.25,
        "on": False,
    }
    declared = {"sizes": "map", "config": "struct", "when": "datetime", "wait": "duration"}
    assert input_reprs(inputs, declared, task="webhook") == {
        "when": "2024-05-06T07:08:09.123456+00:00",
        "wait": 60.5,
        "nothing": None,
        "file": "s3://bucket/f.csv",
        "table": "s3://bucket/t",
        "files": ["s3://b/1", "s3://b/2"],
        "sizes": {"a": 1, "b": 2.5},
        # flytekit writes a dict input as msgpack, and shows msgpack as json.dumps of it
        "config": '{"k": [1, "v"], "\\u00e9": null}',
        "ratio": 0.25,
        "on": False,
    }
    server.route("POST", "/h", Answer(200))
    data = {name: f"{{inputs.{name}}}" for name in inputs} | {
        "line": "{inputs.when} {inputs.wait} {inputs.nothing}"
    }
    data["deep"] = "{inputs.sizes.b}"
    call(webhook_task(f"{server.url}/h", data=data), inputs, declared)
    assert server.seen[0].json() == {
        **input_reprs(inputs, declared, task="webhook"),
        "line": "2024-05-06T07:08:09.123456+00:00 60.5 None",
        "deep": 2.5,
    }


# -- answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("show_data", "show_url"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_show_data_and_show_url_add_the_formatted_request_to_the_info(
    server: LocalServer, show_data: bool, show_url: bool
) -> None:
    server.route("POST", "/h/7", Answer(200, "thanks", {"Content-Type": "text/plain"}))
    custom = webhook_task(
        f"{server.url}/h/{{inputs.n}}",
        data={"n": "{inputs.n}", "m": 1},
        show_data=show_data,
        show_url=show_url,
    )
    resource = call(custom, {"n": 7})
    expected: dict[str, Any] = {"status_code": 200, "response_data": "thanks"}
    if show_data:
        expected["input_data"] = {"n": 7, "m": 1.0}
    if show_url:
        expected["url"] = f"{server.url}/h/7"
    assert resource.outputs == {"info": expected}
    assert list(resource.outputs["info"]) == list(expected)


@pytest.mark.parametrize(
    ("status", "body", "quoted"),
    [
        (201, '{"id": 1}', '{"id": 1}'),
        (202, "", ""),
        (302, "moved", "moved"),
        (404, "no such hook", "no such hook"),
        (500, "boom\n  line two\n", "boom line two"),  # as every message quotes an answer
    ],
)
def test_any_status_but_200_fails_quoting_the_answer(
    server: LocalServer, status: int, body: str, quoted: str
) -> None:
    server.route("POST", "/h", Answer(status, body, {"Location": f"{server.url}/elsewhere"}))
    server.route("POST", "/elsewhere", Answer(200))
    resource = call(webhook_task(f"{server.url}/h", data={"a": 1}))
    assert resource.phase is Phase.FAILED
    assert resource.message == f"Webhook failed with status code {status}, response: {quoted}"
    assert resource.outputs is None
    assert [seen.path for seen in server.seen] == ["/h"]  # a redirect is not followed


def test_a_failed_answer_quotes_the_start_of_a_long_body(server: LocalServer) -> None:
    # The whole text (up to CONNECTOR_HTTP_MAX_BODY, 10 MiB) would not fit in propeller's 4 MiB answer.
    server.route("POST", "/h", Answer(500, "e" * 150 + "f" * 100 + "g" * 5_000_000))
    resource = call(webhook_task(f"{server.url}/h"))
    assert (resource.phase, resource.message) == (
        Phase.FAILED,
        "Webhook failed with status code 500, response: " + "e" * 150 + "f" * 50 + "...",
    )


def test_an_echoed_credential_is_masked_in_the_message(server: LocalServer) -> None:
    server.route("POST", "/h", lambda seen: Answer(401, f"bad token {seen.headers['x-api-key']}"))
    custom = webhook_task(f"{server.url}/h", headers={"X-API-Key": "{inputs.key}"})
    resource = call(custom, {"key": "k-s3cret"})
    assert resource.message == "Webhook failed with status code 401, response: bad token ***"


SECRET = "s3cr3t-t0ken"


@pytest.mark.parametrize(
    ("header", "field", "message"),
    [
        (
            "{inputs.token}",
            "method",
            "webhook: the custom field 'method' must be GET or POST, as flytekit's WebhookTask allows; "
            "got '***'",
        ),
        (
            "Bearer {inputs.token}",
            "method",
            "webhook: the custom field 'method' must be GET or POST, as flytekit's WebhookTask allows; "
            "got '***'",
        ),
        (
            "{inputs.token}",
            "show_data",
            "webhook: the custom field 'show_data' must be true or false; got '***'",
        ),
        (
            "Bearer {inputs.token}",
            "show_url",
            "webhook: the custom field 'show_url' must be true or false; got '***'",
        ),
        (
            "Bearer {inputs.token}",
            "timeout_sec",
            "webhook: the custom field 'timeout_sec' must be a number of seconds above 0 and at most 3600; "
            "got '***'",
        ),
    ],
)
def test_a_credential_input_in_a_field_that_cannot_be_used_is_masked(
    forbidden_server: LocalServer, header: str, field: str, message: str
) -> None:
    # A credential header's inputs are credentials: masked wherever a message would quote them.
    custom = {**webhook_task(f"{forbidden_server.url}/h"), "headers": {"Authorization": header}}
    with config_error(message) as refused:
        call({**custom, field: "{inputs.token}"}, {"token": SECRET})
    assert SECRET not in str(refused.value)
    assert forbidden_server.seen == []


def test_a_credential_input_echoed_in_a_failed_answer_is_masked(server: LocalServer) -> None:
    server.route("POST", "/h", lambda seen: Answer(401, f"bad: {seen.headers['authorization']}"))
    custom = webhook_task(f"{server.url}/h", headers={"Authorization": "Bearer {inputs.token}"})
    resource = call(custom, {"token": SECRET})
    assert resource.message == "Webhook failed with status code 401, response: bad: ***"
    server.route("POST", "/h", Answer(401, f"token {SECRET} expired"))
    resource = call(custom, {"token": SECRET})
    assert resource.message == "Webhook failed with status code 401, response: token *** expired"


def test_a_slow_server_fails_at_timeout_sec(server: LocalServer) -> None:
    server.route("POST", "/slow", Answer(hang=True))
    resource = call(webhook_task(f"{server.url}/slow", timeout_sec=0.2))
    assert resource.phase is Phase.FAILED
    assert resource.message == f"webhook: POST {server.url}/slow timed out after 0.2s"


def test_timeout_sec_defaults_to_ten_seconds() -> None:
    custom = webhook_task("https://hooks.example/h")
    del custom["timeout_sec"]
    assert read_call(template(custom), {}, task="webhook").timeout == 10.0


def test_no_server_fails(allow: Callable[[str], None]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    allow(f"http://127.0.0.1:{port}")
    resource = call(webhook_task(f"http://127.0.0.1:{port}/x?token={{inputs.t}}"), {"t": "s3cret"})
    assert resource.phase is Phase.FAILED
    assert resource.message == (
        f"webhook: POST http://127.0.0.1:{port}/x?token=*** failed: [Errno 111] Connection refused"
    )


def test_a_body_over_the_limit_fails(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_HTTP_MAX_BODY", "100")
    server.route("POST", "/big", Answer(200, "x" * 101))
    resource = call(webhook_task(f"{server.url}/big"))
    assert resource.phase is Phase.FAILED
    assert resource.message == (
        f"webhook: POST {server.url}/big answered 200 OK with a body over the limit of 100 bytes; reading "
        "stopped there (the limit is set by CONNECTOR_HTTP_MAX_BODY)"
    )


# -- hostile templates and inputs fail closed ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{inputs.missing}",
            "webhook: the custom field 'data.t' uses '{inputs.missing}', but the task has no input 'missing' "
            "(its inputs: 's', 'm')",
        ),
        (
            "{inputs.__class__}",
            "webhook: the custom field 'data.t' uses '{inputs.__class__}', but the task has no input "
            "'__class__' (its inputs: 's', 'm')",
        ),
        (
            "x {inputs.s.__globals__}",
            "webhook: the custom field 'data.t' uses '{inputs.s.__globals__}', but 'inputs.s' is a string, "
            "which has no keys",
        ),
        (
            "{inputs.m.__class__.__init__.__globals__}",
            "webhook: the custom field 'data.t' uses '{inputs.m.__class__.__init__.__globals__}', but "
            "'inputs.m' has no key '__class__'",
        ),
        (
            "{0.__class__}",
            "webhook: the custom field 'data.t' uses '{0.__class__}', which names no input: a placeholder "
            "with a dot reads the task's inputs, written {inputs.NAME}",
        ),
        (
            "{self.__init__.__globals__[os].environ}",
            "webhook: the custom field 'data.t' uses '{self.__init__.__globals__[os].environ}', which names "
            "no input: a placeholder with a dot reads the task's inputs, written {inputs.NAME}",
        ),
    ],
)
def test_a_placeholder_that_names_no_input_fails_and_sends_nothing(
    server: LocalServer, text: str, message: str
) -> None:
    server.route("POST", "/h", Answer(200))
    resource = call(
        webhook_task(f"{server.url}/h", data={"t": text}), {"s": "str", "m": {"k": 1}}, {"m": "map"}
    )
    assert (resource.phase, resource.message) == (Phase.FAILED, message)
    assert server.seen == []


def test_a_missing_input_in_the_url_fails(server: LocalServer) -> None:
    resource = call(webhook_task(f"{server.url}/{{inputs.path}}"))
    assert resource.message == (
        "webhook: the custom field 'url' uses '{inputs.path}', but the task has no input 'path' "
        "(its inputs: none)"
    )
    assert server.seen == []


def test_an_input_no_literal_decodes_to_fails(server: LocalServer) -> None:
    resource = call(webhook_task(f"{server.url}/h"), {"d": dt.date(2024, 1, 2)})
    assert (resource.phase, resource.message) == (
        Phase.FAILED,
        "webhook: the input 'd' cannot be shown as flytekit's WebhookTask shows inputs: date is not a value "
        "a Flyte literal decodes to",
    )
    assert server.seen == []


def test_filling_in_an_input_many_times_over_fails_before_anything_is_built(server: LocalServer) -> None:
    big = "x" * 10_000
    copies = MAX_FORMATTED // len(big) + 1
    resource = call(webhook_task(f"{server.url}/h", data={"a": ["{inputs.big}"] * copies}), {"big": big})
    assert (resource.phase, resource.message) == (
        Phase.FAILED,
        "webhook: filling in the placeholders of the custom fields adds more than 10485760 characters (at "
        f"'data.a.{copies - 1}'); a webhook's request is smaller than that, check which inputs the template "
        "repeats",
    )
    assert server.seen == []


def test_the_egress_policy_refuses_and_masks_a_credential_in_the_query(forbidden_server: LocalServer) -> None:
    url = f"{forbidden_server.url}/hook?api_key={{inputs.key}}&page=1"
    with pytest.raises(HttpEgressError) as refused:
        call(webhook_task(url, data={"a": "{inputs.key}"}), {"key": "k-s3cret"})
    assert str(refused.value) == (
        f"webhook: POST {forbidden_server.url}/hook?api_key=***&page=1 is refused: 127.0.0.1 is a loopback "
        f"address; to allow it, add {forbidden_server.url} to CONNECTOR_HTTP_ALLOW"
    )
    assert (refused.value.origin, refused.value.setting) == (forbidden_server.url, "CONNECTOR_HTTP_ALLOW")
    assert forbidden_server.seen == []


def test_a_get_to_a_refused_origin_names_its_query(forbidden_server: LocalServer) -> None:
    custom = webhook_task(f"{forbidden_server.url}/x", method="GET", data={"q": "{inputs.q}"})
    with pytest.raises(HttpEgressError, match=re.escape(f"GET {forbidden_server.url}/x?q=a+b is refused")):
        call(custom, {"q": "a b"})
    assert forbidden_server.seen == []


def test_a_url_from_an_input_meets_the_policy_too(forbidden_server: LocalServer) -> None:
    with pytest.raises(HttpEgressError):
        call(webhook_task("{inputs.target}"), {"target": f"{forbidden_server.url}/internal"})
    assert forbidden_server.seen == []


@pytest.mark.parametrize(
    ("custom", "inputs", "message"),
    [
        (
            {"method": "PUT"},
            {},
            "webhook: the custom field 'method' must be GET or POST, as flytekit's WebhookTask allows; "
            "got 'PUT'",
        ),
        (
            {"method": "{inputs.m}"},
            {"m": "DELETE"},
            "webhook: the custom field 'method' must be GET or POST, as flytekit's WebhookTask allows; "
            "got 'DELETE'",
        ),
        ({"url": None}, {}, "webhook: the custom field 'url' is required"),
        (
            {"url": "{inputs.u}"},
            {"u": "file:///etc/passwd"},
            "webhook: the custom field 'url' must be an http:// or https:// URL; got 'file:///etc/passwd'",
        ),
        (
            {"url": "{inputs.u}"},
            {"u": 5},
            "webhook: the custom field 'url' must be an http:// or https:// URL; got 5",
        ),
        (
            {"url": "http://[::1/h?token={inputs.t}"},
            {"t": "s3cret"},
            "webhook: the custom field 'url' is not a URL: Invalid port: ':1'; got 'http://[::1/h?token=***'",
        ),
        (
            {"url": "http://user:pw@hooks.example/h"},
            {},
            "webhook: the custom field 'url' is not a URL connector-http can send: it has a user name or "
            "password (send credentials with auth_secret); got 'http://user:pw@hooks.example/h'",
        ),
        (
            {"headers": {"X-Evil": "a{inputs.v}"}},
            {"v": "\r\nHost: internal"},
            "webhook: the custom field 'headers' has a value of header 'X-Evil' that holds a line break "
            "(CR or LF) or NUL",
        ),
        (
            {"headers": {"X-Name": "{inputs.v}"}},
            {"v": "caf\u00e9"},
            "webhook: the custom field 'headers' has a value of header 'X-Name' that is not ASCII text, "
            "which flytekit's connector cannot send either",
        ),
        (
            {"headers": {"Host": "internal.example"}},
            {},
            "webhook: the custom field 'headers' sets 'Host', which connector-http sets itself (the host is "
            "the URL's, the body's length and framing are the body's)",
        ),
        (
            {"headers": {"X-N": "{inputs.n}"}},
            {"n": 1},
            "webhook: the custom field 'headers' must map header names to strings; got 'X-N': int",
        ),
        (
            {"data": {"x": "{inputs.f}"}},
            {"f": float("nan")},
            "webhook: the custom field 'data' cannot be sent as JSON: it holds NaN or an infinity, which "
            "JSON has no number for",
        ),
        (
            {"method": "GET", "data": ["a", "b"]},
            {},
            "webhook: the custom field 'data' of a GET must be an object (it is sent as the query string); "
            "got list",
        ),
        (
            {"timeout_sec": 0},
            {},
            "webhook: the custom field 'timeout_sec' must be a number of seconds above 0 and at most 3600; "
            "got 0.0",
        ),
        (
            {"show_data": "yes"},
            {},
            "webhook: the custom field 'show_data' must be true or false; got 'yes'",
        ),
    ],
)
def test_a_field_that_cannot_be_used_is_invalid_argument(
    forbidden_server: LocalServer, custom: dict[str, Any], inputs: dict[str, Any], message: str
) -> None:
    with config_error(message):
        call({**webhook_task(f"{forbidden_server.url}/h"), **custom}, inputs)
    assert forbidden_server.seen == []


# -- which schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outputs",
    [
        None,
        {},
        {"status": "integer", "headers": "map", "body": "unknown"},
        {"info": "struct", "more": "string"},
    ],
)
def test_any_other_interface_keeps_the_original_schema(
    server: LocalServer, outputs: dict[str, str] | None
) -> None:
    server.route("POST", "/h", Answer(201, {"id": 1}))
    interface = None if outputs is None else connector.TaskInterface(outputs=outputs)
    custom = {"url": f"{server.url}/h", "body": {"a": "{inputs.x}"}}
    driver = LifecycleDriver(Webhook())
    resource = driver.do(
        connector.TaskTemplate("webhook", custom=custom, interface=interface), inputs={"x": 1}
    )
    assert resource.phase is Phase.SUCCEEDED
    assert resource.outputs is not None
    assert resource.outputs["status"] == 201
    assert server.seen[0].json() == {"a": "{inputs.x}"}  # the original schema fills in nothing


def test_the_flytekit_schema_ignores_the_original_fields(server: LocalServer) -> None:
    server.route("POST", "/h", Answer(200))
    custom = {**webhook_task(f"{server.url}/h", data={"d": 1}), "body": "ignored", "auth_secret": "token"}
    assert call(custom).phase is Phase.SUCCEEDED
    assert server.seen[0].body == b'{"d":1.0}'


# -- through the service, as propeller sends flytekit's task ---------------------------------------------


async def test_a_webhook_task_serialized_by_flytekit_through_the_service(server: LocalServer) -> None:
    server.route("POST", "/hook", Answer(200, "ok"))
    simple = types_pb2.SimpleType

    def variable(kind: int) -> interface_pb2.Variable:
        return interface_pb2.Variable(type=types_pb2.LiteralType(simple=kind))

    # WebhookTask(dynamic_inputs={"s": str, "n": int}): outputs {"info": dict}, a msgpack struct.
    msgpack = struct_pb2.Struct()
    msgpack.update({"cache-key-metadata": {"serialization-format": "msgpack"}})
    info = types_pb2.LiteralType(
        simple=simple.STRUCT, annotation=types_pb2.TypeAnnotation(annotations=msgpack)
    )
    interface = interface_pb2.TypedInterface(
        inputs=interface_pb2.VariableMap(
            variables={"s": variable(simple.STRING), "n": variable(simple.INTEGER)}
        ),
        outputs=interface_pb2.VariableMap(variables={"info": interface_pb2.Variable(type=info)}),
    )
    custom = struct_pb2.Struct()
    custom.update(
        webhook_task(f"{server.url}/hook", data={"text": "{inputs.s}", "n": "{inputs.n}", "page": 1})
    )
    template = tasks_pb2.TaskTemplate(type="webhook", custom=custom, interface=interface)
    inputs = literals_pb2.LiteralMap(
        literals={
            "s": literals_pb2.Literal(
                scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(string_value="hi"))
            ),
            "n": literals_pb2.Literal(
                scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=3))
            ),
        }
    )
    service = ConnectorService(registry_of(Webhook), ServiceOptions(port=0, prometheus_port=None))
    await service.start()
    await service.ready.wait()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        stub = agent_pb2_grpc.SyncAgentServiceStub(channel)
        requests = [
            agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(template=template)),
            agent_pb2.ExecuteTaskSyncRequest(inputs=inputs),
        ]
        responses = [response async for response in stub.ExecuteTaskSync(iter(requests))]
    finally:
        await channel.close()
        await service.stop(0)
    resource = responses[0].header.resource
    assert (resource.phase, resource.message) == (execution_pb2.TaskExecution.SUCCEEDED, OK)
    # The whole-placeholder integer input stays an integer; the template's own 1 is a float. (A
    # Struct's keys come in the order of protobuf's map, in flytekit's connector as here.)
    body = server.seen[0].body
    assert sorted(body[1:-1].split(b",")) == [b'"n":3', b'"page":1.0', b'"text":"hi"']
    # How the info dict is written as a literal is the core's literal codec's (a msgpack binary, as
    # flytekit's type engine writes it): here only that it is there.
    assert list(resource.outputs.literals) == ["info"]
