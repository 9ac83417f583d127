"""The checks of what hooks return: each result is checked here once, for every driver.

Each check returns the value in the form its callers use, or raises ``HookResultError`` naming
the task type, the connector's origin, the hook and what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._exceptions import HookResultError, ResourceMetaError
from .._hooks import Hook
from .._model import LogsChunk, MetricSeries, Resource, TaskLog
from .._resource_meta import ResourceMeta, encode_checked

if TYPE_CHECKING:
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
        data = encode_checked(meta)
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
    """``get``'s or ``do``'s result, once it is a well-formed ``Resource`` (terminal for ``do``).

    Its links, outputs and custom info come back as plain lists and dicts: what the connector put
    there (a generator, a ``dict`` subclass) runs here, where the call is contained, and never again.
    """
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
    links = list(result.log_links)
    for link in links:
        if not isinstance(link, TaskLog):
            raise _fail(
                loaded, hook, f"returned a log link of type {type(link).__name__}, not a connector.TaskLog"
            )
    outputs = result.outputs
    # `type(...) is dict` first: isinstance against an ABC is a Python call, and outputs are mostly dicts.
    if outputs is not None and type(outputs) is not dict and not isinstance(outputs, Mapping):
        outputs = _literal_map(loaded, hook, outputs)
    elif outputs is not None:
        outputs = dict(outputs)
        for name in outputs:  # a loop, not all(<generator>): two calls fewer on every get
            if not isinstance(name, str):
                raise _not_outputs(loaded, hook, result.outputs)
    custom_info = result.custom_info
    if custom_info is not None:
        if not isinstance(custom_info, Mapping):
            raise _fail(
                loaded, hook, f"returned custom_info of type {type(custom_info).__name__}, not a dict"
            )
        custom_info = dict(custom_info)
    return Resource(result.phase, result.message, links, outputs, custom_info)


#: The literal map messages a raw-literals connector may return as outputs (by protobuf full name).
LITERAL_MAP_MESSAGES = {"flyteidl.core.LiteralMap": "flyteidl v1", "flyteidl2.task.Outputs": "flyteidl2"}


def _literal_map(loaded: LoadedConnector, hook: str, outputs: object) -> Any:
    """Outputs that are no dict: a literal map message of either protocol, from a raw-literals connector.

    Which protocol's is the caller's to check (the service's adapter, the runner): only it knows
    what the request spoke.
    """
    descriptor = getattr(type(outputs), "DESCRIPTOR", None)
    full_name = getattr(descriptor, "full_name", None)
    if not isinstance(full_name, str):
        raise _not_outputs(loaded, hook, outputs)
    if not loaded.raw_literals:
        raise _fail(
            loaded,
            hook,
            f"returned outputs of type {full_name}, a protocol message, which only a connector with "
            "raw_literals = True may return; return a dict of output names to values",
        )
    if full_name not in LITERAL_MAP_MESSAGES:
        raise _fail(
            loaded,
            hook,
            f"returned outputs of type {full_name}; a raw-literals connector returns a dict, a "
            "flyteidl.core.LiteralMap (flyteidl v1) or a flyteidl2.task.Outputs (flyteidl2)",
        )
    return outputs


def _not_outputs(loaded: LoadedConnector, hook: str, outputs: object) -> HookResultError:
    return _fail(
        loaded,
        hook,
        f"returned outputs of type {type(outputs).__name__}, not a dict of output names to values",
    )


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


def logs_source(loaded: LoadedConnector, result: object) -> tuple[list[LogsChunk], Any, bool]:
    """What ``get_logs`` returned: chunks ready now, an iterator of more (or None), and whether it is async.

    A chunk, lines or a list of them become chunks; an async iterator (its ``__aiter__`` called)
    or a plain iterator is handed back to be stepped. Anything else breaks the contract.
    """
    if isinstance(result, LogsChunk):
        return [result], None, False
    if is_lines(result):
        return [LogsChunk(lines=tuple(result))], None, False  # type: ignore[arg-type]
    if hasattr(result, "__aiter__"):
        return [], result.__aiter__(), True
    if isinstance(result, Iterator):
        return [], result, False
    if isinstance(result, (list, tuple)):
        return [checked_chunk(loaded, item) for item in result], None, False
    raise _fail(
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
