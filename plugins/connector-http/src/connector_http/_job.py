"""HttpJob: a remote job behind an HTTP API: submit, poll its status, cancel (an async connector)."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

import connector

from ._egress import Denied, EgressPolicy, origin_of
from ._exceptions import HttpConfigError, HttpRequestError, HttpStatusError
from ._http import (
    CUSTOM,
    META,
    Auth,
    Request,
    Response,
    check_auth,
    check_headers,
    check_request,
    check_timeout,
    credentials,
    current_policy,
    invalid_json,
    is_missing,
    is_unicode,
    lookup,
    printable,
    read_auth,
    read_headers,
    read_request,
    read_timeout,
    refused,
)
from ._httpx import HttpClients, max_connections, send
from ._redact import Redactor

TASK = "http_job"
#: The one placeholder the status, cancel and log-link templates may use.
PLACEHOLDER = "job_id"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A cancel answered with these means the job is finished or gone already: delete stays idempotent.
_GONE = {404, 409, 410}
#: The header ``idempotency_header: true`` sends the idempotency key in (the IETF draft's name).
DEFAULT_IDEMPOTENCY_HEADER = "Idempotency-Key"


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


def _placeholders(template: str, field: str, where: str = CUSTOM) -> None:
    # Only {name} with an identifier counts as a placeholder, so JSON bodies keep their braces.
    unknown = sorted(set(_PLACEHOLDER.findall(template)) - {PLACEHOLDER})
    if unknown:
        raise HttpConfigError(
            f"{TASK}: the {where} '{field}' uses {{{unknown[0]}}}; the only placeholder is {{{PLACEHOLDER}}}",
            field=field,
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


def _state_map(value: object, where: str = CUSTOM) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise HttpConfigError(
            f"{TASK}: the {where} 'state_map' must map states to phases; got {value!r}", field="state_map"
        )
    mapped: dict[str, str] = {}
    for state, phase in value.items():
        name = phase.upper() if isinstance(phase, str) else ""
        if name not in connector.Phase.__members__:
            raise HttpConfigError(
                f"{TASK}: the {where} 'state_map' maps {state!r} to {phase!r}, which is not a phase; "
                f"phases: {', '.join(connector.Phase.__members__)}",
                field="state_map",
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

    ``get`` and ``delete`` check the resource meta as ``create`` checks the custom fields, since a
    caller may send a forged one: a bad value, or a request the egress policy refuses, raises
    ``HttpConfigError`` (INVALID_ARGUMENT) and nothing is sent. ``policy`` replaces the one the
    environment sets (``EgressPolicy``).
    """

    name = "HTTP job"
    task_type_name = "http_job"
    metadata_type = HttpJobMeta
    custom_fields = (
        connector.Field(
            "submit", dict, required=True, help="The request that starts the job; it answers JSON."
        ),
        connector.Field("submit.url", str, required=True, help="The URL of the submit request."),
        connector.Field("submit.method", str, default="POST", help="The HTTP method."),
        connector.Field("submit.headers", dict, help="Headers of this request (over 'headers')."),
        connector.Field("submit.body", help="A string is sent as it is; anything else as JSON."),
        connector.Field("status", dict, required=True, help="The request that reports the job's state."),
        connector.Field(
            "status.url", str, required=True, help="The URL of the status request; may use {job_id}."
        ),
        connector.Field("status.method", str, default="GET", help="The HTTP method."),
        connector.Field("status.headers", dict, help="Headers of this request (over 'headers')."),
        connector.Field("status.body", help="A string is sent as it is; anything else as JSON."),
        connector.Field(
            "cancel", dict, help="The request that cancels the job; without it delete does nothing."
        ),
        connector.Field(
            "cancel.url", str, required=True, help="The URL of the cancel request; may use {job_id}."
        ),
        connector.Field("cancel.method", str, default="DELETE", help="The HTTP method."),
        connector.Field("cancel.headers", dict, help="Headers of this request (over 'headers')."),
        connector.Field("cancel.body", help="A string is sent as it is; anything else as JSON."),
        connector.Field(
            "job_id_field", str, default="id", help="Dotted path of the job's id in the submit answer."
        ),
        connector.Field(
            "state_field", str, default="state", help="Dotted path of the state in the status answer."
        ),
        connector.Field("state_map", dict, help="State strings to phase names, before Phase.from_state."),
        connector.Field("message_field", str, help="Dotted path of a message to show."),
        connector.Field("outputs_field", str, help="Dotted path of the outputs object, once succeeded."),
        connector.Field("log_url", str, help="A log link shown in the engine's UI; may use {job_id}."),
        connector.Field("log_name", str, default="Job", help="The log link's name."),
        connector.Field("headers", dict, help="Headers sent with every request."),
        connector.Field(
            "idempotency_header",
            (bool, str),
            help="The header the submit request carries the idempotency key in; true for Idempotency-Key.",
        ),
        connector.Field("timeout", float, default=30.0, help="Seconds for each wait, at most 3600."),
        connector.Field("auth_secret", str, help="The name of the secret sent as the credential."),
        connector.Field(
            "auth_header", str, default="Authorization", help="The header the secret is sent in."
        ),
        connector.Field("auth_scheme", str, default="Bearer", help="Written before the secret; '' for none."),
    )

    def __init__(self, *, policy: EgressPolicy | None = None) -> None:
        super().__init__()
        # A bad CONNECTOR_HTTP_* setting marks the connector broken at load (connector check says
        # so); the environment is read again at each request.
        self._policy = policy
        current_policy(policy)
        max_connections()
        # Connections pooled per process (per event loop), shared by every call (issue 13).
        self._clients = HttpClients()

    async def create(
        self, task_template: connector.TaskTemplate, connection: connector.Connection, idempotency_key: str
    ) -> HttpJobMeta:
        """Check every field, send the submit request and keep the job's id with the other requests.

        With ``idempotency_header``, the submit request carries ``idempotency_key`` in that header: a
        create the engine replays for the same attempt sends the same key, so an API that
        deduplicates starts one job.
        """
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
        submit = _with_idempotency_key(submit, custom.get("idempotency_header"), idempotency_key, auth)
        log_url = _string_field(custom, "log_url", "")
        for field, template in (("status.url", status.url), ("log_url", log_url)):
            _placeholders(template, field)
        if cancel is not None:
            _placeholders(cancel.url, "cancel.url")
            if cancel.body is not None:
                _placeholders(cancel.body, "cancel.body")
        job_id_field = _string_field(custom, "job_id_field", "id")
        policy = current_policy(self._policy)
        # Refused now rather than at the first poll, once the job runs: status and cancel requests
        # to an address the policy refuses, or to where the secret may not go.
        for later in (status, cancel):
            if later is not None:
                _precheck(later, auth, policy)
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
        response = await self._send(submit, meta, connection, "submit", policy, CUSTOM)
        document = _json(response, submit, "submit")
        job_id = lookup(document, job_id_field)
        if (
            is_missing(job_id)
            or isinstance(job_id, (dict, list))
            or job_id is None
            or not is_unicode(str(job_id))
        ):
            raise HttpRequestError(
                f"{TASK}: the submit answer of {submit.method} {submit.url} has no job id at "
                f"'{job_id_field}' (custom field 'job_id_field'): {response.excerpt()}",
                url=submit.url,
            )
        meta.job_id = str(job_id)
        return meta

    async def get(self, resource_meta: HttpJobMeta, connection: connector.Connection) -> connector.Resource:
        """Send the status request and map the state it reports to a phase."""
        meta = _checked(resource_meta)
        policy = current_policy(self._policy)
        request = dataclasses.replace(meta.status, url=_fill(meta.status.url, meta.job_id, quote=True))
        response = await self._send(request, meta, connection, "status", policy, META)
        document = _json(response, request, "status")
        state = lookup(document, meta.state_field)
        if is_missing(state) or isinstance(state, (dict, list)):
            raise HttpRequestError(
                f"{TASK}: the status answer of {request.method} {request.url} has no state at "
                f"'{meta.state_field}' (custom field 'state_field'): {response.excerpt()}",
                url=request.url,
            )
        phase = _phase(str(state), meta, response.redact)
        message = lookup(document, meta.message_field) if meta.message_field else None
        outputs = None
        if phase is connector.Phase.SUCCEEDED and meta.outputs_field:
            outputs = lookup(document, meta.outputs_field)
            if not isinstance(outputs, dict):
                raise HttpRequestError(
                    f"{TASK}: the status answer of {request.method} {request.url} has no object of outputs "
                    f"at '{meta.outputs_field}' (custom field 'outputs_field'): {response.excerpt()}",
                    url=request.url,
                )
        links = (
            [connector.TaskLog(_fill(meta.log_url, meta.job_id, quote=True), name=meta.log_name)]
            if meta.log_url
            else []
        )
        shown = message if message is not None and not is_missing(message) else f"state {state!s}"
        if isinstance(state, str):
            state = response.redact(printable(state))
        return connector.Resource(
            phase,
            message=response.redact(printable(shown)),
            log_links=links,
            outputs=outputs,
            custom_info={"job_id": meta.job_id, "state": state},
        )

    async def delete(self, resource_meta: HttpJobMeta, connection: connector.Connection) -> None:
        """Send the cancel request; an answer of 404, 409 or 410 means the job is already over."""
        meta = _checked(resource_meta)
        if meta.cancel is None:
            return  # the API cannot cancel: forgetting the job is all delete can do
        policy = current_policy(self._policy)
        body = _fill(meta.cancel.body, meta.job_id, quote=False) if meta.cancel.body is not None else None
        request = dataclasses.replace(
            meta.cancel, url=_fill(meta.cancel.url, meta.job_id, quote=True), body=body
        )
        try:
            await self._send(request, meta, connection, "cancel", policy, META)
        except HttpStatusError as exc:
            if exc.status not in _GONE:
                raise

    async def _send(
        self,
        request: Request,
        meta: HttpJobMeta,
        connection: connector.Connection,
        step: str,
        policy: EgressPolicy,
        where: str,
    ) -> Response:
        if where == META:
            check_request(request, task=TASK, prefix=f"{step}.", where=META)  # with the job's id filled in
        sent = credentials(request, meta.auth, connection, policy=policy, task=TASK, where=where)
        response = await send(
            request, timeout=meta.timeout, credentials=sent, policy=policy, task=TASK, clients=self._clients
        )
        if not 200 <= response.status < 300:
            raise HttpStatusError(
                f"{TASK}: the {step} request {request.method} {request.url} was answered {response.status} "
                f"{response.reason}: {response.excerpt()}",
                url=request.url,
                status=response.status,
            )
        return response


