"""HttpJob: a remote job behind an HTTP API: submit, poll its status, cancel (an async connector)."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import connector

from ._exceptions import HttpConfigError, HttpRequestError, HttpStatusError
from ._http import (
    Auth,
    Request,
    Response,
    auth_headers,
    excerpt,
    invalid_json,
    is_missing,
    lookup,
    read_auth,
    read_headers,
    read_request,
    read_timeout,
    send,
)

TASK = "http_job"
#: The one placeholder the status, cancel and log-link templates may use.
PLACEHOLDER = "job_id"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A cancel answered with these means the job is finished or gone already: delete stays idempotent.
_GONE = {404, 409, 410}


@dataclasses.dataclass
class HttpJobMeta(connector.ResourceMeta):
    """Everything ``get`` and ``delete`` need, so any replica can answer without the template.

    Secrets are never stored: ``auth`` names the secret, read again at each call.
    """

    job_id: str
    status: Request
    state_field: str
    cancel: Request | None = None
    state_map: dict[str, str] = dataclasses.field(default_factory=dict)
    message_field: str = ""
    outputs_field: str = ""
    log_url: str = ""
    log_name: str = "Job"
    timeout: float = 30.0
    auth: Auth | None = None


def _placeholders(template: str, field: str) -> None:
    # Only {name} with an identifier counts as a placeholder, so JSON bodies keep their braces.
    unknown = sorted(set(_PLACEHOLDER.findall(template)) - {PLACEHOLDER})
    if unknown:
        raise HttpConfigError(
            f"{TASK}: the custom field '{field}' uses {{{unknown[0]}}}; "
            f"the only placeholder is {{{PLACEHOLDER}}}"
        )


def _fill(template: str, job_id: str, *, quote: bool) -> str:
    return template.replace("{" + PLACEHOLDER + "}", urllib.parse.quote(job_id, safe="") if quote else job_id)


def _section(custom: Mapping[str, Any], name: str, *, required: bool) -> Mapping[str, Any] | None:
    value = custom.get(name)
    if value is None:
        if required:
            raise HttpConfigError(
                f"{TASK}: the custom field '{name}' is required (an object with at least 'url')"
            )
        return None
    if not isinstance(value, Mapping):
        raise HttpConfigError(
            f"{TASK}: the custom field '{name}' must be an object with at least 'url'; got {value!r}"
        )
    return value


def _state_map(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise HttpConfigError(
            f"{TASK}: the custom field 'state_map' must map states to phases; got {value!r}"
        )
    mapped: dict[str, str] = {}
    for state, phase in value.items():
        name = phase.upper() if isinstance(phase, str) else ""
        if name not in connector.Phase.__members__:
            raise HttpConfigError(
                f"{TASK}: the custom field 'state_map' maps {state!r} to {phase!r}, which is not a phase; "
                f"phases: {', '.join(connector.Phase.__members__)}"
            )
        mapped[str(state)] = name
    return mapped


def _string_field(custom: Mapping[str, Any], name: str, default: str) -> str:
    value = custom.get(name, default)
    if not isinstance(value, str):
        raise HttpConfigError(f"{TASK}: the custom field '{name}' must be a string; got {value!r}")
    return value


class HttpJob(connector.AsyncConnector):
    """A job behind an HTTP API: one request submits it, another reports its state, a third cancels it.

    Custom fields: ``submit``, ``status`` and ``cancel`` (optional) are requests (``url``,
    ``method``, ``headers``, ``body``); ``status.url``, ``cancel.url``, ``cancel.body`` and
    ``log_url`` may use ``{job_id}``. ``job_id_field`` (default ``id``) is the dotted path of the
    job's id in the submit answer; ``state_field`` (default ``state``) that of its state in the
    status answer, turned into a phase by ``state_map`` (state -> phase name) and otherwise by
    ``connector.Phase.from_state``. ``message_field`` and ``outputs_field`` pick the message and,
    on success, the outputs. ``headers`` applies to every request; ``timeout`` and the auth fields
    are those of ``webhook``.
    """

    name = "HTTP job"
    task_type_name = "http_job"
    metadata_type = HttpJobMeta

    def create(self, task_template: connector.TaskTemplate, connection: connector.Connection) -> HttpJobMeta:
        """Check every field, send the submit request and keep the job's id with the other requests."""
        custom = task_template.custom
        common = read_headers(custom.get("headers"), task=TASK, field="headers")
        timeout = read_timeout(custom, task=TASK)
        auth = read_auth(custom, task=TASK)
        requests: dict[str, Request | None] = {}
        for step, method in (("submit", "POST"), ("status", "GET"), ("cancel", "DELETE")):
            section = _section(custom, step, required=step != "cancel")
            requests[step] = None
            if section is not None:
                request = read_request(section, task=TASK, prefix=f"{step}.", default_method=method)
                requests[step] = _with_headers(request, common)
        submit, status, cancel = requests["submit"], requests["status"], requests["cancel"]
        assert submit is not None  # a required section
        assert status is not None
        log_url = _string_field(custom, "log_url", "")
        for field, template in (("status.url", status.url), ("log_url", log_url)):
            _placeholders(template, field)
        if cancel is not None:
            _placeholders(cancel.url, "cancel.url")
            if cancel.body is not None:
                _placeholders(cancel.body, "cancel.body")
        job_id_field = _string_field(custom, "job_id_field", "id")
        meta = HttpJobMeta(
            job_id="",
            status=status,
            state_field=_string_field(custom, "state_field", "state"),
            cancel=cancel,
            state_map=_state_map(custom.get("state_map")),
            message_field=_string_field(custom, "message_field", ""),
            outputs_field=_string_field(custom, "outputs_field", ""),
            log_url=log_url,
            log_name=_string_field(custom, "log_name", "Job"),
            timeout=timeout,
            auth=auth,
        )
        response = self._send(submit, meta, connection, "submit")
        document = self._json(response, submit, "submit")
        job_id = lookup(document, job_id_field)
        if is_missing(job_id) or isinstance(job_id, (dict, list)) or job_id is None:
            raise HttpRequestError(
                f"{TASK}: the submit answer of {submit.method} {submit.url} has no job id at "
                f"'{job_id_field}' (custom field 'job_id_field'): {excerpt(response.text)}",
                url=submit.url,
            )
        meta.job_id = str(job_id)
        return meta

    def get(self, resource_meta: HttpJobMeta, connection: connector.Connection) -> connector.Resource:
        """Send the status request and map the state it reports to a phase."""
        meta = resource_meta
        request = dataclasses.replace(meta.status, url=_fill(meta.status.url, meta.job_id, quote=True))
        response = self._send(request, meta, connection, "status")
        document = self._json(response, request, "status")
        state = lookup(document, meta.state_field)
        if is_missing(state) or isinstance(state, (dict, list)):
            raise HttpRequestError(
                f"{TASK}: the status answer of {request.method} {request.url} has no state at "
                f"'{meta.state_field}' (custom field 'state_field'): {excerpt(response.text)}",
                url=request.url,
            )
        phase = self._phase(str(state), meta)
        message = lookup(document, meta.message_field) if meta.message_field else None
        outputs = None
        if phase is connector.Phase.SUCCEEDED and meta.outputs_field:
            outputs = lookup(document, meta.outputs_field)
            if not isinstance(outputs, dict):
                raise HttpRequestError(
                    f"{TASK}: the status answer of {request.method} {request.url} has no object of outputs "
                    f"at '{meta.outputs_field}' (custom field 'outputs_field'): {excerpt(response.text)}",
                    url=request.url,
                )
        links = (
            [connector.TaskLog(_fill(meta.log_url, meta.job_id, quote=True), name=meta.log_name)]
            if meta.log_url
            else []
        )
        return connector.Resource(
            phase,
            message=str(message) if message is not None and not is_missing(message) else f"state {state!s}",
            log_links=links,
            outputs=outputs,
            custom_info={"job_id": meta.job_id, "state": state},
        )

    def delete(self, resource_meta: HttpJobMeta, connection: connector.Connection) -> None:
        """Send the cancel request; an answer of 404, 409 or 410 means the job is already over."""
        meta = resource_meta
        if meta.cancel is None:
            return  # the API cannot cancel: forgetting the job is all delete can do
        body = _fill(meta.cancel.body, meta.job_id, quote=False) if meta.cancel.body is not None else None
        request = dataclasses.replace(
            meta.cancel, url=_fill(meta.cancel.url, meta.job_id, quote=True), body=body
        )
        try:
            self._send(request, meta, connection, "cancel")
        except HttpStatusError as exc:
            if exc.status not in _GONE:
                raise

    # Helpers.

    @staticmethod
    def _send(request: Request, meta: HttpJobMeta, connection: connector.Connection, step: str) -> Response:
        extra = auth_headers(meta.auth, connection, task=TASK)
        response = send(request, timeout=meta.timeout, extra_headers=extra, task=TASK)
        if not 200 <= response.status < 300:
            raise HttpStatusError(
                f"{TASK}: the {step} request {request.method} {request.url} was answered {response.status} "
                f"{response.reason}: {excerpt(response.text)}",
                url=request.url,
                status=response.status,
            )
        return response

    @staticmethod
    def _json(response: Response, request: Request, step: str) -> Any:
        reason = invalid_json(response)
        if reason is None and not response.is_json:
            reason = f"its Content-Type is {response.headers.get('content-type', 'missing')}"
        if reason is not None:
            raise HttpRequestError(
                f"{TASK}: the {step} answer of {request.method} {request.url} is not valid JSON ({reason}): "
                f"{excerpt(response.text)}",
                url=request.url,
            )
        return response.data

    @staticmethod
    def _phase(state: str, meta: HttpJobMeta) -> connector.Phase:
        if state in meta.state_map:
            return connector.Phase[meta.state_map[state]]
        try:
            return connector.Phase.from_state(state)
        except ValueError:
            raise HttpRequestError(
                f"{TASK}: the job state {state!r} is neither in the custom field 'state_map' nor a state "
                "connector.Phase.from_state knows; add it to 'state_map'",
                url=meta.status.url,
            ) from None


def _with_headers(request: Request, common: Mapping[str, str]) -> Request:
    """The request with the template's common headers under its own."""
    return dataclasses.replace(request, headers={**common, **request.headers})
