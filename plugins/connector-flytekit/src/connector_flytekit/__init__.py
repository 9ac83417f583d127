"""connector-flytekit: flytekit 1.x connectors served unchanged by ``connector serve`` and ``connector run``.

``FlytekitProvider`` (entry point ``flytekit`` in the group ``connector.providers``) provides every
connector flytekit registers: its own ``sensor`` and ``webhook``, and those of each installed
``flytekitplugins-*``. Each is called through an adapter (``bridge``) exactly as flytekit's own
connector service calls it; its resource meta is flytekit's own bytes inside ``FlytekitMeta``.
Importing this package imports no flytekit.
"""

from __future__ import annotations

from ._adapter import FlytekitAsyncConnector as FlytekitAsyncConnector
from ._adapter import FlytekitConnector as FlytekitConnector
from ._adapter import FlytekitSyncConnector as FlytekitSyncConnector
from ._adapter import bridge as bridge
from ._exceptions import FlytekitBridgeError as FlytekitBridgeError
from ._exceptions import FlytekitBuiltinDisabledError as FlytekitBuiltinDisabledError
from ._exceptions import FlytekitConnectorGoneError as FlytekitConnectorGoneError
from ._exceptions import FlytekitPluginError as FlytekitPluginError
from ._exceptions import FlytekitRequestError as FlytekitRequestError
from ._exceptions import FlytekitSensorNotAllowedError as FlytekitSensorNotAllowedError
from ._exceptions import FlytekitUnavailableError as FlytekitUnavailableError
from ._flytekit import PLUGIN_GROUP as PLUGIN_GROUP
from ._flytekit import SUPPORTED_FLYTEKIT as SUPPORTED_FLYTEKIT
from ._meta import FlytekitMeta as FlytekitMeta
from ._provider import FlytekitProvider as FlytekitProvider
from ._settings import BUILTINS_VARIABLE as BUILTINS_VARIABLE
from ._settings import PICKLED_INPUTS_VARIABLE as PICKLED_INPUTS_VARIABLE
from ._settings import PICKLED_META_VARIABLE as PICKLED_META_VARIABLE

__all__ = [
    "BUILTINS_VARIABLE",
    "PICKLED_INPUTS_VARIABLE",
    "PICKLED_META_VARIABLE",
    "PLUGIN_GROUP",
    "SUPPORTED_FLYTEKIT",
    "FlytekitAsyncConnector",
    "FlytekitBridgeError",
    "FlytekitBuiltinDisabledError",
    "FlytekitConnector",
    "FlytekitConnectorGoneError",
    "FlytekitMeta",
    "FlytekitPluginError",
    "FlytekitProvider",
    "FlytekitRequestError",
    "FlytekitSensorNotAllowedError",
    "FlytekitSyncConnector",
    "FlytekitUnavailableError",
    "bridge",
]
