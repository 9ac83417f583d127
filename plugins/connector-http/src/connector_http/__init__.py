"""connector-http: the ``webhook`` (sync) and ``http_job`` (async) connectors, over urllib."""

from __future__ import annotations

from ._exceptions import HttpConfigError as HttpConfigError
from ._exceptions import HttpConnectorError as HttpConnectorError
from ._exceptions import HttpRequestError as HttpRequestError
from ._exceptions import HttpStatusError as HttpStatusError
from ._job import HttpJob as HttpJob
from ._job import HttpJobMeta as HttpJobMeta
from ._webhook import Webhook as Webhook

__all__ = [
    "HttpConfigError",
    "HttpConnectorError",
    "HttpJob",
    "HttpJobMeta",
    "HttpRequestError",
    "HttpStatusError",
    "Webhook",
]
