"""The Flyte-compatible gRPC connector service; needs ``pip install "connector-core[server]"``.

One ``grpc.aio`` server answers flyteidl v1 (``AsyncAgentService``, ``SyncAgentService``,
``AgentMetadataService``) and flyteidl2 (``AsyncConnectorService``, ``ConnectorMetadataService``)
for the connectors of a ``ConnectorRegistry``, with health checks, reflection and Prometheus metrics.
"""

from __future__ import annotations

from .._exceptions import BadRequestError as BadRequestError
from .._exceptions import CallTimeoutError as CallTimeoutError
from .._exceptions import ServiceOverloadedError as ServiceOverloadedError
from ._modules import register_modules as register_modules
from ._service import ConnectorService as ConnectorService
from ._service import ServiceOptions as ServiceOptions

__all__ = [
    "BadRequestError",
    "CallTimeoutError",
    "ConnectorService",
    "ServiceOptions",
    "ServiceOverloadedError",
    "register_modules",
]
