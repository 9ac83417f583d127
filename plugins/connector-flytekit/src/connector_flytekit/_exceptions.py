"""The errors of connector-flytekit.

connector.ConnectorError
└── FlytekitBridgeError            the base of every error this distribution raises
    ├── FlytekitUnavailableError   flytekit is missing, of an unsupported version, or fails to import
    ├── FlytekitPluginError        a flytekit plugin (an entry point in ``flytekit.plugins``) raised on import
    ├── FlytekitConnectorGoneError a connector recorded at discovery is no longer registered when loaded
    └── FlytekitBuiltinDisabledError flytekit's own sensor or webhook, not opted in: FAILED_PRECONDITION

connector.BadRequestError
└── FlytekitRequestError           a request a bridged connector cannot serve as sent: INVALID_ARGUMENT
    └── FlytekitSensorNotAllowedError a sensor task names a sensor class no one allowed
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


class FlytekitBuiltinDisabledError(FlytekitBridgeError):
    """Raised by ``load`` for flytekit's sensor or webhook unless ``CONNECTOR_FLYTEKIT_BUILTINS`` names it.

    ``builtin`` is ``"sensor"`` or ``"webhook"``. The core reports it as a broken connector
    (``FAILED_PRECONDITION`` with this message).
    """

    def __init__(self, message: str, *, builtin: str) -> None:
        super().__init__(message)
        self.builtin = builtin


class FlytekitRequestError(connector.BadRequestError):
    """Raised when a bridged connector cannot serve a request as sent (the service answers INVALID_ARGUMENT).

    A flyteidl2 request (flytekit connectors speak flyteidl v1 only), or a resource meta flytekit's
    own ``decode`` refuses.
    """


class FlytekitSensorNotAllowedError(FlytekitRequestError):
    """Raised before flytekit's sensor runs for a ``sensor_module:sensor_name`` no one allowed.

    Allowed are flytekit's FileSensor and what ``CONNECTOR_SENSORS`` lists; ``sensor`` is the pair
    as ``module:ClassName``. The module of any other pair is never imported.
    """

    def __init__(self, message: str, *, sensor: str, field: str) -> None:
        super().__init__(message, field=field)
        self.sensor = sensor
