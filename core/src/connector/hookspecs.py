"""The hook specifications: the contract between connector-core and a connector.

An implementation may accept any subset of a hook's arguments, by name. Any hook may be a plain
``def`` (the service runs it in a worker thread) or an ``async def`` (awaited on the event loop).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from ._hooks import ALL_HOOKS as ALL_HOOKS
from ._hooks import ASYNC_HOOKS as ASYNC_HOOKS
from ._hooks import IMPL_MARKER as IMPL_MARKER
from ._hooks import OPTIONAL_HOOKS as OPTIONAL_HOOKS
from ._hooks import PROJECT_NAME as PROJECT_NAME
from ._hooks import SYNC_HOOKS as SYNC_HOOKS
from ._hooks import Hook as Hook
from ._model import Connection, Resource, TaskExecutionMetadata, TaskTemplate
from ._resource_meta import ResourceMeta

#: The markers of the ``connector`` pluggy project.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def create(
    task_template: TaskTemplate,
    output_prefix: str,
    inputs: Mapping[str, Any],
    task_execution_metadata: TaskExecutionMetadata,
    connection: Connection,
    idempotency_key: str,
) -> ResourceMeta:
    """Start a job and return the handle that finds it again.

    :param task_template: the task to run; ``task_template.custom`` carries the connector's settings,
        already checked against the connector's ``custom_fields`` (defaults filled in) when it
        declares them (see "Declaring fields"); ``task_template.raw``, when set, is the request's
        message as sent, unchecked.
    :param output_prefix: where the job may write its outputs (a blob-store prefix or local path).
    :param inputs: the task's inputs as native Python values, by name.
    :param task_execution_metadata: the execution's id, namespace, labels and environment.
    :param connection: secrets and configs sent with the request (empty when there are none).
    :param idempotency_key: the same for every call of one task execution attempt (see
        ``connector.idempotency_key``): the workflow engine replays a ``create`` that failed, so
        hand it to an external API that deduplicates (an ``Idempotency-Key`` header, a client
        token) and a replay does not start a second job.
    :return: an instance of the connector's ``metadata_type``; it is encoded and sent to the
        workflow engine, which passes it back to ``get`` and ``delete``, maybe in another process.
    :raises: any exception to fail the request; the caller sees a short message, the server log
        keeps the traceback.
    """


@hookspec(firstresult=True)
def get(
    resource_meta: ResourceMeta,
    task_template: TaskTemplate,
    connection: Connection,
) -> Resource:
    """Report the state of a job started by ``create``.

    :param resource_meta: the handle ``create`` returned, decoded into the ``metadata_type``.
    :param task_template: the task, when the caller sends it (flyteidl v1 does not: then it is a
        template of the right type with nothing else set).
    :param connection: secrets and configs sent with the request.
    :return: a ``Resource`` with the job's phase, a message, log links and, once it has succeeded,
        its outputs as native values.
    :raises: ``connector.TransientError`` when the state cannot be read now but may be soon (the
        service tries again within the call's deadline); any other exception fails the call.
    """


@hookspec(firstresult=True)
def delete(resource_meta: ResourceMeta, connection: Connection) -> None:
    """Cancel a job started by ``create``.

    Must be idempotent: deleting a job that is already finished or gone is not an error.

    :param resource_meta: the handle ``create`` returned.
    :param connection: secrets and configs sent with the request.
    :raises: an exception when the job could not be cancelled.
    """


@hookspec(firstresult=True)
def do(
    task_template: TaskTemplate,
    output_prefix: str,
    inputs: Mapping[str, Any],
    task_execution_metadata: TaskExecutionMetadata,
    connection: Connection,
    idempotency_key: str,
) -> Resource:
    """Run a task to completion in one call (a sync connector).

    Takes the same arguments as ``create``.

    :return: a ``Resource`` in a terminal phase, with the outputs as native values.
    """


@hookspec(firstresult=True)
def get_logs(resource_meta: ResourceMeta, token: str, connection: Connection) -> Any:
    """Return a job's logs (optional).

    :param resource_meta: the handle ``create`` returned.
    :param token: where to continue, as given by the previous chunk's ``token`` ("" at first).
    :param connection: secrets and configs sent with the request.
    :return: a ``LogsChunk``, a list of lines, or an iterable or async iterable of either; each
        item is streamed to the caller as it comes.
    """


@hookspec(firstresult=True)
def get_metrics(
    resource_meta: ResourceMeta,
    queries: Sequence[str],
    start_time: dt.datetime | None,
    end_time: dt.datetime | None,
    step: dt.timedelta | None,
    connection: Connection,
) -> Any:
    """Return a job's metrics (optional).

    :param resource_meta: the handle ``create`` returned.
    :param queries: the metric names asked for.
    :param start_time: the start of the time range, or None.
    :param end_time: the end of the time range, or None.
    :param step: the resolution asked for, or None.
    :param connection: secrets and configs sent with the request.
    :return: a list of ``MetricSeries``.
    """
