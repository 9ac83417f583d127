"""flytekit's WebhookTask, sent the same bytes to flytekit's own service and to ``connector serve``.

Each case is a real ``WebhookTask`` serialized by flytekit, with inputs made by flytekit's
TypeEngine, run with ExecuteTaskSync (header, then inputs) against both services. Compared field by
field: the request each made to the loopback server, the Resource each answered, and the outputs
decoded by flytekit's TypeEngine against the task's interface.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from tests.compat.peers import ANSWER_BODY, Driver, FlytekitService, Recorded, Recorder, b64decode
from tests.compat.wire import Answer, execute_sync, inputs_of, literal_shapes, resource_fields
from tests.server.served import Served

pytestmark = pytest.mark.compat

#: Headers the two services send differently, by design (docs/compatibility.md says why): both send
#: with httpx, but connector-http asks for the body as sent (identity) so its size limit counts the
#: bytes on the wire. ``User-Agent`` is compared without httpx's version (the two venvs may differ).
HEADER_DIFFERENCES = {"accept-encoding"}
#: Messages that differ by design (docs/compatibility.md): case id -> (flytekit's, ours). flytekit
#: answers ``str(exception)``: empty for httpx's timeouts, every input's value for a missing one.
MESSAGE_DIFFERENCES = {
    "timeout-slow-endpoint": ("", "webhook: POST {origin}/slow/hook timed out after 0.5s"),
    "missing-input": (
        "Could not find the key rn in {'run': 'r1'}.",
        "webhook: the custom field 'data.text' uses '{inputs.rn}', but the task has no input 'rn' "
        "(its inputs: 'run')",
    ),
}


#: Cases flytekit answers FAILED (its message) where ours refuses the request: case id ->
#: (flytekit's message, (our status code, our details)). httpx cannot send a header value that is not
#: ASCII; flytekit finds out while sending, connector-http before (a field that cannot be used).
STATUS_DIFFERENCES = {
    "non-ascii-header": (
        "'ascii' codec can't encode character '\\xe9' in position 1: ordinal not in range(128)",
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "webhook: the custom field 'headers' has a value of header 'X-Name' that is not ASCII text, "
            "which flytekit's connector cannot send either",
        ),
    ),
}


@dataclass(frozen=True)
class Case:
    """A WebhookTask (its arguments, the URL as a path on the loopback server) and its inputs."""

    id: str
    task: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    #: Whether a request reaches the endpoint (not when the template cannot be filled in).
    sends: bool = True

    def spec(self, origin: str) -> dict[str, Any]:
        return {"kind": "webhook", "name": f"compat.{self.id}", **self.task, "url": origin + self.task["url"]}


CASES = [
    Case(
        "post-data",
        {
            "url": "/hooks/post",
            "data": {
                "text": "hello",
                "count": 3,
                "ratio": 0.5,
                "ok": True,
                "nested": {"items": [1, "two", None]},
            },
        },
    ),
    Case(
        "post-dynamic-inputs",
        {
            "url": "/items/{inputs.n}",
            "dynamic_inputs": {"s": "str", "n": "int", "x": "float", "flag": "bool"},
            "data": {
                "whole_s": "{inputs.s}",
                "whole_n": "{inputs.n}",
                "whole_x": "{inputs.x}",
                "whole_flag": "{inputs.flag}",
                "spliced": "n={inputs.n}, s={inputs.s}, x={inputs.x}, flag={inputs.flag}",
                "in_list": ["{inputs.n}", "item-{inputs.s}"],
                "static": "no placeholder",
            },
            "show_data": True,
            "show_url": True,
        },
        {"s": "h\u00e9llo w\u00f6rld", "n": 42, "x": 2.5, "flag": True},
    ),
    Case(
        "get-data-query",
        {
            "url": "/search",
            "method": "GET",
            "dynamic_inputs": {"s": "str"},
            "data": {
                "q": "{inputs.s}",
                "n": 7,
                "flag": True,
                "off": False,
                "empty": "",
                "tags": ["x", "y z"],
            },
            "show_data": True,
        },
        {"s": "a b&c=d/\u00e9"},
    ),
    Case("get-no-data", {"url": "/plain", "method": "GET", "show_url": True, "timeout": 5}),
    Case(
        "custom-headers",
        {
            "url": "/hooks/headers",
            "dynamic_inputs": {"s": "str"},
            "headers": {
                "X-Custom": "one",
                "X-From-Input": "{inputs.s}",
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": "Bearer compat-token",
            },
            "data": {"s": "{inputs.s}"},
        },
        {"s": "value"},
    ),
    Case("post-empty-data", {"url": "/hooks/empty", "show_data": True, "show_url": True}),
    Case("timeout-slow-endpoint", {"url": "/slow/hook", "data": {"a": 1}, "timeout": 0.5}),
    Case("answer-201", {"url": "/status/201/created", "data": {"a": 1}, "show_data": True}),
    Case("answer-500", {"url": "/status/500/broken", "data": {"a": 1}}),
    Case("answer-302-not-followed", {"url": "/redirect/away", "data": {"a": 1}}),
    Case("get-query-in-url-replaced", {"url": "/search?fixed=1", "method": "GET", "data": {"q": "x"}}),
    Case(
        "typed-inputs",
        {
            "url": "/hooks/typed",
            "dynamic_inputs": {"when": "datetime", "wait": "timedelta", "cfg": "dict", "nums": "list[int]"},
            "data": {
                "when": "{inputs.when}",
                "wait": "{inputs.wait}",
                "cfg": "{inputs.cfg}",
                "nums": "{inputs.nums}",
                "spliced": "at {inputs.when} after {inputs.wait}: {inputs.nums}",
            },
            "show_data": True,
        },
        {"when": "2024-05-01T12:30:00+00:00", "wait": 90.5, "cfg": {"k": "v", "n": 1}, "nums": [1, 2, 3]},
    ),
    Case(
        "non-ascii-header",
        {"url": "/hooks/never", "dynamic_inputs": {"s": "str"}, "headers": {"X-Name": "{inputs.s}"}},
        {"s": "h\u00e9llo"},
        sends=False,
    ),
    Case(
        "missing-input",
        {"url": "/hooks/never", "dynamic_inputs": {"run": "str"}, "data": {"text": "{inputs.rn}"}},
        {"run": "r1"},
        sends=False,
    ),
]


@pytest.fixture(scope="module")
def serialized(serializer: Driver, recorder: Recorder) -> dict[str, dict[str, Any]]:
    """Each case's template and inputs, serialized by flytekit once per module."""
    return {
        case.id: serializer.ask("serialize", task=case.spec(recorder.origin), inputs=case.inputs)
        for case in CASES
    }


