"""Errors raised by the connector service itself (the core's errors live in ``connector._exceptions``).

ConnectorError
├── BadRequestError        (also ValueError) a request cannot be served as sent: INVALID_ARGUMENT
├── ServiceOverloadedError every worker thread is busy and the queue is full: RESOURCE_EXHAUSTED
└── CallTimeoutError       a connector call ran past the time limit: DEADLINE_EXCEEDED
"""

from __future__ import annotations

from .._exceptions import ConnectorError


class BadRequestError(ConnectorError, ValueError):
    """Raised when a request is malformed: a missing field, an undecodable resource meta, a bad input.

    ``field`` names the part of the request at fault (``resource_meta``, ``inputs.x``, ...).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ServiceOverloadedError(ConnectorError):
    """Raised when a plain-``def`` hook cannot be queued: every worker is busy and the queue is full."""

    def __init__(self, workers: int, queue_size: int) -> None:
        self.workers = workers
        self.queue_size = queue_size
        super().__init__(
            f"the service is overloaded: all {workers} worker thread(s) are busy and {queue_size} call(s) "
            "are queued; retry later, or run more replicas or more --workers"
        )


class CallTimeoutError(ConnectorError):
    """Raised when a connector call runs past the server-side time limit (``timeout`` of the service)."""

    def __init__(self, operation: str, category: object, seconds: float) -> None:
        self.operation = operation
        self.category = category
        self.seconds = seconds
        super().__init__(f"{operation} for task type {category} did not finish within {seconds:g}s")
