"""connector-flyte: Flyte 2 connectors (``flyte.connectors.AsyncConnector``) served unchanged by connector.

``FlyteProvider`` is the ``connector.providers`` entry point: it lists what the installed
``flyte.connectors`` entry points register in Flyte 2's ``ConnectorRegistry`` and loads each as a
``FlyteConnector``, whose hooks call the Flyte 2 connector as Flyte 2's own connector service does.
Importing this package imports no part of flyte.
"""

from __future__ import annotations

from ._adapter import FlyteConnector as FlyteConnector
from ._entry_points import FLYTE_ENTRY_POINT_GROUP as FLYTE_ENTRY_POINT_GROUP
from ._entry_points import FlyteEntryPoint as FlyteEntryPoint
from ._exceptions import FlyteBridgeError as FlyteBridgeError
from ._exceptions import FlyteConnectorGone as FlyteConnectorGone
from ._exceptions import FlyteEntryPointError as FlyteEntryPointError
from ._exceptions import FlyteRequestError as FlyteRequestError
from ._exceptions import FlyteUnavailableError as FlyteUnavailableError
from ._flyte import INSTALL_COMMAND as INSTALL_COMMAND
from ._flyte import SUPPORTED_FLYTE as SUPPORTED_FLYTE
from ._meta import FlyteMeta as FlyteMeta
from ._pickles import PICKLED_INPUTS_VARIABLE as PICKLED_INPUTS_VARIABLE
from ._pickles import PICKLED_META_VARIABLE as PICKLED_META_VARIABLE
from ._provider import FlyteProvider as FlyteProvider

__all__ = [
    "FLYTE_ENTRY_POINT_GROUP",
    "INSTALL_COMMAND",
    "PICKLED_INPUTS_VARIABLE",
    "PICKLED_META_VARIABLE",
    "SUPPORTED_FLYTE",
    "FlyteBridgeError",
    "FlyteConnector",
    "FlyteConnectorGone",
    "FlyteEntryPoint",
    "FlyteEntryPointError",
    "FlyteMeta",
    "FlyteProvider",
    "FlyteRequestError",
    "FlyteUnavailableError",
]