def _run(stub: Any, recorder: Recorder, made: dict[str, Any]) -> tuple[Answer, list[Recorded]]:
    answer = execute_sync(stub, b64decode(made["template"]), b64decode(made["inputs"]))
    return answer, recorder.take()


@pytest.fixture(scope="module")
def side_by_side(
    serialized: dict[str, dict[str, Any]], flytekit_service: FlytekitService, ours: Served, recorder: Recorder
) -> dict[str, tuple[tuple[Answer, list[Recorded]], tuple[Answer, list[Recorded]]]]:
    """Every case run against flytekit's service, then ours, one at a time (the recorder is shared)."""
    recorder.take()
    runs = {}
    for case in CASES:
        theirs = _run(flytekit_service.v1_sync, recorder, serialized[case.id])
        mine = _run(ours.v1_sync, recorder, serialized[case.id])
        runs[case.id] = (theirs, mine)
    return runs


def test_flytekit_serializes_a_webhook_template(
    serialized: dict[str, dict[str, Any]], recorder: Recorder
) -> None:
    """The template is flytekit's own: its task type and custom fields, as registration sends them."""
    custom = serialized["post-dynamic-inputs"]["custom"]
    assert custom == {
        "url": recorder.origin + "/items/{inputs.n}",
        "method": "POST",
        "headers": {},
        "data": CASES[1].task["data"],
        "show_data": True,
        "show_url": True,
        "timeout_sec": 10.0,
    }
    assert set(inputs_of(b64decode(serialized["post-dynamic-inputs"]["inputs"])).literals) == {
        "s",
        "n",
        "x",
        "flag",
    }


