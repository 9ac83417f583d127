"""The errors of connector-http.

connector.ConnectorError
└── HttpConnectorError
    ├── HttpConfigError     (also connector.BadRequestError, a ValueError) a field cannot be used as given
    │   └── HttpEgressError     the egress policy refuses the destination or the credential
    └── HttpRequestError    a request failed: no answer, a timeout, or an answer it cannot use
        ├── HttpStatusError         a request was answered with a status that is not 2xx
        └── HttpResponseTooLargeError   an answer's body is over CONNECTOR_HTTP_MAX_BODY
"""

from __future__ import annotations

import connector


class HttpConnectorError(connector.ConnectorError):
    """Base class of the errors raised by the ``webhook`` and ``http_job`` connectors."""


class HttpConfigError(HttpConnectorError, connector.BadRequestError):
    """Raised when a custom field, or a field of a job's resource meta, cannot be used; says which.

    A ``connector.BadRequestError``: the caller's mistake, which the service answers with
    INVALID_ARGUMENT. ``field`` names the field at fault when one is.
    """


class HttpEgressError(HttpConfigError):
    """Raised when the egress policy refuses a request before it is sent (nothing reaches the remote).

    ``origin`` is the origin refused (``http://127.0.0.1:8080``), ``reason`` says why, ``setting``
    is the variable that would allow it (``CONNECTOR_HTTP_ALLOW``, ``CONNECTOR_HTTP_SECRET_ORIGINS``).
    """

    def __init__(self, message: str, *, origin: str, reason: str, setting: str) -> None:
        self.origin = origin
        self.reason = reason
        self.setting = setting
        super().__init__(message)


class HttpRequestError(HttpConnectorError):
    """Raised when a request gets no usable answer; ``url`` is the request's URL."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class HttpStatusError(HttpRequestError):
    """Raised when a request is answered with a status outside 2xx; ``status`` holds it."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        self.status = status
        super().__init__(message, url=url)


class HttpResponseTooLargeError(HttpRequestError):
    """Raised when an answer's body is over the limit; ``limit`` is it, in bytes (CONNECTOR_HTTP_MAX_BODY).

    Reading stops at the limit: no more than about ``limit`` bytes of the body are ever held.
    """

    def __init__(self, message: str, *, url: str, limit: int) -> None:
        self.limit = limit
        super().__init__(message, url=url)
