"""The one place that turns an exception into a gRPC status code and a short, safe message."""

from __future__ import annotations

import dataclasses
import logging
import re

import grpc

from .._exceptions import (
    BadRequestError,
    CallTimeoutError,
    ConnectorNotFound,
    ConnectorUnavailable,
    HookCrashError,
    HookNotImplementedError,
    HookResultError,
    ServiceOverloadedError,
    TransientError,
)
from .._hooks import Hook

logger = logging.getLogger("connector.server")

#: Largest status message sent to a client, in UTF-8 bytes (issue 3: bounded messages).
MAX_MESSAGE_BYTES = 1024

# An absolute file path ("/srv/app/x.py", "C:\\x\\y.py") with at least two segments, not part of a
# URI ("s3://bucket/key" keeps its slashes: the lookbehind refuses a slash after ':', '/' or a word).
_PATH = re.compile(r"(?<![\w:/.\\])(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\"():,;]+){2,}")

# Where to send a caller that asked a connector for an operation of the other kind.
_KIND_HINTS: dict[str, str] = {
    Hook.CREATE: "it is a sync connector: call SyncAgentService.ExecuteTaskSync",
    Hook.GET: "it is a sync connector: call SyncAgentService.ExecuteTaskSync",
    Hook.DELETE: "it is a sync connector: call SyncAgentService.ExecuteTaskSync",
    Hook.DO: "it is an async connector: call CreateTask, GetTask and DeleteTask",
}


@dataclasses.dataclass(frozen=True)
class Status:
    """A status to answer with: the code and the client's message."""

    code: grpc.StatusCode
    message: str


def scrub(text: str) -> str:
    """Replace absolute file paths in ``text`` by their last segment, so no server path leaks out."""
    return _PATH.sub(lambda m: "…/" + re.split(r"[\\/]", m.group(0))[-1], text)


def bound(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes, marking the cut."""
    # A lone surrogate (text a connector built from bytes) has no UTF-8 form; grpc would fail to send it.
    data = text.encode("utf-8", errors="backslashreplace")
    if len(data) <= limit:
        return data.decode("utf-8")
    marker = " … (truncated; see the server log)"
    head = data[: limit - len(marker.encode())].decode("utf-8", errors="ignore")
    return head + marker


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def status_for(exc: BaseException, *, operation: str, target: str) -> Status:
    """Map an exception raised while serving ``operation`` for ``target`` (a task type or RPC name).

    Client mistakes are never INTERNAL; anything unexpected is INTERNAL with a one-line message.
    """
    code: grpc.StatusCode
    if isinstance(exc, ConnectorNotFound):
        code, message = grpc.StatusCode.NOT_FOUND, str(exc)
    elif isinstance(exc, BadRequestError):
        code, message = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    elif isinstance(exc, HookNotImplementedError):
        code, message = grpc.StatusCode.UNIMPLEMENTED, str(exc)
        if exc.hook in _KIND_HINTS:
            message = f"{message}; {_KIND_HINTS[exc.hook]}"
    elif isinstance(exc, ConnectorUnavailable):
        code, message = grpc.StatusCode.FAILED_PRECONDITION, exc.reason
    elif isinstance(exc, ServiceOverloadedError):
        code, message = grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    elif isinstance(exc, CallTimeoutError):
        # Only the service's own limit: a connector's TimeoutError (its backend did not answer) is
        # the connector's failure, INTERNAL like any other.
        code, message = grpc.StatusCode.DEADLINE_EXCEEDED, str(exc)
    elif isinstance(exc, TransientError):
        # A failure that may pass: UNAVAILABLE, the code a client retries on.
        code, message = grpc.StatusCode.UNAVAILABLE, f"{operation} for {target} failed for now: {exc}"
    elif isinstance(exc, (HookResultError, HookCrashError)):
        # The call layer's own message names the task type, the connector, the hook and the fault.
        code, message = grpc.StatusCode.INTERNAL, str(exc)
    else:
        code = grpc.StatusCode.INTERNAL
        detail = _first_line(str(exc))
        message = f"{operation} for {target} failed: {type(exc).__name__}" + (f": {detail}" if detail else "")
    return Status(code, bound(scrub(message)))


def log_failure(status: Status, exc: BaseException, *, rpc: str, target: str) -> None:
    """Write the full story of a failed call to the server log (the client only gets ``status``)."""
    if status.code is grpc.StatusCode.INTERNAL:
        logger.error("%s for %s failed: %s", rpc, target, status.message, exc_info=exc)
    elif status.code is grpc.StatusCode.FAILED_PRECONDITION:
        logger.warning("%s for %s refused: %s", rpc, target, exc, exc_info=exc.__cause__ or None)
    else:
        logger.info("%s for %s answered %s: %s", rpc, target, status.code.name, exc)