def _unversioned(headers: dict[str, str]) -> dict[str, str]:
    agent = headers.get("user-agent")
    return headers if agent is None else {**headers, "user-agent": agent.split("/")[0]}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_same_request_reaches_the_endpoint(case: Case, side_by_side: dict[str, Any]) -> None:
    """Method, path, query, body and Content-Type equal; only HEADER_DIFFERENCES differ.

    The order of a JSON body's keys and of the query's parameters is not compared: flytekit takes it
    from the template's protobuf Struct, whose map order is unspecified (it changes from one process
    to the next), so flytekit's own order is not stable. Everything else is compared byte for byte:
    each ``name=value`` pair as encoded, a repeated name's values in their order, and the body as
    serialized (separators, escaping, number spelling).
    """
    (_, theirs), (_, mine) = side_by_side[case.id]
    assert len(theirs) == len(mine) == int(case.sends), (theirs, mine)
    if not case.sends:
        return
    expected, got = theirs[0], mine[0]
    assert (got.method, got.path) == (expected.method, expected.path)
    assert _pairs(got.query) == _pairs(expected.query)
    assert json_body(expected.body)[1], (
        "flytekit's body is not httpx's compact JSON; json_body needs updating"
    )
    assert json_body(got.body) == json_body(expected.body)
    assert got.header("content-type") == expected.header("content-type")
    assert got.header("content-length") == expected.header("content-length")
    expected_headers, got_headers = _unversioned(expected.header_map()), _unversioned(got.header_map())
    differing = {
        name
        for name in expected_headers.keys() | got_headers.keys()
        if expected_headers.get(name) != got_headers.get(name)
    }
    assert differing == HEADER_DIFFERENCES, {
        name: (expected_headers.get(name), got_headers.get(name)) for name in differing ^ HEADER_DIFFERENCES
    }


def _pairs(query: str) -> list[str]:
    """The query's ``name=value`` pairs as encoded, grouped by name (a stable sort keeps value order)."""
    return sorted((pair for pair in query.split("&") if pair), key=lambda pair: pair.partition("=")[0])


def json_body(body: bytes) -> tuple[Any, bool]:
    """A JSON body's value, and whether its bytes are exactly httpx's ``json=`` serialization of it.

    httpx writes ``json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``
    as UTF-8; re-serializing the parsed value in its own key order gives the same bytes only if the
    body was written that way. An empty body is ``(None, True)``.
    """
    if not body:
        return None, True
    value = json.loads(body)
    compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    return value, compact == body


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_same_answer(case: Case, side_by_side: dict[str, Any], decoder: Driver, recorder: Recorder) -> None:
    """Status code, phase, message, log links and custom info equal; outputs decode to equal values."""
    (theirs, _), (mine, _) = side_by_side[case.id]
    if case.id in STATUS_DIFFERENCES:
        their_message, refused = STATUS_DIFFERENCES[case.id]
        assert theirs.code == grpc.StatusCode.OK, theirs.details
        assert resource_fields(theirs.response) == {"phase": "FAILED", "message": their_message}
        assert (mine.code, mine.details) == refused
        return
    assert (mine.code, mine.details) == (theirs.code, theirs.details)
    assert theirs.code == grpc.StatusCode.OK, theirs.details
    their_fields, my_fields = resource_fields(theirs.response), resource_fields(mine.response)
    if case.id in MESSAGE_DIFFERENCES:
        their_message, my_message = (
            m.replace("{origin}", recorder.origin) for m in MESSAGE_DIFFERENCES[case.id]
        )
        assert their_fields.pop("message", "") == their_message
        assert my_fields.pop("message", "") == my_message
    assert my_fields == their_fields
    assert mine.response.HasField("outputs") == theirs.response.HasField("outputs")
    assert literal_shapes(mine.response.outputs) == literal_shapes(theirs.response.outputs)
    if theirs.response.HasField("outputs"):
        spec = case.spec(recorder.origin)
        expected = decoder.ask("decode", task=spec, outputs=_b64(theirs.response.outputs))
        got = decoder.ask("decode", task=spec, outputs=_b64(mine.response.outputs))
        assert got == expected


def test_outputs_are_flytekits_info(
    side_by_side: dict[str, Any], decoder: Driver, recorder: Recorder
) -> None:
    """What both answer for a successful call: ``info`` with flytekit's keys, as flytekit decodes it."""
    (theirs, _), _ = side_by_side["post-dynamic-inputs"]
    spec = CASES[1].spec(recorder.origin)
    decoded = decoder.ask("decode", task=spec, outputs=_b64(theirs.response.outputs))
    assert decoded["types"] == {
        "info": {
            "status_code": "int",
            "response_data": "str",
            "input_data": {
                "whole_s": "str",
                "whole_n": "int",
                "whole_x": "float",
                "whole_flag": "bool",
                "spliced": "str",
                "in_list": ["int", "str"],
                "static": "str",
            },
            "url": "str",
        }
    }
    info = decoded["values"]["info"]
    assert info["response_data"] == ANSWER_BODY
    assert info["url"] == recorder.origin + "/items/42"
    assert info["input_data"]["spliced"] == "n=42, s=h\u00e9llo w\u00f6rld, x=2.5, flag=True"


def _b64(message: Any) -> str:
    return base64.b64encode(message.SerializeToString()).decode()