def _checked(meta: HttpJobMeta) -> HttpJobMeta:
    """The meta once every field passed the checks ``create`` applies: a caller may have forged it."""
    check_request(meta.status, task=TASK, prefix="status.", where=META)
    _placeholders(meta.status.url, "status.url", META)
    if meta.cancel is not None:
        check_request(meta.cancel, task=TASK, prefix="cancel.", where=META)
        _placeholders(meta.cancel.url, "cancel.url", META)
        if meta.cancel.body is not None:
            _placeholders(meta.cancel.body, "cancel.body", META)
    _placeholders(meta.log_url, "log_url", META)
    check_timeout(meta.timeout, task=TASK, where=META)
    if meta.auth is not None:
        check_auth(meta.auth, task=TASK, where=META)
    if not is_unicode(meta.job_id):
        raise HttpConfigError(
            f"{TASK}: the {META} 'job_id' is not valid Unicode text (it has a lone surrogate)", field="job_id"
        )
    return dataclasses.replace(meta, state_map=_state_map(meta.state_map, META))


def _precheck(request: Request, auth: Auth | None, policy: EgressPolicy) -> None:
    """Raise ``HttpEgressError`` when the policy refuses ``request`` whatever the job's id (no lookup)."""
    origin = origin_of(request.url)  # {job_id} is allowed in the path only: the origin is known
    try:
        policy.check_literal(origin)
        if auth is not None:
            policy.check_secret(auth.secret, origin)
    except Denied as denied:
        raise refused(denied, task=TASK, what=f"{request.method} {request.url}") from None


