"""The errors of connector-flytekit.

connector.ConnectorError
└── FlytekitBridgeError            the base of every error this distribution raises
    ├── FlytekitUnavailableError   flytekit is missing, of an unsupported version, or fails to import
    ├── FlytekitPluginError        a flytekit plugin (an entry point in ``flytekit.plugins``) raised on import
    └── FlytekitConnectorGoneError a connector recorded at discovery is no longer registered when loaded

connector.BadRequestError
└── FlytekitRequestError           a request a bridged connector cannot serve as sent: INVALID_ARGUMENT
"""

from __future__ import annotations

import connector


class FlytekitBridgeError(connector.ConnectorError):
    """Base class of the errors connector-flytekit raises (but ``FlytekitRequestError``)."""


class FlytekitUnavailableError(FlytekitBridgeError):
    """Raised when flytekit cannot be used: not installed, of an unsupported version, or its import fails.

    ``version`` is the installed version, or None when flytekit is not installed.
    """

    def __init__(self, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.version = version


class FlytekitPluginError(FlytekitBridgeError):
    """Raised when importing a flytekit plugin's entry point (or flytekit's webhook module) raises.

    ``entry_point`` is ``"flytekit.plugins: NAME"`` (None for a module of flytekit's own); ``distribution``
    and ``distribution_version`` name what ships it.
    """

    def __init__(
        self,
        message: str,
        *,
        entry_point: str | None,
        distribution: str | None,
        distribution_version: str | None,
    ) -> None:
        super().__init__(message)
        self.entry_point = entry_point
        self.distribution = distribution
        self.distribution_version = distribution_version


class FlytekitConnectorGoneError(FlytekitBridgeError, LookupError):
    """Raised by ``load`` when what discovery recorded no longer registers the connector it found."""


class FlytekitRequestError(connector.BadRequestError):
    """Raised when a bridged connector cannot serve a request as sent (the service answers INVALID_ARGUMENT).

    A flyteidl2 request (flytekit connectors speak flyteidl v1 only), or a resource meta flytekit's
    own ``decode`` refuses.
    """
