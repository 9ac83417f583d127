"""The errors of connector-http.

connector.ConnectorError
└── HttpConnectorError
    ├── HttpConfigError     (also ValueError) a custom field is missing or has a wrong value
    └── HttpRequestError    a request failed: no answer, a timeout, or an answer it cannot use
        └── HttpStatusError a request was answered with a status that is not 2xx
"""

from __future__ import annotations

import connector


class HttpConnectorError(connector.ConnectorError):
    """Base class of the errors raised by the ``webhook`` and ``http_job`` connectors."""


class HttpConfigError(HttpConnectorError, ValueError):
    """Raised by ``create``/``do`` when the template's custom fields cannot be used; says which field."""


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
