"""connector-http: the ``webhook`` (sync) and ``http_job`` (async) connectors, behind an egress policy."""

from __future__ import annotations

from ._egress import EgressPolicy as EgressPolicy
from ._egress import Origin as Origin
from ._exceptions import HttpConfigError as HttpConfigError
from ._exceptions import HttpConnectorError as HttpConnectorError
from ._exceptions import HttpEgressError as HttpEgressError
from ._exceptions import HttpRequestError as HttpRequestError
from ._exceptions import HttpResponseTooLargeError as HttpResponseTooLargeError
from ._exceptions import HttpStatusError as HttpStatusError
from ._job import HttpJob as HttpJob
from ._job import HttpJobMeta as HttpJobMeta
from ._webhook import Webhook as Webhook

__all__ = [
    "EgressPolicy",
    "HttpConfigError",
    "HttpConnectorError",
    "HttpEgressError",
    "HttpJob",
    "HttpJobMeta",
    "HttpRequestError",
    "HttpResponseTooLargeError",
    "HttpStatusError",
    "Origin",
    "Webhook",
]