def _json(response: Response, request: Request, step: str) -> Any:
    reason = invalid_json(response)
    if reason is None and not response.is_json:
        reason = f"its Content-Type is {response.redact(response.headers.get('content-type', 'missing'))}"
    if reason is not None:
        raise HttpRequestError(
            f"{TASK}: the {step} answer of {request.method} {request.url} is not valid JSON ({reason}): "
            f"{response.excerpt()}",
            url=request.url,
        )
    return response.data


def _phase(state: str, meta: HttpJobMeta, redact: Redactor) -> connector.Phase:
    if state in meta.state_map:
        return connector.Phase[meta.state_map[state]]
    try:
        return connector.Phase.from_state(state)
    except ValueError:
        raise HttpRequestError(
            f"{TASK}: the job state {redact(state)!r} is neither in the custom field 'state_map' nor a state "
            "connector.Phase.from_state knows; add it to 'state_map'",
            url=meta.status.url,
        ) from None


def _with_idempotency_key(submit: Request, header: object, key: str, auth: Auth | None) -> Request:
    """The submit request with the idempotency key in the header the custom field names, if it names one."""
    field = "idempotency_header"
    if header is None or header is False:
        return submit
    if header is True:
        header = DEFAULT_IDEMPOTENCY_HEADER
    if not isinstance(header, str):
        raise HttpConfigError(
            f"{TASK}: the {CUSTOM} '{field}' must be true (for {DEFAULT_IDEMPOTENCY_HEADER}), false or a "
            f"header name; got {header!r}",
            field=field,
        )
    check_headers({header: key}, task=TASK, field=field)  # a token, not Host or a framing header
    taken = [name for name in submit.headers if name.lower() == header.lower()]
    if taken or (auth is not None and auth.header.lower() == header.lower()):
        where = (
            "the submit request's headers ('headers' or 'submit.headers') set"
            if taken
            else "'auth_header' sets"
        )
        raise HttpConfigError(
            f"{TASK}: the {CUSTOM} '{field}' names {header!r}, which {where} too; set it in one place",
            field=field,
        )
    if not key:
        raise HttpConfigError(
            f"{TASK}: the {CUSTOM} '{field}' asks for an idempotency key, but the call gave none "
            "(connector-core gives one to every create)",
            field=field,
        )
    return dataclasses.replace(submit, headers={**submit.headers, header: key})


def _with_headers(request: Request, common: Mapping[str, str]) -> Request:
    """The request with the template's common headers under its own."""
    return dataclasses.replace(request, headers={**common, **request.headers})
