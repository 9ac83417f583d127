"""Webhook: one HTTP request per task (a sync connector), in our schema or flytekit's WebhookTask's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import connector

from . import _webhook_flytekit as flytekit
from ._egress import EgressPolicy
from ._exceptions import HttpConfigError, HttpRequestError, HttpResponseTooLargeError
from ._http import credentials, current_policy, invalid_json, read_auth, read_request, read_timeout
from ._httpx import HttpClients, max_connections, send
from ._placeholders import FormatError
from ._redact import masked

TASK = "webhook"
# Answers worth trying again later: the server is overloaded, timed out, or failed on its side.
_RETRYABLE = {408, 425, 429}


class Webhook(connector.SyncConnector):
    """Sends one HTTP request and answers with its status, headers and body, or as flytekit's does.

    A template whose interface declares exactly one output, ``info``, is a flytekit ``WebhookTask``'s:
    its custom fields (``url``, ``method``, ``headers``, ``data``, ``show_data``, ``show_url``,
    ``timeout_sec``) are formatted with the inputs and answered as flytekit's connector answers them
    (see the README). Any other template uses this connector's own schema.

    Custom fields: ``url`` (required), ``method`` (default POST with a body, GET without),
    ``headers``, ``body`` (a string as is; anything else as JSON), ``timeout`` (seconds, default 30,
    at most 3600), and ``auth_secret``/``auth_header``/``auth_scheme`` (see the README). Outputs:
    ``status``, ``headers`` (lower-cased names) and ``body`` (parsed when the answer is JSON).

    A 2xx answer succeeds. 408, 425, 429, 5xx, a timeout or no connection end in RETRYABLE_FAILED,
    other statuses, a JSON answer that does not parse and a body over CONNECTOR_HTTP_MAX_BODY in
    FAILED. Bad custom fields, and a request the egress policy refuses, raise ``HttpConfigError``
    (INVALID_ARGUMENT). ``policy`` replaces the one the environment sets (``EgressPolicy``).
    """

    name = "Webhook"
    task_type_name = "webhook"
    # This connector's own schema; flytekit's WebhookTask templates pass unchecked (custom_fields_apply).
    custom_fields = (
        connector.Field(
            "url", str, required=True, help="The http:// or https:// URL to send the request to."
        ),
        connector.Field("method", str, help="The HTTP method; POST when there is a body, GET otherwise."),
        connector.Field("headers", dict, help="Header names to strings."),
        connector.Field("body", help="A string is sent as it is; anything else as JSON."),
        connector.Field("timeout", float, default=30.0, help="Seconds for each wait, at most 3600."),
        connector.Field("auth_secret", str, help="The name of the secret sent as the credential."),
        connector.Field(
            "auth_header", str, default="Authorization", help="The header the secret is sent in."
        ),
        connector.Field("auth_scheme", str, default="Bearer", help="Written before the secret; '' for none."),
    )
    output_fields = (
        connector.Field("status", int, help="The answer's status code."),
        connector.Field("headers", dict, help="The answer's headers, names lower-cased."),
        connector.Field("body", help="The answer's body: parsed when it is JSON, else text."),
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

    def custom_fields_apply(self, task_template: connector.TaskTemplate) -> bool:
        """False for a flytekit ``WebhookTask``'s template (one output, ``info``): see the README."""
        return not flytekit.uses_flytekit_schema(task_template)

    async def do(
        self,
        task_template: connector.TaskTemplate,
        inputs: Mapping[str, Any],
        connection: connector.Connection,
    ) -> connector.Resource:
        """Send the request the custom fields describe and report its answer."""
        if flytekit.uses_flytekit_schema(task_template):
            return await self._do_flytekit(task_template, inputs)
        custom = task_template.custom
        request = read_request(custom, task=TASK)
        timeout = read_timeout(custom, task=TASK)
        auth = read_auth(custom, task=TASK)
        policy = current_policy(self._policy)
        sent = credentials(request, auth, connection, policy=policy, task=TASK)
        what = f"{request.method} {request.url}"
        try:
            response = await send(
                request, timeout=timeout, credentials=sent, policy=policy, task=TASK, clients=self._clients
            )
        except HttpResponseTooLargeError as exc:
            return connector.Resource(connector.Phase.FAILED, message=str(exc))
        except HttpRequestError as exc:
            return connector.Resource(connector.Phase.RETRYABLE_FAILED, message=str(exc))
        outputs: dict[str, Any] = {
            "status": response.status,
            "headers": response.headers,
            "body": response.data,
        }
        if not 200 <= response.status < 300:
            retryable = response.status in _RETRYABLE or response.status >= 500
            phase = connector.Phase.RETRYABLE_FAILED if retryable else connector.Phase.FAILED
            return connector.Resource(
                phase,
                message=f"{TASK}: {what} answered {response.status} {response.reason}: {response.excerpt()}",
                custom_info={"status": response.status, "body": response.excerpt()},
            )
        reason = invalid_json(response)
        if reason is not None:
            content_type = response.redact(response.headers.get("content-type", ""))
            return connector.Resource(
                connector.Phase.FAILED,
                message=f"{TASK}: {what} answered {response.status} with Content-Type "
                f"{content_type} but its body is not valid JSON: {reason}",
                custom_info={"status": response.status, "body": response.excerpt()},
            )
        return connector.Resource(
            connector.Phase.SUCCEEDED, message=f"{what} answered {response.status}", outputs=outputs
        )

    async def _do_flytekit(
        self, task_template: connector.TaskTemplate, inputs: Mapping[str, Any]
    ) -> connector.Resource:
        try:
            call = flytekit.read_call(task_template, inputs, task=TASK)
        except FormatError as exc:
            return connector.Resource(connector.Phase.FAILED, message=str(exc))
        policy = current_policy(self._policy)
        try:
            response = await send(
                call.request,
                timeout=call.timeout,
                credentials=call.credentials,
                policy=policy,
                task=TASK,
                clients=self._clients,
                follow_redirects=False,
            )
        except HttpRequestError as exc:  # no answer, or one over CONNECTOR_HTTP_MAX_BODY
            return flytekit.failed(call, exc)
        except HttpConfigError as exc:  # the egress policy refused it: the query may hold a credential
            raise masked(exc, call.credentials.redact) from None
        return flytekit.answer(call, response)
