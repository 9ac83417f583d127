"""The checks of what hooks return: each result is checked here once, for every driver.

Each check returns the value in the form its callers use, or raises ``HookResultError`` naming
the task type, the connector's origin, the hook and what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .._exceptions import HookResultError, ResourceMetaError
from .._model import LogsChunk, MetricSeries, Resource, TaskLog
from .._resource_meta import ResourceMeta
from ..hookspecs import Hook
from ._loaded import LoadedConnector

#: How a sync connector must end a task.
_TERMINAL_HINT = "a sync connector answers with SUCCEEDED, FAILED, ABORTED or RETRYABLE_FAILED"


def _fail(loaded: LoadedConnector, hook: str, problem: str) -> HookResultError:
    return HookResultError(problem, category=loaded.category, hook=hook, origin=loaded.origin)


def checked_meta(loaded: LoadedConnector, meta: object) -> ResourceMeta:
    """``create``'s result, once it is an instance of the connector's ``metadata_type``."""
    expected = loaded.metadata_type
    assert expected is not None  # validation gives every async connector one
    if not isinstance(meta, expected):
        name = expected.__qualname__
        raise _fail(
            loaded,
            Hook.CREATE,
            f"returned {type(meta).__name__}, not an instance of its metadata_type {name}; "
            f"return {name}(...)",
        )
    return meta


def encoded_meta(loaded: LoadedConnector, meta: ResourceMeta) -> bytes:
    """The bytes of ``create``'s meta, once they are known to decode again.

    A meta that encodes but does not decode would fail every later ``get`` as the caller's bad
    request: it is the connector's mistake, said at ``create``. (That it decodes to an equal meta
    is for the contract suite to check: a tuple that comes back as a list may be fine.)
    """
    try:
        data = meta.encode()
        type(meta).decode(data)
    except ResourceMetaError as exc:
        raise _fail(
            loaded,
            Hook.CREATE,
            f"returned a {type(meta).__name__} that does not survive encode/decode: {exc}; keep only "
            "values ResourceMeta can encode, with matching field annotations",
        ) from exc
    return data


def checked_resource(
    loaded: LoadedConnector, hook: str, result: object, *, terminal: bool = False
) -> Resource:
    """``get``'s or ``do``'s result, once it is a well-formed ``Resource`` (terminal for ``do``)."""
    if not isinstance(result, Resource):
        raise _fail(
            loaded,
            hook,
            f"returned {type(result).__name__}, not a connector.Resource; "
            "return Resource(phase=..., message=..., outputs=...)",
        )
    if terminal and not result.phase.is_terminal:
        raise _fail(
            loaded, hook, f"returned phase {result.phase.name}, which is not terminal; {_TERMINAL_HINT}"
        )
    if not isinstance(result.message, str):
        raise _fail(loaded, hook, f"returned a message of type {type(result.message).__name__}, not a str")
    for link in result.log_links:
        if not isinstance(link, TaskLog):
            raise _fail(
                loaded, hook, f"returned a log link of type {type(link).__name__}, not a connector.TaskLog"
            )
    outputs = result.outputs
    if outputs is not None and (
        not isinstance(outputs, Mapping) or not all(isinstance(k, str) for k in outputs)
    ):
        raise _fail(
            loaded,
            hook,
            f"returned outputs of type {type(outputs).__name__}, not a dict of output names to values",
        )
    if result.custom_info is not None and not isinstance(result.custom_info, Mapping):
        raise _fail(
            loaded, hook, f"returned custom_info of type {type(result.custom_info).__name__}, not a dict"
        )
    return result


def is_lines(value: object) -> bool:
    """Whether ``value`` is a list or tuple of log lines."""
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


def checked_chunk(loaded: LoadedConnector, item: object) -> LogsChunk:
    """One item ``get_logs`` gave (a ``LogsChunk``, a line or lines), as a ``LogsChunk``."""
    if isinstance(item, LogsChunk):
        return item
    if isinstance(item, str):
        return LogsChunk(lines=(item,))
    if is_lines(item):
        return LogsChunk(lines=tuple(item))  # type: ignore[arg-type]
    raise _fail(
        loaded,
        Hook.GET_LOGS,
        f"yielded {type(item).__name__}, not a connector.LogsChunk, a line or lines",
    )


def not_logs(loaded: LoadedConnector, result: object) -> HookResultError:
    """The error for a ``get_logs`` result that is neither chunks, lines, nor an iterator of them."""
    return _fail(
        loaded, Hook.GET_LOGS, f"returned {type(result).__name__}, not a connector.LogsChunk or lines"
    )


def checked_series(loaded: LoadedConnector, result: object) -> list[MetricSeries]:
    """``get_metrics``'s result, once it is a list of ``MetricSeries``."""
    if not isinstance(result, Iterable) or isinstance(result, (str, bytes, Mapping)):
        raise _fail(
            loaded,
            Hook.GET_METRICS,
            f"returned {type(result).__name__}, not a list of connector.MetricSeries",
        )
    series = list(result)
    for item in series:
        if not isinstance(item, MetricSeries):
            raise _fail(
                loaded,
                Hook.GET_METRICS,
                f"returned a {type(item).__name__} in its list, not a connector.MetricSeries",
            )
    return series
