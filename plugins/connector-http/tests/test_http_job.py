"""http_job against a real local jobs API: submit, poll, cancel, log links, and each failure's message."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from connector_http import HttpConfigError, HttpJob, HttpJobMeta, HttpRequestError, HttpStatusError
from connector_http._http import Request
from localhttp import Answer, JobsApi, LocalServer

import connector
from connector.testing import LifecycleDriver

Phase = connector.Phase


@pytest.fixture
def driver() -> LifecycleDriver:
    return LifecycleDriver(HttpJob())


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def test_a_job_is_submitted_polled_to_success_and_cancelled(
    driver: LifecycleDriver, jobs_api: JobsApi
) -> None:
    lifecycle = driver.run(driver.template(jobs_api.custom()))
    assert [(r.phase, r.message) for r in lifecycle.resources] == [
        (Phase.QUEUED, "job-1 is pending"),
        (Phase.RUNNING, "job-1 is running"),
        (Phase.SUCCEEDED, "job-1 is done"),
    ]
    final = lifecycle.final
    assert final.outputs == {"rows": 42}
    assert final.log_links == [connector.TaskLog("https://console.example/jobs/job-1", name="Job")]
    assert final.custom_info == {"job_id": "job-1", "state": "done"}
    assert [(s.method, s.path) for s in jobs_api.server.seen] == [
        ("POST", "/jobs"),
        ("GET", "/jobs/job-1"),
        ("GET", "/jobs/job-1"),
        ("GET", "/jobs/job-1"),
        ("DELETE", "/jobs/job-1"),
    ]
    assert jobs_api.server.seen[0].json() == {"query": "select 1"}
    assert jobs_api.cancelled == ["job-1"]


async def test_the_async_driver_runs_it_too(jobs_api: JobsApi) -> None:
    driver = LifecycleDriver(HttpJob())
    lifecycle = await driver.arun(driver.template(jobs_api.custom()))
    assert lifecycle.final.phase is Phase.SUCCEEDED


def test_the_meta_carries_everything_but_the_secret(
    driver: LifecycleDriver, jobs_api: JobsApi, allow_secret: Callable[[str, str], None]
) -> None:
    allow_secret("token", jobs_api.server.url)
    custom = jobs_api.custom(auth_secret="token")
    connection = connector.Connection(secrets={"token": "s3cret"})
    meta = driver.create(driver.template(custom), connection=connection)
    encoded = meta.encode()
    assert b"s3cret" not in encoded
    # Another replica, with no template (flyteidl v1 sends none to get), answers from the bytes alone.
    replica = LifecycleDriver(HttpJob())
    resource = replica.get(HttpJobMeta.decode(encoded), connection=connection)
    assert resource.phase is Phase.QUEUED
    replica.delete(HttpJobMeta.decode(encoded), connection=connection)
    assert {s.headers["authorization"] for s in jobs_api.server.seen} == {"Bearer s3cret"}


def test_an_explicit_state_map_wins_over_from_state(driver: LifecycleDriver, server: LocalServer) -> None:
    api = JobsApi(server, ["PEND", "done", "FIN"])
    state_map = {"PEND": "waiting_for_resources", "done": "RUNNING", "FIN": "succeeded"}
    lifecycle = driver.run(driver.template(api.custom(state_map=state_map)))
    assert [r.phase for r in lifecycle.resources] == [
        Phase.WAITING_FOR_RESOURCES,
        Phase.RUNNING,
        Phase.SUCCEEDED,
    ]


def test_a_failed_job_fails_without_outputs(driver: LifecycleDriver, server: LocalServer) -> None:
    api = JobsApi(server, ["running", "error"])
    lifecycle = driver.run(driver.template(api.custom()))
    assert lifecycle.final.phase is Phase.FAILED
    assert lifecycle.final.outputs is None


def test_without_a_message_field_the_state_is_the_message(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    custom = jobs_api.custom()
    del custom["message_field"]
    meta = driver.create(driver.template(custom))
    assert driver.get(meta).message == "state pending"


def test_an_unknown_state_says_to_map_it(driver: LifecycleDriver, server: LocalServer) -> None:
    api = JobsApi(server, ["zombie"])
    meta = driver.create(driver.template(api.custom()))
    with pytest.raises(
        HttpRequestError,
        match=exactly(
            "http_job: the job state 'zombie' is neither in the custom field 'state_map' nor a state "
            "connector.Phase.from_state knows; add it to 'state_map'"
        ),
    ):
        driver.get(meta)


def test_text_json_cannot_encode_is_escaped_in_the_message(
    driver: LifecycleDriver, server: LocalServer
) -> None:
    # JSON can carry a lone surrogate ("\ud800"), which no UTF-8 message or gRPC status can.
    body = '{"state": "running", "detail": "half \\ud800 a pair"}'
    server.route("GET", "/jobs/1", Answer(200, body, {"Content-Type": "application/json"}))
    meta = HttpJobMeta(
        job_id="1",
        status=Request("GET", f"{server.url}/jobs/{{job_id}}"),
        state_field="state",
        message_field="detail",
    )
    resource = driver.get(meta)
    assert resource.phase is Phase.RUNNING
    assert resource.message == "half \\ud800 a pair"


def test_the_job_id_is_quoted_in_urls(driver: LifecycleDriver, server: LocalServer) -> None:
    server.route("POST", "/jobs", Answer(200, {"id": "a/b c"}))
    server.route("GET", "/jobs/a%2Fb%20c", Answer(200, {"state": "done"}))
    custom = {"submit": {"url": f"{server.url}/jobs"}, "status": {"url": f"{server.url}/jobs/{{job_id}}"}}
    lifecycle = driver.run(driver.template(custom))
    assert lifecycle.final.phase is Phase.SUCCEEDED
    assert lifecycle.final.log_links == []


def test_common_headers_go_with_every_request(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    custom = jobs_api.custom(headers={"X-Team": "data", "X-Override": "common"})
    custom["status"]["headers"] = {"X-Override": "status"}
    driver.run(driver.template(custom))
    seen = jobs_api.server.seen
    assert {s.headers["x-team"] for s in seen} == {"data"}
    assert [s.headers["x-override"] for s in seen] == ["common", "status", "status", "status", "common"]


def test_cancel_is_idempotent_and_can_template_its_body(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    custom = jobs_api.custom()
    custom["cancel"] = {
        "url": f"{jobs_api.server.url}/jobs/{{job_id}}",
        "body": '{"reason": "stop {job_id}"}',
    }
    meta = driver.create(driver.template(custom))
    driver.delete(meta)
    driver.delete(meta)  # answered 404: already gone
    cancels = [s for s in jobs_api.server.seen if s.method == "DELETE"]
    assert [s.body for s in cancels] == [b'{"reason": "stop job-1"}'] * 2


def test_a_failing_cancel_raises(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    meta = driver.create(driver.template(jobs_api.custom()))
    jobs_api.server.route("DELETE", "/jobs/job-1", Answer(500, "boom"))
    with pytest.raises(
        HttpStatusError,
        match=exactly(
            f"http_job: the cancel request DELETE {jobs_api.server.url}/jobs/job-1 was answered 500 "
            "Internal Server Error: boom"
        ),
    ) as info:
        driver.delete(meta)
    assert info.value.status == 500


def test_without_cancel_delete_sends_nothing(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    custom = jobs_api.custom()
    del custom["cancel"]
    meta = driver.create(driver.template(custom))
    driver.delete(meta)
    assert [s.method for s in jobs_api.server.seen] == ["POST"]


def test_a_refused_submit_raises(driver: LifecycleDriver, server: LocalServer) -> None:
    server.route("POST", "/jobs", Answer(403, {"error": "quota"}))
    custom = {"submit": {"url": f"{server.url}/jobs"}, "status": {"url": f"{server.url}/s/{{job_id}}"}}
    with pytest.raises(
        HttpStatusError,
        match=exactly(
            f"http_job: the submit request POST {server.url}/jobs was answered 403 Forbidden: "
            '{"error": "quota"}'
        ),
    ) as info:
        driver.create(driver.template(custom))
    assert (info.value.status, info.value.url) == (403, f"{server.url}/jobs")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            Answer(200, "{oops", {"Content-Type": "application/json"}),
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (Answer(200, "id=1", {"Content-Type": "text/plain"}), "its Content-Type is text/plain"),
    ],
)
def test_a_submit_answer_that_is_not_json_raises(
    driver: LifecycleDriver, server: LocalServer, answer: Answer, reason: str
) -> None:
    server.route("POST", "/jobs", answer)
    custom = {"submit": {"url": f"{server.url}/jobs"}, "status": {"url": f"{server.url}/s/{{job_id}}"}}
    with pytest.raises(
        HttpRequestError,
        match=exactly(
            f"http_job: the submit answer of POST {server.url}/jobs is not valid JSON ({reason}): "
            f"{answer.body}"
        ),
    ):
        driver.create(driver.template(custom))


def test_a_submit_answer_without_an_id_raises(driver: LifecycleDriver, server: LocalServer) -> None:
    server.route("POST", "/jobs", Answer(200, {"job": {}}))
    custom = {
        "submit": {"url": f"{server.url}/jobs"},
        "status": {"url": f"{server.url}/s/{{job_id}}"},
        "job_id_field": "job.id",
    }
    with pytest.raises(
        HttpRequestError,
        match=exactly(
            f"http_job: the submit answer of POST {server.url}/jobs has no job id at 'job.id' (custom field "
            "'job_id_field'): {\"job\": {}}"
        ),
    ):
        driver.create(driver.template(custom))


def test_a_status_answer_without_the_state_raises(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    meta = driver.create(driver.template(jobs_api.custom(state_field="phase")))
    with pytest.raises(
        HttpRequestError,
        match=r"^http_job: the status answer of GET .*/jobs/job-1 has no state "
        r"at 'phase' \(custom field 'state_field'\): \{\"status\": \"pending\"",
    ):
        driver.get(meta)


def test_outputs_that_are_not_an_object_raise(driver: LifecycleDriver, server: LocalServer) -> None:
    api = JobsApi(server, ["done"])
    meta = driver.create(driver.template(api.custom(outputs_field="result.rows")))
    with pytest.raises(
        HttpRequestError,
        match=r"has no object of outputs at 'result.rows' \(custom field "
        r"'outputs_field'\)",
    ):
        driver.get(meta)


def test_a_status_timeout_raises(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    meta = driver.create(driver.template(jobs_api.custom(timeout=0.2)))
    jobs_api.server.route("GET", "/jobs/job-1", Answer(hang=True))
    with pytest.raises(
        HttpRequestError,
        match=exactly(f"http_job: GET {jobs_api.server.url}/jobs/job-1 timed out after 0.2s"),
    ):
        driver.get(meta)


def test_a_status_error_raises(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    meta = driver.create(driver.template(jobs_api.custom()))
    jobs_api.server.route("GET", "/jobs/job-1", Answer(502, ""))
    with pytest.raises(
        HttpStatusError,
        match=exactly(
            f"http_job: the status request GET {jobs_api.server.url}/jobs/job-1 was answered 502 "
            "Bad Gateway: "
        ),
    ):
        driver.get(meta)


GOOD = {"submit": {"url": "http://h/jobs"}, "status": {"url": "http://h/jobs/{job_id}"}}


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({}, "http_job: the custom field 'submit' is required"),
        (
            {"submit": "http://h/jobs"},
            "http_job: the custom field 'submit' must be an object; got a string of 13 characters",
        ),
        (
            {"submit": {"url": "http://h/jobs"}},
            "http_job: the custom field 'status' is required",
        ),
        ({**GOOD, "status": {}}, "http_job: the custom field 'status.url' is required"),
        (
            {**GOOD, "cancel": {"url": "h"}},
            "http_job: the custom field 'cancel.url' must be an http:// or https:// URL; got 'h'",
        ),
        (
            {**GOOD, "status": {"url": "http://{job_id}.example/jobs"}},
            "http_job: the custom field 'status.url' is not a URL connector-http can send: its host is "
            "neither a DNS name nor an IP address; got 'http://{job_id}.example/jobs'",
        ),
        (
            {**GOOD, "status": {"url": "http://h/jobs/{id}"}},
            "http_job: the custom field 'status.url' uses {id}; the only placeholder is {job_id}",
        ),
        (
            {**GOOD, "log_url": "http://h/{job_id}/{run}"},
            "http_job: the custom field 'log_url' uses {run}; the only placeholder is {job_id}",
        ),
        (
            {**GOOD, "cancel": {"url": "http://h/{job_id}", "body": "{x}"}},
            "http_job: the custom field 'cancel.body' uses {x}; the only placeholder is {job_id}",
        ),
        (
            {**GOOD, "state_map": {"ok": "GREAT"}},
            "http_job: the custom field 'state_map' maps 'ok' to 'GREAT', "
            "which is not a phase; phases: UNDEFINED, QUEUED, RUNNING, SUCCEEDED, ABORTED, FAILED, "
            "INITIALIZING, WAITING_FOR_RESOURCES, RETRYABLE_FAILED",
        ),
        (
            {**GOOD, "state_map": ["ok"]},
            "http_job: the custom field 'state_map' must be an object; got an array of 1 item",
        ),
        (
            {**GOOD, "state_field": 3},
            "http_job: the custom field 'state_field' must be a string; got an integer",
        ),
        (
            {**GOOD, "headers": "X: 1"},
            "http_job: the custom field 'headers' must be an object; got a string of 4 characters",
        ),
    ],
)
def test_bad_custom_fields_are_refused_before_any_request(custom: dict[str, Any], message: str) -> None:
    driver = LifecycleDriver(HttpJob())
    # The connector's HttpConfigError, or the core's CustomFieldError for its declared fields (issue 12).
    with pytest.raises((HttpConfigError, connector.CustomFieldError), match=exactly(message)):
        driver.create(driver.template(custom))


# -- the idempotency key (issue 10) ---------------------------------------------------------------------


def attempt(number: int) -> connector.TaskExecutionMetadata:
    """The metadata propeller sends with each CreateTask of one attempt of one task execution."""
    return connector.TaskExecutionMetadata(task_execution_id=f"proj/dev/run-1/n0/attempt-{number}")


def key_of(metadata: connector.TaskExecutionMetadata) -> str:
    return connector.idempotency_key(connector.TaskCategory("http_job"), metadata.task_execution_id)


def submits(api: JobsApi) -> list[dict[str, str]]:
    return [seen.headers for seen in api.server.seen if seen.method == "POST"]


def test_the_submit_request_carries_the_idempotency_key(driver: LifecycleDriver, jobs_api: JobsApi) -> None:
    template = driver.template(jobs_api.custom(idempotency_header=True))
    driver.run(template, task_execution_metadata=attempt(1))
    (submit,) = submits(jobs_api)
    assert submit["idempotency-key"] == key_of(attempt(1))
    assert re.fullmatch(r"ck1-[0-9a-f]{32}", submit["idempotency-key"])
    # Only the request that starts the job carries it.
    assert [("idempotency-key" in s.headers) for s in jobs_api.server.seen if s.method != "POST"] == [
        False
    ] * 4


def test_a_replayed_create_sends_the_same_key_and_the_next_attempt_another(
    driver: LifecycleDriver, jobs_api: JobsApi
) -> None:
    template = driver.template(jobs_api.custom(idempotency_header="X-Request-Id"))
    driver.create(template, task_execution_metadata=attempt(1))
    driver.create(template, task_execution_metadata=attempt(1))  # propeller replays a failed CreateTask
    driver.create(template, task_execution_metadata=attempt(2))  # a retry is a new attempt
    keys = [headers["x-request-id"] for headers in submits(jobs_api)]
    assert keys == [key_of(attempt(1)), key_of(attempt(1)), key_of(attempt(2))]
    assert keys[0] != keys[2]


def test_the_key_given_to_create_is_the_one_sent(jobs_api: JobsApi) -> None:
    template = connector.TaskTemplate("http_job", custom=jobs_api.custom(idempotency_header="Idem"))
    asyncio.run(HttpJob().create(template, connector.Connection(), idempotency_key="order-42"))
    assert submits(jobs_api)[0]["idem"] == "order-42"


def test_a_configured_header_without_a_key_sends_nothing(jobs_api: JobsApi) -> None:
    template = connector.TaskTemplate("http_job", custom=jobs_api.custom(idempotency_header=True))
    with pytest.raises(
        HttpConfigError,
        match=exactly(
            "http_job: the custom field 'idempotency_header' asks for an idempotency key, but the call gave "
            "none (connector-core gives one to every create)"
        ),
    ):
        asyncio.run(HttpJob().create(template, connector.Connection(), idempotency_key=""))
    assert jobs_api.server.seen == []


@pytest.mark.parametrize("configured", [{}, {"idempotency_header": False}, {"idempotency_header": None}])
def test_without_idempotency_header_no_key_is_sent(
    driver: LifecycleDriver, jobs_api: JobsApi, configured: dict[str, Any]
) -> None:
    driver.create(driver.template(jobs_api.custom(**configured)), task_execution_metadata=attempt(1))
    (submit,) = submits(jobs_api)
    assert key_of(attempt(1)) not in submit.values()
    assert "idempotency-key" not in submit


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        (
            {"idempotency_header": 1},
            "http_job: the custom field 'idempotency_header' must be a boolean or string; got an integer",
        ),
        (
            {"idempotency_header": "Idempotency Key"},
            "http_job: the custom field 'idempotency_header' has a header name that is not an HTTP token: "
            "'Idempotency Key'",
        ),
        (
            {"idempotency_header": "Idempotency-Key:x\r\nHost: internal"},
            "http_job: the custom field 'idempotency_header' has a header name that is not an HTTP token: "
            "'Idempotency-Key:x\\r\\nHost: internal'",
        ),
        (
            {"idempotency_header": "Transfer-Encoding"},
            "http_job: the custom field 'idempotency_header' sets 'Transfer-Encoding', which connector-http "
            "sets itself (the host is the URL's, the body's length and framing are the body's)",
        ),
        (
            {"idempotency_header": "idempotency-key", "headers": {"Idempotency-Key": "fixed"}},
            "http_job: the custom field 'idempotency_header' names 'idempotency-key', which the submit "
            "request's headers ('headers' or 'submit.headers') set too; set it in one place",
        ),
        (
            {"idempotency_header": "Authorization", "auth_secret": "token"},
            "http_job: the custom field 'idempotency_header' names 'Authorization', which 'auth_header' sets "
            "too; set it in one place",
        ),
    ],
)
def test_a_bad_idempotency_header_is_refused_before_any_request(
    forbidden_server: LocalServer, custom: dict[str, Any], message: str
) -> None:
    driver = LifecycleDriver(HttpJob())
    fields = {
        "submit": {"url": f"{forbidden_server.url}/jobs"},
        "status": {"url": f"{forbidden_server.url}/jobs/{{job_id}}"},
        **custom,
    }
    with pytest.raises((HttpConfigError, connector.CustomFieldError), match=exactly(message)):
        driver.create(driver.template(fields), task_execution_metadata=attempt(1))
    assert forbidden_server.seen == []
